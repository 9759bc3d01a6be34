/*
 * cmd_remote.c - hybrid commands: remote, push, pull, replicas, egress.
 * A remote repository has its own secret: STRATA_REMOTE_PASSWORD or
 * --remote-password-file, or a key file (STRATA_REMOTE_KEY_FILE,
 * --remote-key-file); zones never share keys.
 */
#include "cli/cli.h"

const char usage_remote[] =
    "strata remote add NAME URL [--zone Z] | remote ls [--json] | remote rm "
    "NAME\n"
    "\nRemote repositories: a directory or s3://bucket/prefix (create it "
    "with\n'strata init URL'). --zone records the zone the remote must "
    "have.\n";
const char usage_push[] =
    "strata push NAME[@vN] REMOTE [--purpose P] [--project P]\n"
    "       [--remote-password-file F] [--remote-key-file F] [--json]\n"
    "\nSend a version to REMOTE. The gate runs first: the remote's zone "
    "must allow\nthe data's class, consent must permit the purpose, the "
    "role must allow export.\nOnly chunks the remote lacks travel, sealed "
    "again under its keys; PHI\nattributes and identifiers stay here. A "
    "push that dies resumes where it\nstopped; the version appears on the "
    "remote only when complete.\n";
const char usage_pull[] =
    "strata pull NAME[@vN] REMOTE [--remote-password-file F] "
    "[--remote-key-file F] [--json]\n"
    "\nFetch a version of REMOTE into this repository, as a new version.\n";
const char usage_replicas[] =
    "strata replicas [NAME] [--json]\n"
    "\nWhich versions were pushed to which remote, as which version there.\n";
const char usage_egress[] =
    "strata egress [--by project|dataset|remote] [--since T] [--json]\n"
    "       egress price REMOTE|ZONE USD_PER_GIB | egress budget PROJECT "
    "USD_PER_MONTH\n"
    "\nBytes sent by pushes, and their cost from the price table; a "
    "project's\nmonthly budget refuses a push that would exceed it.\n";

enum { O_ZONE = OPT_BASE, O_PROJECT, O_RPASS, O_RKEY, O_BY, O_SINCE };

static const struct option opts[] = {
    {"zone", required_argument, NULL, O_ZONE},
    {"project", required_argument, NULL, O_PROJECT},
    {"remote-password-file", required_argument, NULL, O_RPASS},
    {"remote-key-file", required_argument, NULL, O_RKEY},
    {"by", required_argument, NULL, O_BY},
    {"since", required_argument, NULL, O_SINCE},
    {NULL, 0, NULL, 0}};

typedef struct rargs {
	const char *zone, *project, *rpass, *rkey, *by, *since;
	int first;
} rargs;

static int parse(cli *c, int argc, char **argv, const char *usage, rargs *a)
{
	int o;
	memset(a, 0, sizeof(*a));
	while ((o = cli_getopt(c, argc, argv, opts, usage)) != -1) {
		switch (o) {
		case O_ZONE:
			a->zone = optarg;
			break;
		case O_PROJECT:
			a->project = optarg;
			break;
		case O_RPASS:
			a->rpass = optarg;
			break;
		case O_RKEY:
			a->rkey = optarg;
			break;
		case O_BY:
			a->by = optarg;
			break;
		case O_SINCE:
			a->since = optarg;
			break;
		default:
			return cli_bad_option(usage, argv);
		}
	}
	a->first = optind;
	return 0;
}

static int finish(const char *name, strata_repo *r, int rc)
{
	int ret = rc == 0 ? EXIT_OK : cli_fail(name, rc);
	strata_repo_close(r);
	return ret;
}

/* ---- remote ---- */

static int print_remote(const strata_remote_info *ri, void *payload)
{
	strata_json *j = payload;
	if (!j) {
		printf("%-16s %-10s %s\n", ri->name,
		       ri->zone[0] ? ri->zone : "-", ri->url);
		return 0;
	}
	strata_json_obj_begin(j);
	strata_json_key(j, "name");
	strata_json_str(j, ri->name);
	strata_json_key(j, "url");
	strata_json_str(j, ri->url);
	strata_json_key(j, "zone");
	strata_json_str(j, ri->zone);
	strata_json_obj_end(j);
	return 0;
}

int cmd_remote(cli *c, int argc, char **argv)
{
	rargs a;
	strata_repo *r = NULL;
	int rc = parse(c, argc, argv, usage_remote, &a);
	if (rc)
		return rc;
	const char *sub = a.first < argc ? argv[a.first] : NULL;
	int n = argc - a.first;
	if (!sub ||
	    (strcmp(sub, "add") && strcmp(sub, "ls") && strcmp(sub, "rm")))
		return cli_usage_error(usage_remote, "say add, ls or rm");
	if ((!strcmp(sub, "add") && n != 3) || (!strcmp(sub, "rm") && n != 2))
		return cli_usage_error(usage_remote, "wrong operands");
	if ((rc = cli_open(c, &r)))
		return cli_fail("remote", rc);
	if (!strcmp(sub, "add")) {
		rc = strata_repo_remote_add(r, argv[a.first + 1],
					    argv[a.first + 2], a.zone);
	} else if (!strcmp(sub, "rm")) {
		rc = strata_repo_remote_rm(r, argv[a.first + 1]);
	} else {
		strata_json j, *jl = cli_list_begin(c, &j);
		rc = strata_repo_remotes(r, print_remote, jl);
		cli_list_end(jl);
	}
	return finish("remote", r, rc);
}

/* ---- push / pull ---- */

static void xfer_json(const char *verb, const char *remote,
		      const strata_xfer_stats *st)
{
	strata_json j;
	strata_json_init(&j, stdout);
	strata_json_obj_begin(&j);
	strata_json_key(&j, "action");
	strata_json_str(&j, verb);
	strata_json_key(&j, "dataset");
	strata_json_str(&j, st->dataset);
	strata_json_key(&j, "version");
	strata_json_u64(&j, st->src_version);
	strata_json_key(&j, "remote");
	strata_json_str(&j, remote);
	strata_json_key(&j, "remote_version");
	strata_json_u64(&j, st->dst_version);
	strata_json_key(&j, "already");
	strata_json_bool(&j, st->already);
	strata_json_key(&j, "files");
	strata_json_u64(&j, st->files);
	strata_json_key(&j, "bytes");
	strata_json_u64(&j, st->bytes_total);
	strata_json_key(&j, "chunks");
	strata_json_u64(&j, st->chunks);
	strata_json_key(&j, "chunks_sent");
	strata_json_u64(&j, st->chunks_sent);
	strata_json_key(&j, "bytes_sent");
	strata_json_u64(&j, st->bytes_sent);
	strata_json_key(&j, "seconds");
	strata_json_dbl(&j, st->seconds);
	strata_json_obj_end(&j);
	strata_json_end(&j);
}

static int xfer_cmd(cli *c, int argc, char **argv, bool push)
{
	const char *verb = push ? "push" : "pull";
	const char *usage = push ? usage_push : usage_pull;
	rargs a;
	strata_repo *r = NULL;
	strata_xfer_stats st;
	int rc = parse(c, argc, argv, usage, &a);
	if (rc)
		return rc;
	if (argc - a.first != 2)
		return cli_usage_error(usage, "name a version and a remote");
	if ((rc = cli_open(c, &r)))
		return cli_fail(verb, rc);
	/* the remote's own secret */
	cli rc_cli;
	memset(&rc_cli, 0, sizeof(rc_cli));
	rc_cli.password_file = a.rpass;
	rc_cli.key_file = a.rkey;
	if ((rc = cli_auth_env(&rc_cli, false, "STRATA_REMOTE_PASSWORD",
			       "STRATA_REMOTE_KEY_FILE"))) {
		cli_free(&rc_cli);
		return finish(verb, r, rc);
	}
	if (!rc_cli.auth.password && !rc_cli.auth.keyfile) {
		cli_free(&rc_cli);
		return finish(verb, r,
			      strata_error_set(
				  STRATA_EAUTH,
				  "remote '%s' has its own keys: set "
				  "STRATA_REMOTE_PASSWORD, or use "
				  "--remote-password-file or --remote-key-file",
				  argv[a.first + 1]));
	}
	strata_xfer_opts o = {a.project, !c->quiet};
	rc = push ? strata_repo_push(r, argv[a.first], argv[a.first + 1],
				     &rc_cli.auth, &o, &st)
		  : strata_repo_pull(r, argv[a.first], argv[a.first + 1],
				     &rc_cli.auth, &o, &st);
	cli_free(&rc_cli);
	if (!rc && c->json) {
		xfer_json(verb, argv[a.first + 1], &st);
	} else if (!rc && !c->quiet) {
		if (st.already)
			printf("%s@v%u is already on '%s' as v%u: nothing "
			       "sent\n",
			       st.dataset, st.src_version, argv[a.first + 1],
			       st.dst_version);
		else
			printf("%s %s@v%u %s '%s' as v%u: %" PRIu64
			       " files, %.1f MiB; %" PRIu64 " of %" PRIu64
			       " chunks sent, %.1f MiB written, %.1f s\n",
			       push ? "pushed" : "pulled", st.dataset,
			       st.src_version, push ? "to" : "from",
			       argv[a.first + 1], st.dst_version, st.files,
			       (double)st.bytes_total / 1048576.0,
			       st.chunks_sent, st.chunks,
			       (double)st.bytes_sent / 1048576.0, st.seconds);
	}
	return finish(verb, r, rc);
}

int cmd_push(cli *c, int argc, char **argv)
{
	return xfer_cmd(c, argc, argv, true);
}

int cmd_pull(cli *c, int argc, char **argv)
{
	return xfer_cmd(c, argc, argv, false);
}

/* ---- replicas ---- */

static int print_replica(const strata_replica_info *ri, void *payload)
{
	strata_json *j = payload;
	if (!j) {
		printf("%s@v%u -> %s@v%u on %s (%s)\n", ri->dataset,
		       ri->version, ri->dataset, ri->remote_version, ri->remote,
		       ri->url);
		return 0;
	}
	strata_json_obj_begin(j);
	strata_json_key(j, "dataset");
	strata_json_str(j, ri->dataset);
	strata_json_key(j, "version");
	strata_json_u64(j, ri->version);
	strata_json_key(j, "remote");
	strata_json_str(j, ri->remote);
	strata_json_key(j, "remote_version");
	strata_json_u64(j, ri->remote_version);
	strata_json_key(j, "url");
	strata_json_str(j, ri->url);
	strata_json_key(j, "time_ns");
	strata_json_i64(j, ri->time_ns);
	strata_json_obj_end(j);
	return 0;
}

int cmd_replicas(cli *c, int argc, char **argv)
{
	rargs a;
	strata_repo *r = NULL;
	int rc = parse(c, argc, argv, usage_replicas, &a);
	if (rc)
		return rc;
	if (argc - a.first > 1)
		return cli_usage_error(usage_replicas, "at most one NAME");
	if ((rc = cli_open(c, &r)))
		return cli_fail("replicas", rc);
	strata_json j, *jl = cli_list_begin(c, &j);
	rc = strata_repo_replicas(r, a.first < argc ? argv[a.first] : NULL,
				  print_replica, jl);
	cli_list_end(jl);
	return finish("replicas", r, rc);
}

/* ---- egress ---- */

static int print_egress(const strata_egress_info *ei, void *payload)
{
	strata_json *j = payload;
	if (!j) {
		printf("%-24s %12.1f MiB %6" PRIu64 " pushes  $%.2f", ei->key,
		       (double)ei->bytes / 1048576.0, ei->pushes, ei->usd);
		if (ei->budget_usd >= 0)
			printf("  (budget $%.2f/month)", ei->budget_usd);
		putchar('\n');
		return 0;
	}
	strata_json_obj_begin(j);
	strata_json_key(j, "key");
	strata_json_str(j, ei->key);
	strata_json_key(j, "bytes");
	strata_json_u64(j, ei->bytes);
	strata_json_key(j, "pushes");
	strata_json_u64(j, ei->pushes);
	strata_json_key(j, "usd");
	strata_json_dbl(j, ei->usd);
	strata_json_key(j, "budget_usd");
	if (ei->budget_usd >= 0)
		strata_json_dbl(j, ei->budget_usd);
	else
		strata_json_null(j);
	strata_json_obj_end(j);
	return 0;
}

static int parse_usd(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || *end || *v < 0)
		return strata_error_set(STRATA_EINVAL,
					"'%s' is not an amount in USD", s);
	return 0;
}

int cmd_egress(cli *c, int argc, char **argv)
{
	rargs a;
	strata_repo *r = NULL;
	double usd = 0;
	int64_t since = 0;
	int rc = parse(c, argc, argv, usage_egress, &a);
	if (rc)
		return rc;
	const char *sub = a.first < argc ? argv[a.first] : NULL;
	int n = argc - a.first;
	if (sub && strcmp(sub, "price") && strcmp(sub, "budget"))
		return cli_usage_error(usage_egress, "say price or budget");
	if (sub && (n != 3 || parse_usd(argv[a.first + 2], &usd)))
		return cli_usage_error(usage_egress, "%s TARGET USD", sub);
	if (a.by && strcmp(a.by, "project") && strcmp(a.by, "dataset") &&
	    strcmp(a.by, "remote"))
		return cli_usage_error(usage_egress,
				       "--by project, dataset or remote");
	if (a.since) {
		uint64_t secs;
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *end = NULL;
		if (!strata_parse_u64(a.since, &secs))
			since = (int64_t)secs * 1000000000;
		else if ((end = strptime(a.since, "%Y-%m-%d", &tm)) && !*end)
			since = (int64_t)timegm(&tm) * 1000000000;
		else
			return cli_usage_error(
			    usage_egress, "--since: YYYY-MM-DD or seconds");
	}
	if ((rc = cli_open(c, &r)))
		return cli_fail("egress", rc);
	if (sub && !strcmp(sub, "price")) {
		rc = strata_repo_egress_price(r, argv[a.first + 1], usd);
	} else if (sub) {
		rc = strata_repo_egress_budget(r, argv[a.first + 1], usd);
	} else {
		strata_json j, *jl = cli_list_begin(c, &j);
		rc = strata_repo_egress(r, a.by, since, print_egress, jl);
		cli_list_end(jl);
	}
	return finish("egress", r, rc);
}
