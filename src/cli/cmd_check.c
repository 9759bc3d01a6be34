/*
 * cmd_check.c - strata check [--read-data]: verify the repository and
 * name every dataset version and file a damaged object affects.
 */
#include "cli/cli.h"

const char usage_check[] =
    "strata -R REPO check [--read-data]\n"
    "\nVerify the repository: pack tables against the index, snapshots,\n"
    "trees, and that every chunk a version needs is present. With\n"
    "--read-data, also re-hash every pack and decrypt and verify every\n"
    "blob. Every damaged object is named with the versions and files it\n"
    "affects. Exit status 0 if intact, 1 if anything is damaged.\n\n"
    "  --read-data   read and verify all data (slow: reads everything)\n"
    "  --json        print the report as JSON\n";

enum { O_READ = OPT_BASE };

typedef struct report {
	cli *c;
	strata_json j;
	bool in_errors;
	char **errs;
	size_t nerrs;
	struct dmg {
		char *ds;
		uint32_t v;
		char *path;
	} * dmg;
	size_t ndmg;
} report;

static int on_problem(const char *what, const char *ds, uint32_t v,
		      const char *path, void *payload)
{
	report *r = payload;
	if (!r->c->json) {
		if (ds) {
			printf("damaged: %s@v%u:", ds, v);
			cli_put_path(stdout, path, strlen(path));
			printf(" (%s)\n", what);
		} else {
			printf("error: %s\n", what);
		}
		fflush(stdout);
		return 0;
	}
	if (ds) {
		void *p =
		    strata_realloc(r->dmg, (r->ndmg + 1) * sizeof(*r->dmg));
		if (!p)
			return STRATA_ENOMEM;
		r->dmg = p;
		r->dmg[r->ndmg].ds = strata_strdup(ds);
		r->dmg[r->ndmg].v = v;
		r->dmg[r->ndmg].path = strata_strdup(path);
		r->ndmg++;
	} else {
		void *p =
		    strata_realloc(r->errs, (r->nerrs + 1) * sizeof(char *));
		if (!p)
			return STRATA_ENOMEM;
		r->errs = p;
		r->errs[r->nerrs++] = strata_strdup(what);
	}
	return 0;
}

static void print_json(report *r, const strata_check_report *rep)
{
	strata_json *j = &r->j;
	strata_json_init(j, stdout);
	strata_json_obj_begin(j);
	strata_json_key(j, "ok");
	strata_json_bool(j, rep->errors == 0);
	strata_json_key(j, "packs");
	strata_json_u64(j, rep->packs);
	strata_json_key(j, "blobs");
	strata_json_u64(j, rep->blobs);
	strata_json_key(j, "snapshots");
	strata_json_u64(j, rep->snapshots);
	strata_json_key(j, "trees");
	strata_json_u64(j, rep->trees);
	strata_json_key(j, "indexes");
	strata_json_u64(j, rep->indexes);
	strata_json_key(j, "bytes_read");
	strata_json_u64(j, rep->bytes_read);
	strata_json_key(j, "errors");
	strata_json_arr_begin(j);
	for (size_t i = 0; i < r->nerrs; i++)
		strata_json_str(j, r->errs[i]);
	strata_json_arr_end(j);
	strata_json_key(j, "damaged");
	strata_json_arr_begin(j);
	for (size_t i = 0; i < r->ndmg; i++) {
		strata_json_obj_begin(j);
		strata_json_key(j, "dataset");
		strata_json_str(j, r->dmg[i].ds);
		strata_json_key(j, "version");
		strata_json_u64(j, r->dmg[i].v);
		strata_json_key(j, "path");
		strata_json_str(j, r->dmg[i].path);
		strata_json_obj_end(j);
	}
	strata_json_arr_end(j);
	strata_json_obj_end(j);
	strata_json_end(j);
}

int cmd_check(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"read-data", no_argument, NULL, O_READ}, {NULL, 0, NULL, 0}};
	bool read_data = false;
	strata_repo *repo = NULL;
	strata_check_report rep;
	report r;
	int o, rc;
	memset(&r, 0, sizeof(r));
	r.c = c;
	while ((o = cli_getopt(c, argc, argv, opts, usage_check)) != -1) {
		if (o != O_READ)
			return cli_bad_option(usage_check, argv);
		read_data = true;
	}
	if (optind != argc)
		return cli_usage_error(usage_check, "unexpected argument '%s'",
				       argv[optind]);
	if ((rc = cli_open(c, &repo)))
		return cli_fail("check", rc);
	rc =
	    strata_repo_check(repo, read_data, !c->quiet, on_problem, &r, &rep);
	strata_repo_close(repo);
	if (rc)
		return cli_fail("check", rc);
	if (c->json)
		print_json(&r, &rep);
	else
		printf("%s: %" PRIu64 " packs, %" PRIu64 " snapshots, %" PRIu64
		       " trees%s, %" PRIu64 " problems\n",
		       rep.errors ? "check FAILED" : "check ok", rep.packs,
		       rep.snapshots, rep.trees,
		       read_data ? (rep.errors ? ", all data read"
					       : ", all data read and verified")
				 : "",
		       rep.errors);
	for (size_t i = 0; i < r.nerrs; i++)
		strata_free(r.errs[i]);
	for (size_t i = 0; i < r.ndmg; i++) {
		strata_free(r.dmg[i].ds);
		strata_free(r.dmg[i].path);
	}
	strata_free(r.errs);
	strata_free(r.dmg);
	if (rep.errors && !c->json)
		fprintf(stderr,
			"strata: check: the repository is damaged: restore "
			"the named objects from a replica, or re-ingest "
			"the named files\n");
	return rep.errors ? EXIT_FAIL : EXIT_OK;
}
