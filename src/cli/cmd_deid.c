/*
 * cmd_deid.c - strata deid NAME@vN --dataset NEW: a de-identified,
 * curated version (docs/deid.md, docs/deid-genomics.md).
 */
#include "cli/cli.h"

const char usage_deid[] =
    "strata deid NAME[@vN] --dataset NEW [--profile basic] [--option OPT,...]\n"
    "       [--domain D] [--fastq-strip-names] [--reference FASTA] [-m MSG]\n"
    "       [--threads N] [--json]\n"
    "\nDe-identify a version into a new curated version of class deid, with\n"
    "lineage to the source and a recipe naming profile, options, the\n"
    "standard's revision and the key version. DICOM: PS3.15 Annex E Basic\n"
    "Profile; SAM/BAM/CRAM, VCF/BCF, FASTQ: identifying headers scrubbed.\n"
    "Files that may carry burned-in text, or that strata cannot de-identify,\n"
    "are held back and listed, never exported silently.\n\n"
    "  --option OPT,...  retain-safe-private, retain-uids, retain-device-id,\n"
    "                    retain-institution-id, retain-patient-chars,\n"
    "                    retain-long-full-dates, retain-long-modified-dates,\n"
    "                    clean-descriptors, clean-structured-content,\n"
    "                    clean-graphics; clean-pixel-data and\n"
    "                    clean-visual-features only record what another\n"
    "                    tool did\n"
    "  --domain D        pseudonymisation domain (default: default)\n"
    "  --threads N       worker threads (default: number of CPUs)\n"
    "\nstrata deid lookup SUBJECT [--domain D] [--json]: the vault - a\n"
    "subject's identifier, pseudonym and date shift (stewards; audited).\n"
    "\nExit status: 0 ok, 3 version made but files were held back.\n";

enum {
	O_DATASET = OPT_BASE,
	O_PROFILE,
	O_OPTION,
	O_DOMAIN,
	O_STRIP,
	O_REF,
	O_MSG,
	O_THREADS
};

typedef struct dout {
	strata_json *j;
	bool quiet;
} dout;

static int on_file(const strata_deid_file *f, void *payload)
{
	dout *o = payload;
	if (o->j) {
		if (!strcmp(f->what, "deid"))
			return 0;
		strata_json_obj_begin(o->j);
		strata_json_key(o->j, "path");
		strata_json_str(o->j, f->path);
		strata_json_key(o->j, "what");
		strata_json_str(o->j, f->what);
		strata_json_key(o->j, "why");
		strata_json_str(o->j, f->why ? f->why : "");
		strata_json_obj_end(o->j);
	} else if (strcmp(f->what, "deid")) {
		fprintf(stderr, "strata: deid: %s '%s': %s\n",
			strcmp(f->what, "held") ? "skipped"
						: "held back for "
						  "review",
			f->path, f->why ? f->why : "");
	}
	return 0;
}

int cmd_deid(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dataset", required_argument, NULL, O_DATASET},
	    {"profile", required_argument, NULL, O_PROFILE},
	    {"option", required_argument, NULL, O_OPTION},
	    {"domain", required_argument, NULL, O_DOMAIN},
	    {"fastq-strip-names", no_argument, NULL, O_STRIP},
	    {"reference", required_argument, NULL, O_REF},
	    {"message", required_argument, NULL, O_MSG},
	    {"threads", required_argument, NULL, O_THREADS},
	    {NULL, 0, NULL, 0}};
	strata_deid_run_opts o;
	strata_deid_stats st;
	strata_repo *r = NULL;
	uint64_t th;
	int opt, rc;
	memset(&o, 0, sizeof(o));
	while ((opt = cli_getopt(c, argc, argv, opts, usage_deid)) != -1) {
		switch (opt) {
		case O_DATASET:
			o.dataset = optarg;
			break;
		case O_PROFILE:
			o.profile = optarg;
			break;
		case O_OPTION:
			o.options = optarg;
			break;
		case O_DOMAIN:
			o.domain = optarg;
			break;
		case O_STRIP:
			o.fastq_strip_names = true;
			break;
		case O_REF:
			o.reference = optarg;
			break;
		case 'm':
		case O_MSG:
			o.message = optarg;
			break;
		case O_THREADS:
			if (strata_parse_u64(optarg, &th) || th < 1 || th > 64)
				return cli_usage_error(usage_deid,
						       "--threads takes 1..64");
			o.threads = (int)th;
			break;
		default:
			return cli_bad_option(usage_deid, argv);
		}
	}
	if (argc - optind == 2 && !strcmp(argv[optind], "lookup")) {
		strata_deid_lookup_info li;
		if ((rc = cli_open(c, &r)))
			return cli_fail("deid lookup", rc);
		rc =
		    strata_repo_deid_lookup(r, argv[optind + 1], o.domain, &li);
		if (!rc && c->json) {
			strata_json j;
			strata_json_init(&j, stdout);
			strata_json_obj_begin(&j);
			strata_json_key(&j, "pseudonym");
			strata_json_str(&j, li.pseudonym);
			strata_json_key(&j, "identifier");
			strata_json_str(&j, li.identifier);
			strata_json_key(&j, "domain");
			strata_json_str(&j, li.domain);
			strata_json_key(&j, "date_shift_days");
			strata_json_i64(&j, li.date_shift_days);
			strata_json_obj_end(&j);
			strata_json_end(&j);
		} else if (!rc) {
			printf("%s\t%s\tdomain %s\tdate shift %d days\n",
			       li.pseudonym, li.identifier, li.domain,
			       li.date_shift_days);
		}
		int ret = rc ? cli_fail("deid lookup", rc) : EXIT_OK;
		strata_repo_close(r);
		return ret;
	}
	if (argc - optind != 1)
		return cli_usage_error(usage_deid, "name one version");
	if (!o.dataset || !cli_valid_dataset(o.dataset))
		return cli_usage_error(
		    usage_deid, "--dataset NEW (a valid dataset name) is "
				"required");
	o.progress = !c->quiet;
	if ((rc = cli_open(c, &r)))
		return cli_fail("deid", rc);
	strata_json j;
	dout d = {c->json ? &j : NULL, c->quiet};
	if (c->json) {
		strata_json_init(&j, stdout);
		strata_json_obj_begin(&j);
		strata_json_key(&j, "files");
		strata_json_arr_begin(&j);
	}
	rc = strata_repo_deid(r, argv[optind], &o, &st, on_file, &d);
	int ret = EXIT_OK;
	if (rc && rc != STRATA_EPARTIAL)
		ret = cli_fail("deid", rc);
	else if (st.held_back || st.skipped || rc == STRATA_EPARTIAL)
		ret = EXIT_PARTIAL;
	if (c->json) {
		strata_json_arr_end(&j);
		strata_json_key(&j, "dataset");
		strata_json_str(&j, o.dataset);
		strata_json_key(&j, "version");
		strata_json_u64(&j, st.ingest.version);
		strata_json_key(&j, "deidentified");
		strata_json_u64(&j, st.dicom + st.genomic);
		strata_json_key(&j, "dicom");
		strata_json_u64(&j, st.dicom);
		strata_json_key(&j, "genomic");
		strata_json_u64(&j, st.genomic);
		strata_json_key(&j, "held_back");
		strata_json_u64(&j, st.held_back);
		strata_json_key(&j, "skipped");
		strata_json_u64(&j, st.skipped);
		strata_json_key(&j, "uids_remapped");
		strata_json_u64(&j, st.uids_remapped);
		strata_json_key(&j, "bytes_new");
		strata_json_u64(&j, st.ingest.bytes_new);
		strata_json_key(&j, "bytes_total");
		strata_json_u64(&j, st.ingest.bytes_total);
		strata_json_key(&j, "recipe");
		strata_json_str(&j, st.recipe);
		strata_json_obj_end(&j);
		strata_json_end(&j);
	} else if (!rc || rc == STRATA_EPARTIAL) {
		printf("%s@v%u: %" PRIu64 " files de-identified (%" PRIu64
		       " DICOM, %" PRIu64 " genomic), %" PRIu64
		       " held back for review, %" PRIu64
		       " skipped; %.1f MiB new of %.1f MiB\n  recipe: %s\n",
		       o.dataset, st.ingest.version, st.dicom + st.genomic,
		       st.dicom, st.genomic, st.held_back, st.skipped,
		       (double)st.ingest.bytes_new / 1048576.0,
		       (double)st.ingest.bytes_total / 1048576.0, st.recipe);
	}
	strata_repo_close(r);
	return ret;
}
