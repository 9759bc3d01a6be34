/*
 * cmd_debug.c - strata debug speed FILE...: the machine's in-memory
 * ceiling for chunk + HMAC + compress + encrypt, for bench/.
 */
#include "cli/cli.h"

const char usage_debug[] =
    "strata debug speed FILE... [--threads N] [--max-mib M] [--json]\n"
    "\nRead the files (up to M MiB, default 1024) into memory and time one\n"
    "pass of chunking, HMAC-SHA-256, zstd and AES-256-GCM over them with\n"
    "the ingest code, on N threads (default: number of CPUs).\n";

enum { O_THREADS = OPT_BASE, O_MAX };

int cmd_debug(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"threads", required_argument, NULL, O_THREADS},
	    {"max-mib", required_argument, NULL, O_MAX},
	    {NULL, 0, NULL, 0}};
	uint64_t threads = 0, max_mib = 1024;
	strata_buf b = STRATA_BUF_INIT;
	int o, rc = 0;
	while ((o = cli_getopt(c, argc, argv, opts, usage_debug)) != -1) {
		if (o == O_THREADS && !strata_parse_u64(optarg, &threads) &&
		    threads <= 64)
			continue;
		if (o == O_MAX && !strata_parse_u64(optarg, &max_mib))
			continue;
		return cli_bad_option(usage_debug, argv);
	}
	if (argc - optind < 2 || strcmp(argv[optind], "speed"))
		return cli_usage_error(usage_debug, "name 'speed' and files");
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
	if ((rc = strata_speed(b.ptr, b.len, nt, &bps))) {
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
		strata_json_obj_end(&j);
		strata_json_end(&j);
	} else {
		printf("%.1f MiB in memory: %.1f MiB/s on %d threads\n",
		       (double)b.len / 1048576.0, bps / 1048576.0, nt);
	}
	strata_buf_release(&b);
	return EXIT_OK;
}
