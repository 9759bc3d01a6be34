/*
 * cmd_debug.c - strata debug: tools for benchmarks and tests. 'speed'
 * measures the machine's in-memory ceiling for chunk + HMAC + compress +
 * encrypt; 'meta' prints what the format readers extract from files;
 * 'synth' fills a throw-away catalog for the find benchmark.
 */
#include "cli/cli.h"
#include "strata/formats.h"

const char usage_debug[] =
    "strata debug speed FILE... [--threads N] [--max-mib M] "
    "[--zstd-level N] [--json]\n"
    "       strata debug meta FILE... [--json]\n"
    "       strata -R REPO debug synth NAME N\n"
    "\n'speed' reads the files (up to M MiB, default 1024) into memory and\n"
    "times one pass of chunking, HMAC-SHA-256, zstd and AES-256-GCM over\n"
    "them with the ingest code, on N threads (default: number of CPUs),\n"
    "compressing at the given level (default: what 'strata init' uses).\n"
    "'meta' prints the metadata the format readers extract from each FILE,\n"
    "as ingest records it, without a repository (-q: read, print nothing).\n"
    "'synth' adds a version NAME@v1 of N synthetic files with realistic\n"
    "metadata to the catalog only (benchmarks of 'find'; a throw-away\n"
    "repository: 'check' will report that version missing from the store).\n";

enum { O_THREADS = OPT_BASE, O_MAX, O_ZSTD };

static void print_attr(cli *c, strata_json *j, const strata_attr *a)
{
	if (c->json) {
		strata_json_key(j, a->key);
		if (a->type == STRATA_ATTR_STR)
			strata_json_str(j, a->s);
		else if (a->type == STRATA_ATTR_INT)
			strata_json_i64(j, a->i);
		else
			strata_json_dbl(j, a->d);
		return;
	}
	if (a->type == STRATA_ATTR_STR)
		printf("  %s = %s\n", a->key, a->s);
	else if (a->type == STRATA_ATTR_INT)
		printf("  %s = %" PRId64 "\n", a->key, a->i);
	else
		printf("  %s = %.17g\n", a->key, a->d);
}

/* Sniff and read each file: what ingest would record. */
static int debug_meta(cli *c, int argc, char **argv)
{
	strata_attrs *attrs;
	strata_cuts cuts = {0};
	strata_json j;
	int ret = EXIT_OK;
	if (strata_attrs_new(&attrs))
		return cli_fail("debug", STRATA_ENOMEM);
	strata_json_init(&j, stdout);
	if (c->json)
		strata_json_arr_begin(&j);
	for (int i = 0; i < argc; i++) {
		uint8_t head[1024];
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, head, sizeof(head));
		if (fd >= 0)
			close(fd);
		if (n < 0) {
			fprintf(stderr, "strata: debug: cannot read '%s': %s\n",
				argv[i], strerror(errno));
			ret = EXIT_FAIL;
			continue;
		}
		strata_format f = strata_format_sniff(head, (size_t)n, argv[i]);
		int rc = strata_format_extract(f, argv[i], attrs, &cuts);
		if (rc && f != STRATA_FMT_UNKNOWN) {
			fprintf(stderr, "strata: debug: %s\n",
				strata_error_msg());
			ret = EXIT_FAIL;
		}
		if (c->quiet)
			continue; /* -q: extraction only, for timing the readers
				   */
		if (c->json) {
			strata_json_obj_begin(&j);
			strata_json_key(&j, "path");
			strata_json_str(&j, argv[i]);
			strata_json_key(&j, "format");
			strata_json_str(&j, strata_format_name(f));
			strata_json_key(&j, "error");
			if (rc)
				strata_json_str(&j, strata_error_msg());
			else
				strata_json_null(&j);
			strata_json_key(&j, "cuts");
			strata_json_arr_begin(&j);
			for (size_t k = 0; !rc && k < cuts.n; k++)
				strata_json_u64(&j, cuts.off[k]);
			strata_json_arr_end(&j);
			strata_json_key(&j, "attrs");
			strata_json_obj_begin(&j);
		} else {
			printf("%s: %s\n", argv[i], strata_format_name(f));
		}
		for (size_t k = 0; !rc && k < strata_attrs_count(attrs); k++)
			print_attr(c, &j, strata_attrs_at(attrs, k));
		if (c->json) {
			strata_json_obj_end(&j);
			strata_json_obj_end(&j);
		}
	}
	if (c->json) {
		strata_json_arr_end(&j);
		strata_json_end(&j);
	}
	strata_free(cuts.off);
	strata_attrs_free(attrs);
	return ret;
}

int cmd_debug(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"threads", required_argument, NULL, O_THREADS},
	    {"max-mib", required_argument, NULL, O_MAX},
	    {"zstd-level", required_argument, NULL, O_ZSTD},
	    {NULL, 0, NULL, 0}};
	uint64_t threads = 0, max_mib = 1024;
	int level = STRATA_ZSTD_DEFAULT;
	strata_buf b = STRATA_BUF_INIT;
	int o, rc = 0;
	while ((o = cli_getopt(c, argc, argv, opts, usage_debug)) != -1) {
		if (o == O_THREADS && !strata_parse_u64(optarg, &threads) &&
		    threads <= 64)
			continue;
		if (o == O_MAX && !strata_parse_u64(optarg, &max_mib))
			continue;
		if (o == O_ZSTD) {
			if ((rc = cli_zstd_level(usage_debug, optarg, &level)))
				return rc;
			continue;
		}
		return cli_bad_option(usage_debug, argv);
	}
	if (argc - optind == 3 && !strcmp(argv[optind], "synth")) {
		strata_repo *r;
		uint64_t n;
		if (strata_parse_u64(argv[optind + 2], &n))
			return cli_usage_error(usage_debug,
					       "N must be a number");
		if ((rc = cli_open(c, &r)))
			return cli_fail("debug", rc);
		rc = strata_repo_debug_synth(r, argv[optind + 1], n, 0);
		strata_repo_close(r);
		return rc ? cli_fail("debug", rc) : EXIT_OK;
	}
	if (argc - optind >= 2 && !strcmp(argv[optind], "meta"))
		return debug_meta(c, argc - optind - 1, argv + optind + 1);
	if (argc - optind < 2 || strcmp(argv[optind], "speed"))
		return cli_usage_error(usage_debug,
				       "name 'speed' or 'meta' and "
				       "files");
	b.limit = (size_t)max_mib << 20;
	for (int i = optind + 1; i < argc && b.len < b.limit; i++) {
		int fd = open(argv[i], O_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "strata: debug: cannot open '%s': %s\n",
				argv[i], strerror(errno));
			strata_buf_release(&b);
			return EXIT_FAIL;
		}
		for (;;) {
			size_t want = b.limit - b.len < (1u << 20)
					  ? b.limit - b.len
					  : (1u << 20);
			if (!want || strata_buf_reserve(&b, want))
				break;
			ssize_t n = read(fd, b.ptr + b.len, want);
			if (n <= 0)
				break;
			b.len += (size_t)n;
		}
		close(fd);
	}
	double bps = 0;
	int nt = threads ? (int)threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if ((rc = strata_speed(b.ptr, b.len, nt, level, &bps))) {
		strata_buf_release(&b);
		return cli_fail("debug", rc);
	}
	if (c->json) {
		strata_json j;
		strata_json_init(&j, stdout);
		strata_json_obj_begin(&j);
		strata_json_key(&j, "bytes");
		strata_json_u64(&j, b.len);
		strata_json_key(&j, "seconds");
		strata_json_dbl(&j, bps > 0 ? (double)b.len / bps : 0);
		strata_json_key(&j, "mib_per_s");
		strata_json_dbl(&j, bps / 1048576.0);
		strata_json_key(&j, "threads");
		strata_json_u64(&j, (uint64_t)nt);
		strata_json_key(&j, "zstd_level");
		strata_json_i64(&j, level);
		strata_json_obj_end(&j);
		strata_json_end(&j);
	} else {
		printf("%.1f MiB in memory: %.1f MiB/s on %d threads, zstd "
		       "level %d\n",
		       (double)b.len / 1048576.0, bps / 1048576.0, nt, level);
	}
	strata_buf_release(&b);
	return EXIT_OK;
}
