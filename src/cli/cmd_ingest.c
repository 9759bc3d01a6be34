/*
 * cmd_ingest.c - strata ingest PATH... --dataset NAME: store paths as a
 * new immutable version and print a summary.
 */
#include "cli/cli.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

const char usage_ingest[] =
    "strata -R REPO ingest PATH... --dataset NAME [--layer raw|curated|"
    "model-ready]\n"
    "       [--class phi|limited|deid|aggregate|public] [-m MSG] [--update]\n"
    "\nStore PATHs as a new version of dataset NAME. Each PATH is stored at\n"
    "the root of the version under its base name. Without --update the\n"
    "PATHs are the whole content of the version; with --update they are\n"
    "added to, or replace same-named entries of, the previous version.\n\n"
    "  --dataset NAME   dataset to add a version to (created if new)\n"
    "  --layer L        raw (default), curated or model-ready\n"
    "  --class C        phi (default), limited, deid, aggregate or public\n"
    "  -m, --message M  a note kept with the version\n"
    "  --update         change the previous version instead of replacing it\n"
    "  --threads N      worker threads (default: number of CPUs)\n"
    "  --from NAME@vN[,NAME@vM]  lineage: the versions this was made from\n"
    "  --recipe R       lineage: how (\"tool=...,version=...,params=...\")\n"
    "  --subjects CSV   \"path,subject\" lines: link files to subjects\n"
    "                   (else: DICOM Patient ID, @RG SM, VCF samples)\n"
    "  --purpose P      the purpose of reading the --from sources\n"
    "  --json           print the summary as JSON\n"
    "  -q               no progress line\n"
    "\nExit status: 0 ok, 1 failed (no version made), 3 version made but\n"
    "some files could not be read (each named on stderr).\n";

enum { O_FROM = OPT_BASE + 50, O_RECIPE, O_SUBJECTS };
enum { O_DATASET = OPT_BASE, O_LAYER, O_CLASS, O_UPDATE, O_THREADS, O_MESSAGE };

static void summary_json(const strata_ingest_opts *o,
			 const strata_ingest_stats *s)
{
	strata_json j;
	strata_json_init(&j, stdout);
	strata_json_obj_begin(&j);
	strata_json_key(&j, "dataset");
	strata_json_str(&j, o->dataset);
	strata_json_key(&j, "version");
	strata_json_u64(&j, s->version);
	strata_json_key(&j, "snapshot");
	strata_json_str(&j, s->snapshot);
	strata_json_key(&j, "files");
	strata_json_u64(&j, s->files);
	strata_json_key(&j, "dirs");
	strata_json_u64(&j, s->dirs);
	strata_json_key(&j, "symlinks");
	strata_json_u64(&j, s->symlinks);
	strata_json_key(&j, "files_unchanged");
	strata_json_u64(&j, s->files_unchanged);
	strata_json_key(&j, "bytes_read");
	strata_json_u64(&j, s->bytes_read);
	strata_json_key(&j, "bytes_read_direct");
	strata_json_u64(&j, s->bytes_read_direct);
	strata_json_key(&j, "bytes_total");
	strata_json_u64(&j, s->bytes_total);
	strata_json_key(&j, "bytes_new");
	strata_json_u64(&j, s->bytes_new);
	strata_json_key(&j, "bytes_stored");
	strata_json_u64(&j, s->bytes_stored);
	strata_json_key(&j, "errors");
	strata_json_u64(&j, s->errors);
	strata_json_key(&j, "skipped");
	strata_json_u64(&j, s->skipped);
	strata_json_key(&j, "files_with_metadata");
	strata_json_u64(&j, s->files_with_metadata);
	strata_json_key(&j, "seconds");
	strata_json_dbl(&j, s->seconds);
	strata_json_obj_end(&j);
	strata_json_end(&j);
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

static void summary_text(const strata_ingest_opts *o,
			 const strata_ingest_stats *s)
{
	/* dedup: bytes of the version per byte that had to be stored;
	 * compression: new bytes per byte written to the backend */
	double dedup =
	    s->bytes_new ? (double)s->bytes_total / (double)s->bytes_new : 0;
	double comp = s->bytes_stored && s->bytes_new
			  ? (double)s->bytes_new / (double)s->bytes_stored
			  : 0;
	printf("%s@v%u  snapshot %.16s\n", o->dataset, s->version, s->snapshot);
	printf("  files      %" PRIu64 " (%" PRIu64 " unchanged), %" PRIu64
	       " dirs, %" PRIu64 " symlinks\n",
	       s->files, s->files_unchanged, s->dirs, s->symlinks);
	printf("  read       %.1f MiB of %.1f MiB\n", mib(s->bytes_read),
	       mib(s->bytes_total));
	if (s->bytes_new)
		printf("  new        %.1f MiB (dedup %.2fx), stored %.1f MiB "
		       "(compression %.2fx)\n",
		       mib(s->bytes_new), dedup, mib(s->bytes_stored), comp);
	else
		printf("  new        nothing: all content was already stored "
		       "(%.1f KiB of metadata written)\n",
		       (double)s->bytes_stored / 1024.0);
	printf("  time       %.2f s, %.1f MiB/s\n", s->seconds,
	       s->seconds > 0 ? mib(s->bytes_read) / s->seconds : 0.0);
	printf("  metadata   %" PRIu64 " files described by a format reader\n",
	       s->files_with_metadata);
	if (s->errors || s->skipped)
		printf("  problems   %" PRIu64 " files failed, %" PRIu64
		       " skipped (see warnings above)\n",
		       s->errors, s->skipped);
}

int cmd_ingest(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dataset", required_argument, NULL, O_DATASET},
	    {"layer", required_argument, NULL, O_LAYER},
	    {"class", required_argument, NULL, O_CLASS},
	    {"message", required_argument, NULL, O_MESSAGE},
	    {"update", no_argument, NULL, O_UPDATE},
	    {"threads", required_argument, NULL, O_THREADS},
	    {"from", required_argument, NULL, O_FROM},
	    {"recipe", required_argument, NULL, O_RECIPE},
	    {"subjects", required_argument, NULL, O_SUBJECTS},
	    {NULL, 0, NULL, 0}};
	strata_ingest_opts o = {NULL, "raw", "phi", NULL, false, 0,
				true, NULL,  0,	    NULL, NULL};
	char *from_copy = NULL;
	const char *from[64];
	strata_ingest_stats st;
	strata_repo *r = NULL;
	uint64_t th;
	int opt, rc;
	while ((opt = cli_getopt(c, argc, argv, opts, usage_ingest)) != -1) {
		switch (opt) {
		case O_DATASET:
			o.dataset = optarg;
			break;
		case O_LAYER:
			o.layer = optarg;
			break;
		case O_CLASS:
			o.klass = optarg;
			break;
		case 'm':
		case O_MESSAGE:
			o.message = optarg;
			break;
		case O_FROM:
			strata_free(from_copy);
			if (!(from_copy = strata_strdup(optarg)))
				return cli_fail("ingest", STRATA_ENOMEM);
			o.nfrom = 0;
			for (char *s = from_copy, *save = NULL, *t;
			     (t = strtok_r(s, ",", &save)); s = NULL) {
				if (o.nfrom == 64)
					return cli_usage_error(
					    usage_ingest, "at most 64 sources");
				from[o.nfrom++] = t;
			}
			o.from = from;
			break;
		case O_RECIPE:
			o.recipe = optarg;
			break;
		case O_SUBJECTS:
			o.subjects = optarg;
			break;
		case O_UPDATE:
			o.update = true;
			break;
		case O_THREADS:
			if (strata_parse_u64(optarg, &th) || th < 1 || th > 64)
				return cli_usage_error(usage_ingest,
						       "--threads takes 1..64");
			o.threads = (int)th;
			break;
		default:
			return cli_bad_option(usage_ingest, argv);
		}
	}
	if (!o.dataset)
		return cli_usage_error(usage_ingest,
				       "--dataset NAME is required");
	if (!cli_valid_dataset(o.dataset))
		return cli_usage_error(
		    usage_ingest,
		    "bad dataset name '%s': use letters, digits, "
		    "'.', '_' and '-' (not first), at most 128",
		    o.dataset);
	if (!strcmp(o.layer, "raw") + !strcmp(o.layer, "curated") +
		!strcmp(o.layer, "model-ready") ==
	    0)
		return cli_usage_error(
		    usage_ingest,
		    "unknown layer '%s': use raw, curated or "
		    "model-ready",
		    o.layer);
	static const char *const classes[] = {"phi", "limited", "deid",
					      "aggregate", "public"};
	bool known = false;
	for (size_t i = 0; i < 5; i++)
		known |= !strcmp(o.klass, classes[i]);
	if (!known)
		return cli_usage_error(usage_ingest,
				       "unknown class '%s': use phi, limited, "
				       "deid, aggregate or public",
				       o.klass);
	if (optind >= argc)
		return cli_usage_error(usage_ingest, "name at least one PATH");
	o.progress = !c->quiet;
#ifdef __GLIBC__
	/* Workers free chunk copies and metadata another thread allocated;
	 * glibc gives free memory at the top of a thread's arena back only
	 * past 128 KiB, then raises that bar to the largest block freed (up
	 * to 32 MiB), so the arenas grew through a run: peak RSS 130 -> 147
	 * MiB on 100,000 small files. A fixed 1 MiB keeps them trimmed. */
	mallopt(M_TRIM_THRESHOLD, 1 << 20);
#endif
	/* cli_open reads STRATA_REPO, after the pre-walk has started */
	strata_prewalk *pw = strata_ingest_prewalk(
	    (const char *const *)argv + optind, (size_t)(argc - optind),
	    c->repo ? c->repo : getenv("STRATA_REPO"));
	if ((rc = cli_open(c, &r))) {
		strata_ingest_prewalk_stop(pw);
		return cli_fail("ingest", rc);
	}
	rc = strata_repo_ingest(r, (const char *const *)argv + optind,
				(size_t)(argc - optind), &o, &st);
	strata_ingest_prewalk_stop(pw);
	int ret = EXIT_OK;
	if (rc && rc != STRATA_EPARTIAL) {
		ret = cli_fail("ingest", rc);
	} else {
		if (c->json)
			summary_json(&o, &st);
		else if (!c->quiet)
			summary_text(&o, &st);
		if (rc == STRATA_EPARTIAL) {
			fprintf(stderr,
				"strata: ingest: %s@v%u was made, but %" PRIu64
				" files could not be read (named above)\n",
				o.dataset, st.version, st.errors);
			ret = EXIT_PARTIAL;
		}
	}
	strata_repo_close(r);
	strata_free(from_copy);
	return ret;
}
