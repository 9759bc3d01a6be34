/*
 * cmd_catalog.c - the catalog commands: find (query extracted metadata),
 * show (everything known about a version or a file) and lineage (where a
 * version came from, and what was made from it).
 */
#include "cli/cli.h"

const char usage_find[] =
    "strata -R REPO find QUERY [--dataset NAME] [--all-versions] [--json]\n"
    "\nList the files whose metadata matches QUERY: terms 'key op value'\n"
    "joined by and, or, not and parentheses; ops = != < <= > >= and ~ (glob);\n"
    "values bare or quoted with ' or \". Keys are those of docs/metadata.md\n"
    "(dicom.Modality, genome.build, seq.platform, ...) and size, layer,\n"
    "class, dataset, path, version. Only the latest version of each dataset\n"
    "is searched unless --all-versions.\n\n"
    "  strata find 'dicom.Modality = CT and dicom.BodyPartExamined ~ "
    "\"CHEST*\"'\n"
    "  strata find 'genome.build = GRCh38 and seq.platform = ILLUMINA'\n";
const char usage_show[] =
    "strata -R REPO show NAME[@vN][:PATH] [--json]\n"
    "\nPrint everything known about a version (snapshot, lineage, summaries\n"
    "by modality, build, platform, subjects) or about one file (its\n"
    "extracted metadata).\n";
const char usage_lineage[] =
    "strata -R REPO lineage NAME[@vN] [--up|--down] [--json|--dot]\n"
    "\nWalk the lineage graph from a version: --up (default) to the\n"
    "versions it was made from, recursively; --down to every version made\n"
    "from it. --dot prints a Graphviz digraph.\n";

enum { O_DATASET = OPT_BASE, O_ALL, O_UP, O_DOWN, O_DOT };

typedef struct out {
	cli *c;
	strata_json j;
	uint64_t n;
} out;

static int hit_cb(const strata_hit *h, void *payload)
{
	out *o = payload;
	o->n++;
	if (!o->c->json) {
		printf("%s@v%u:", h->dataset, h->version);
		cli_put_path(stdout, h->path, h->path_len);
		printf("  (%" PRIu64 " bytes)\n", h->size);
		return 0;
	}
	strata_json_obj_begin(&o->j);
	strata_json_key(&o->j, "dataset");
	strata_json_str(&o->j, h->dataset);
	strata_json_key(&o->j, "version");
	strata_json_u64(&o->j, h->version);
	strata_json_key(&o->j, "path");
	strata_json_strn(&o->j, h->path, h->path_len);
	strata_json_key(&o->j, "size");
	strata_json_u64(&o->j, h->size);
	strata_json_obj_end(&o->j);
	return 0;
}

int cmd_find(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dataset", required_argument, NULL, O_DATASET},
	    {"all-versions", no_argument, NULL, O_ALL},
	    {NULL, 0, NULL, 0}};
	const char *dataset = NULL;
	bool all = false;
	strata_repo *r;
	out o = {c, {0}, 0};
	int opt, rc;
	while ((opt = cli_getopt(c, argc, argv, opts, usage_find)) != -1) {
		if (opt == O_DATASET)
			dataset = optarg;
		else if (opt == O_ALL)
			all = true;
		else
			return cli_bad_option(usage_find, argv);
	}
	if (argc - optind != 1)
		return cli_usage_error(usage_find, "give the query as one "
						   "argument (quote it)");
	if ((rc = cli_open(c, &r)))
		return cli_fail("find", rc);
	strata_json_init(&o.j, stdout);
	if (c->json)
		strata_json_arr_begin(&o.j);
	rc = strata_repo_find(r, argv[optind], dataset, all, hit_cb, &o);
	if (c->json) {
		strata_json_arr_end(&o.j);
		strata_json_end(&o.j);
	}
	strata_repo_close(r);
	if (rc == STRATA_EINVAL)
		return cli_usage_error(usage_find, "%s", strata_error_msg());
	if (rc)
		return cli_fail("find", rc);
	if (!c->json && !c->quiet)
		fprintf(stderr, "%" PRIu64 " files\n", o.n);
	return EXIT_OK;
}

static int meta_cb(const char *key, int type, const char *s, double n,
		   void *payload)
{
	out *o = payload;
	if (!o->c->json) {
		if (type == 1)
			printf("  %-36s %s\n", key, s);
		else if (type == 2)
			printf("  %-36s %.0f\n", key, n);
		else
			printf("  %-36s %.10g\n", key, n);
		return 0;
	}
	strata_json_key(&o->j, key);
	if (type == 1)
		strata_json_str(&o->j, s);
	else if (type == 2)
		strata_json_i64(&o->j, (int64_t)n);
	else
		strata_json_dbl(&o->j, n);
	return 0;
}

static int summary_cb(const char *key, int type, const char *s, double n,
		      void *payload)
{
	out *o = payload;
	(void)type;
	(void)s;
	if (!o->c->json) {
		printf("    %-30s %.0f\n", key, n);
		return 0;
	}
	strata_json_key(&o->j, key);
	strata_json_u64(&o->j, (uint64_t)n);
	return 0;
}

static const char *const summary_keys[] = {
    "format.name",  "dicom.Modality", "dicom.BodyPartExamined",
    "genome.build", "seq.platform",   "dicom.PatientID"};

static int version_cb(const strata_version_info *v, void *payload)
{
	out *o = payload;
	char t[32];
	strata_iso_time(t, sizeof(t), v->time_ns);
	if (!o->c->json) {
		printf("%s@v%u\n  snapshot   %s\n  time       %s\n  author     "
		       "%s\n"
		       "  layer      %s\n  class      %s\n  files      %" PRIu64
		       " (%" PRIu64 " bytes)\n",
		       v->dataset, v->version, v->snapshot, t,
		       v->author ? v->author : "", v->layer, v->klass, v->files,
		       v->bytes);
		if (v->message)
			printf("  message    %s\n", v->message);
		for (size_t i = 0; i < v->nsources; i++)
			printf("  source     %s\n", v->sources[i]);
		if (v->recipe)
			printf("  recipe     %s\n", v->recipe);
		return 0;
	}
	strata_json *j = &o->j;
	strata_json_key(j, "dataset");
	strata_json_str(j, v->dataset);
	strata_json_key(j, "version");
	strata_json_u64(j, v->version);
	strata_json_key(j, "snapshot");
	strata_json_str(j, v->snapshot);
	strata_json_key(j, "time");
	strata_json_str(j, t);
	strata_json_key(j, "author");
	strata_json_str(j, v->author);
	strata_json_key(j, "layer");
	strata_json_str(j, v->layer);
	strata_json_key(j, "class");
	strata_json_str(j, v->klass);
	strata_json_key(j, "message");
	strata_json_str(j, v->message);
	strata_json_key(j, "files");
	strata_json_u64(j, v->files);
	strata_json_key(j, "bytes");
	strata_json_u64(j, v->bytes);
	strata_json_key(j, "sources");
	strata_json_arr_begin(j);
	for (size_t i = 0; i < v->nsources; i++)
		strata_json_str(j, v->sources[i]);
	strata_json_arr_end(j);
	strata_json_key(j, "recipe");
	strata_json_str(j, v->recipe);
	return 0;
}

static int show_version(strata_repo *r, const char *spec, out *o)
{
	int rc = strata_repo_version(r, spec, version_cb, o);
	if (o->c->json) {
		strata_json_key(&o->j, "summary");
		strata_json_obj_begin(&o->j);
	} else if (!rc) {
		printf("  summary\n");
	}
	for (size_t i = 0;
	     !rc && i < sizeof(summary_keys) / sizeof(*summary_keys); i++) {
		if (!strata_repo_may_see(r, summary_keys[i]))
			continue; /* PHI, and the actor may not read PHI */
		if (o->c->json) {
			strata_json_key(&o->j, summary_keys[i]);
			strata_json_obj_begin(&o->j);
		} else {
			printf("   %s\n", summary_keys[i]);
		}
		rc = strata_repo_summary(r, spec, summary_keys[i], summary_cb,
					 o);
		if (o->c->json)
			strata_json_obj_end(&o->j);
	}
	if (o->c->json)
		strata_json_obj_end(&o->j);
	return rc;
}

int cmd_show(cli *c, int argc, char **argv)
{
	strata_repo *r;
	out o = {c, {0}, 0};
	int opt, rc;
	while ((opt = cli_getopt(c, argc, argv, NULL, usage_show)) != -1)
		return cli_bad_option(usage_show, argv);
	if (argc - optind != 1)
		return cli_usage_error(usage_show, "name one NAME[@vN][:PATH]");
	char *spec = strata_strdup(argv[optind]);
	if (!spec)
		return cli_fail("show", STRATA_ENOMEM);
	char *colon = strchr(spec, ':');
	if (colon)
		*colon = 0;
	if ((rc = cli_open(c, &r))) {
		strata_free(spec);
		return cli_fail("show", rc);
	}
	strata_json_init(&o.j, stdout);
	if (c->json)
		strata_json_obj_begin(&o.j);
	if (colon) {
		if (c->json) {
			strata_json_key(&o.j, "path");
			strata_json_str(&o.j, colon + 1);
			strata_json_key(&o.j, "metadata");
			strata_json_obj_begin(&o.j);
		} else {
			printf("%s:%s\n", spec, colon + 1);
		}
		rc = strata_repo_file_meta(r, spec, colon + 1, meta_cb, &o);
		if (c->json)
			strata_json_obj_end(&o.j);
	} else {
		rc = show_version(r, spec, &o);
	}
	if (c->json) {
		strata_json_obj_end(&o.j);
		strata_json_end(&o.j);
	}
	strata_repo_close(r);
	strata_free(spec);
	return rc ? cli_fail("show", rc) : EXIT_OK;
}

typedef struct lin_out {
	cli *c;
	strata_json j;
	bool dot;
} lin_out;

static int edge_cb(const strata_edge *e, void *payload)
{
	lin_out *o = payload;
	if (o->dot) {
		printf("  \"%s@v%u\" -> \"%s@v%u\"", e->to_dataset,
		       e->to_version, e->from_dataset, e->from_version);
		if (e->recipe)
			printf(" [label=\"%s\"]", e->recipe);
		printf(";\n");
	} else if (o->c->json) {
		strata_json_obj_begin(&o->j);
		strata_json_key(&o->j, "derived");
		strata_json_obj_begin(&o->j);
		strata_json_key(&o->j, "dataset");
		strata_json_str(&o->j, e->from_dataset);
		strata_json_key(&o->j, "version");
		strata_json_u64(&o->j, e->from_version);
		strata_json_obj_end(&o->j);
		strata_json_key(&o->j, "source");
		strata_json_obj_begin(&o->j);
		strata_json_key(&o->j, "dataset");
		strata_json_str(&o->j, e->to_dataset);
		strata_json_key(&o->j, "version");
		strata_json_u64(&o->j, e->to_version);
		strata_json_obj_end(&o->j);
		strata_json_key(&o->j, "recipe");
		strata_json_str(&o->j, e->recipe);
		strata_json_key(&o->j, "depth");
		strata_json_u64(&o->j, (uint64_t)e->depth);
		strata_json_obj_end(&o->j);
	} else {
		printf("%*s%s@v%u <- %s@v%u%s%s\n", 2 * (e->depth - 1), "",
		       e->from_dataset, e->from_version, e->to_dataset,
		       e->to_version, e->recipe ? "  recipe: " : "",
		       e->recipe ? e->recipe : "");
	}
	return 0;
}

int cmd_lineage(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"up", no_argument, NULL, O_UP},
	    {"down", no_argument, NULL, O_DOWN},
	    {"dot", no_argument, NULL, O_DOT},
	    {NULL, 0, NULL, 0}};
	bool up = true;
	strata_repo *r;
	lin_out o = {c, {0}, false};
	int opt, rc;
	while ((opt = cli_getopt(c, argc, argv, opts, usage_lineage)) != -1) {
		if (opt == O_UP)
			up = true;
		else if (opt == O_DOWN)
			up = false;
		else if (opt == O_DOT)
			o.dot = true;
		else
			return cli_bad_option(usage_lineage, argv);
	}
	if (argc - optind != 1)
		return cli_usage_error(usage_lineage, "name one NAME[@vN]");
	if ((rc = cli_open(c, &r)))
		return cli_fail("lineage", rc);
	strata_json_init(&o.j, stdout);
	if (o.dot)
		printf("digraph lineage {\n  rankdir=LR;\n");
	else if (c->json)
		strata_json_arr_begin(&o.j);
	rc = strata_repo_lineage(r, argv[optind], up, edge_cb, &o);
	if (o.dot) {
		printf("}\n");
	} else if (c->json) {
		strata_json_arr_end(&o.j);
		strata_json_end(&o.j);
	}
	strata_repo_close(r);
	return rc ? cli_fail("lineage", rc) : EXIT_OK;
}
