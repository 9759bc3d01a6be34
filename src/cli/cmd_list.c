/*
 * cmd_list.c - the read-only listing commands: datasets, log, ls, cat and
 * diff. Each prints a table for people and --json for programs.
 */
#include "cli/cli.h"

const char usage_datasets[] =
    "strata -R REPO datasets [--json]\n\nList datasets with their number "
    "of versions, latest version, layer and class.\n";
const char usage_log[] =
    "strata -R REPO log NAME [--json]\n\nList the versions of dataset NAME, "
    "oldest first.\n";
const char usage_ls[] =
    "strata -R REPO ls NAME[@vN] [PATH] [--json]\n\nList every entry below "
    "PATH (default: the whole version), recursively.\n"
    "Text columns: type, mode, size, path.\n";
const char usage_cat[] =
    "strata -R REPO cat NAME[@vN]:PATH\n\nWrite the bytes of one file of a "
    "version to standard output.\n";
const char usage_diff[] =
    "strata -R REPO diff NAME@vA NAME@vB [--json]\n\nList paths that differ "
    "between two versions: '+' added, '-' removed,\n'M' modified, 'T' type "
    "changed.\n";

static int no_options(cli *c, int argc, char **argv, const char *usage)
{
	int o;
	while ((o = cli_getopt(c, argc, argv, NULL, usage)) != -1)
		return cli_bad_option(usage, argv);
	return 0;
}

/* What a listing command runs once the repository is open: it prints
 * through `j` (an open JSON array with --json). */
typedef struct listing {
	cli *c;
	strata_json j;
	char **args;
} listing;

typedef int (*listing_fn)(strata_repo *r, listing *l);

static int run_listing(cli *c, const char *name, listing_fn fn, char **args)
{
	strata_repo *r;
	listing l = {c, {0}, args};
	int rc = cli_open(c, &r);
	if (rc)
		return cli_fail(name, rc);
	strata_json_init(&l.j, stdout);
	if (c->json)
		strata_json_arr_begin(&l.j);
	rc = fn(r, &l);
	if (c->json) {
		strata_json_arr_end(&l.j);
		strata_json_end(&l.j);
	}
	strata_repo_close(r);
	return rc ? cli_fail(name, rc) : EXIT_OK;
}

static int ds_text(const strata_dataset_info *d, void *payload)
{
	(void)payload;
	printf("%-24s %5u versions  latest v%-4u %-12s %s\n", d->name,
	       d->versions, d->latest, d->layer, d->klass);
	return 0;
}

static int ds_json(const strata_dataset_info *d, void *payload)
{
	strata_json *j = payload;
	strata_json_obj_begin(j);
	strata_json_key(j, "name");
	strata_json_str(j, d->name);
	strata_json_key(j, "versions");
	strata_json_u64(j, d->versions);
	strata_json_key(j, "latest");
	strata_json_u64(j, d->latest);
	strata_json_key(j, "layer");
	strata_json_str(j, d->layer);
	strata_json_key(j, "class");
	strata_json_str(j, d->klass);
	strata_json_obj_end(j);
	return 0;
}

static int datasets_run(strata_repo *r, listing *l)
{
	return strata_repo_datasets(r, l->c->json ? ds_json : ds_text, &l->j);
}

int cmd_datasets(cli *c, int argc, char **argv)
{
	int rc = no_options(c, argc, argv, usage_datasets);
	if (rc)
		return rc;
	if (optind != argc)
		return cli_usage_error(usage_datasets, "unexpected argument");
	return run_listing(c, "datasets", datasets_run, NULL);
}

static int log_text(const strata_version_info *v, void *payload)
{
	char t[32];
	(void)payload;
	strata_iso_time(t, sizeof(t), v->time_ns);
	printf("v%-4u %s  %.12s  %-11s %-9s %7" PRIu64
	       " files %10.1f MiB  %s\n",
	       v->version, t, v->snapshot, v->layer, v->klass, v->files,
	       (double)v->bytes / 1048576.0, v->message ? v->message : "");
	return 0;
}

static int log_json(const strata_version_info *v, void *payload)
{
	strata_json *j = payload;
	char t[32];
	strata_iso_time(t, sizeof(t), v->time_ns);
	strata_json_obj_begin(j);
	strata_json_key(j, "version");
	strata_json_u64(j, v->version);
	strata_json_key(j, "snapshot");
	strata_json_str(j, v->snapshot);
	strata_json_key(j, "time");
	strata_json_str(j, t);
	strata_json_key(j, "message");
	strata_json_str(j, v->message ? v->message : "");
	strata_json_key(j, "author");
	strata_json_str(j, v->author);
	strata_json_key(j, "layer");
	strata_json_str(j, v->layer);
	strata_json_key(j, "class");
	strata_json_str(j, v->klass);
	strata_json_key(j, "files");
	strata_json_u64(j, v->files);
	strata_json_key(j, "bytes");
	strata_json_u64(j, v->bytes);
	strata_json_key(j, "parent");
	if (v->parent_version)
		strata_json_u64(j, v->parent_version);
	else
		strata_json_null(j);
	strata_json_obj_end(j);
	return 0;
}

static int log_run(strata_repo *r, listing *l)
{
	return strata_repo_log(r, l->args[0], l->c->json ? log_json : log_text,
			       &l->j);
}

int cmd_log(cli *c, int argc, char **argv)
{
	int rc = no_options(c, argc, argv, usage_log);
	if (rc)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error(usage_log, "name one dataset");
	if (strchr(argv[optind], '@'))
		return cli_usage_error(
		    usage_log,
		    "'log' takes a dataset name "
		    "without @vN: 'strata log %.*s'",
		    (int)(strchr(argv[optind], '@') - argv[optind]),
		    argv[optind]);
	return run_listing(c, "log", log_run, argv + optind);
}

static const char *type_name(strata_ent_type t)
{
	return t == STRATA_ENT_FILE  ? "file"
	       : t == STRATA_ENT_DIR ? "dir"
				     : "symlink";
}

static int ls_text(const strata_entry *e, void *payload)
{
	(void)payload;
	printf("%-7s %04o %12" PRIu64 " ", type_name(e->type), e->mode & 07777,
	       e->size);
	cli_put_path(stdout, e->path, e->path_len);
	if (e->type == STRATA_ENT_SYMLINK) {
		fputs(" -> ", stdout);
		cli_put_path(stdout, e->target, strlen(e->target));
	}
	putchar('\n');
	return 0;
}

static int ls_json(const strata_entry *e, void *payload)
{
	strata_json *j = payload;
	char t[32], mode[8], hex[65];
	strata_iso_time(t, sizeof(t), e->mtime_ns);
	snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
	strata_json_obj_begin(j);
	strata_json_key(j, "path");
	strata_json_strn(j, e->path, e->path_len);
	strata_json_key(j, "type");
	strata_json_str(j, type_name(e->type));
	strata_json_key(j, "size");
	strata_json_u64(j, e->size);
	strata_json_key(j, "mode");
	strata_json_str(j, mode);
	strata_json_key(j, "mtime");
	strata_json_str(j, t);
	if (e->sha256) {
		strata_hex(hex, e->sha256, 32);
		strata_json_key(j, "sha256");
		strata_json_str(j, hex);
	}
	if (e->target) {
		strata_json_key(j, "target");
		strata_json_str(j, e->target);
	}
	strata_json_obj_end(j);
	return 0;
}

static int ls_run(strata_repo *r, listing *l)
{
	/* args: the version, then an optional path (argv is NULL-terminated) */
	return strata_repo_ls(r, l->args[0], l->args[1] ? l->args[1] : "",
			      l->c->json ? ls_json : ls_text, &l->j);
}

int cmd_ls(cli *c, int argc, char **argv)
{
	int rc = no_options(c, argc, argv, usage_ls);
	if (rc)
		return rc;
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error(usage_ls,
				       "name a version and at most one "
				       "path");
	return run_listing(c, "ls", ls_run, argv + optind);
}

int cmd_cat(cli *c, int argc, char **argv)
{
	strata_repo *r;
	int rc = no_options(c, argc, argv, usage_cat);
	if (rc)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error(usage_cat, "name one NAME[@vN]:PATH");
	char *spec = strata_strdup(argv[optind]);
	char *colon = spec ? strchr(spec, ':') : NULL;
	if (!colon) {
		strata_free(spec);
		return cli_usage_error(usage_cat, "write NAME[@vN]:PATH, e.g. "
						  "'ct@v2:series1/img1.dcm'");
	}
	*colon = 0;
	if ((rc = cli_open(c, &r))) {
		strata_free(spec);
		return cli_fail("cat", rc);
	}
	fflush(stdout);
	rc = strata_repo_cat(r, spec, colon + 1, 1);
	strata_repo_close(r);
	strata_free(spec);
	return rc ? cli_fail("cat", rc) : EXIT_OK;
}

static int diff_one(const char *path, size_t len, strata_diff_kind k,
		    void *payload)
{
	listing *d = payload;
	static const char *const names[] = {"", "added", "removed", "modified",
					    "type"};
	static const char marks[] = " +-MT";
	if (d->c->json) {
		strata_json_obj_begin(&d->j);
		strata_json_key(&d->j, "path");
		strata_json_strn(&d->j, path, len);
		strata_json_key(&d->j, "change");
		strata_json_str(&d->j, names[k]);
		strata_json_obj_end(&d->j);
	} else {
		printf("%c ", marks[k]);
		cli_put_path(stdout, path, len);
		putchar('\n');
	}
	return 0;
}

static int diff_run(strata_repo *r, listing *l)
{
	return strata_repo_diff(r, l->args[0], l->args[1], diff_one, l);
}

int cmd_diff(cli *c, int argc, char **argv)
{
	int rc = no_options(c, argc, argv, usage_diff);
	if (rc)
		return rc;
	if (argc - optind != 2)
		return cli_usage_error(usage_diff, "name two versions");
	return run_listing(c, "diff", diff_run, argv + optind);
}
