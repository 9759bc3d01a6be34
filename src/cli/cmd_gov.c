/*
 * cmd_gov.c - governance commands: user, role, zone, consent, impact,
 * subjects, policy and audit. Each is a thin client of the repository's
 * governance API; the gate and the audit log live below it.
 */
#include "audit/audit.h"
#include "cli/cli.h"

const char usage_user[] =
    "strata user add NAME --role ROLE [--default-purpose P] | user ls | "
    "user rm NAME\n"
    "\nManage who may use the repository. The actor is STRATA_USER, or the "
    "OS user.\nA new repository's creator is its admin. Roles: 'strata role "
    "ls'.\n";
const char usage_role[] =
    "strata role ls | role show NAME | role add NAME --grant "
    "ACTION:CLASS[+CLASS],...\n"
    "\nRoles grant actions (read, write, derive, export, consent, audit,\n"
    "reidentify, manage) on data classes (phi, limited, deid, aggregate,\n"
    "public, all). Built in: admin, steward, researcher, clinician, "
    "service.\n";
const char usage_zone[] =
    "strata zone show | zone set NAME --allow CLASS,...\n"
    "\nThe repository's zone and the data classes it may hold.\n";
const char usage_consent[] =
    "strata consent set DATASET|SUBJECT CODE... | consent show | consent "
    "withdraw SUBJECT\n"
    "\nGA4GH DUO consent codes (docs/consent.md). A SUBJECT is a pseudonym "
    "(sub-...)\nor an identifier (turned into its pseudonym; never "
    "stored).\n";
const char usage_impact[] =
    "strata impact SUBJECT [--json]\n"
    "\nEvery file of SUBJECT, and every version derived from their data.\n";
const char usage_subjects[] =
    "strata subjects [--json]\n"
    "\nThe identifier <-> pseudonym table (stewards only; audited).\n";
const char usage_policy[] =
    "strata policy show | policy set FILE | policy check FILE | policy "
    "clear\n"
    "\nThe guardrail policy file (docs/policy.md). 'set' refuses a "
    "malformed file;\n'check' only parses it.\n";
const char usage_audit[] =
    "strata audit log [--subject S] [--actor A] [--since T] [--json|--fhir] "
    "|\n       audit verify | audit disclosures SUBJECT [--json|--fhir]\n"
    "\nThe tamper-evident audit log (docs/audit.md). T: seconds since the "
    "epoch,\nor YYYY-MM-DD.\n";

enum {
	O_ROLE = OPT_BASE,
	O_PURPOSE_DEF,
	O_GRANT,
	O_ALLOW,
	O_SUBJECT,
	O_ACTOR,
	O_SINCE,
	O_FHIR
};

static const struct option gov_opts[] = {
    {"role", required_argument, NULL, O_ROLE},
    {"default-purpose", required_argument, NULL, O_PURPOSE_DEF},
    {"grant", required_argument, NULL, O_GRANT},
    {"allow", required_argument, NULL, O_ALLOW},
    {"subject", required_argument, NULL, O_SUBJECT},
    {"actor", required_argument, NULL, O_ACTOR},
    {"since", required_argument, NULL, O_SINCE},
    {"fhir", no_argument, NULL, O_FHIR},
    {NULL, 0, NULL, 0}};

typedef struct gargs {
	const char *role, *purpose, *grant, *allow, *subject, *actor, *since;
	bool fhir;
	int first; /* index of the first operand */
} gargs;

static int parse(cli *c, int argc, char **argv, const char *usage, gargs *g)
{
	int opt;
	memset(g, 0, sizeof(*g));
	while ((opt = cli_getopt(c, argc, argv, gov_opts, usage)) != -1) {
		switch (opt) {
		case O_ROLE:
			g->role = optarg;
			break;
		case O_PURPOSE_DEF:
			g->purpose = optarg;
			break;
		case O_GRANT:
			g->grant = optarg;
			break;
		case O_ALLOW:
			g->allow = optarg;
			break;
		case O_SUBJECT:
			g->subject = optarg;
			break;
		case O_ACTOR:
			g->actor = optarg;
			break;
		case O_SINCE:
			g->since = optarg;
			break;
		case O_FHIR:
			g->fhir = true;
			break;
		default:
			return cli_bad_option(usage, argv);
		}
	}
	g->first = optind;
	return 0;
}

/* Open the repository, run fn, close: the common shape. */
#define OPEN_OR_FAIL(name)                                                     \
	strata_repo *r = NULL;                                                 \
	int rc = cli_open(c, &r);                                              \
	if (rc)                                                                \
	return cli_fail(name, rc)

static int done(const char *name, strata_repo *r, int rc)
{
	int ret = rc ? cli_fail(name, rc) : EXIT_OK;
	strata_repo_close(r);
	return ret;
}

/* ---- user ---- */

static int print_user(const strata_user_info *u, void *payload)
{
	strata_json *j = payload;
	if (!j) {
		printf("%-24s %-12s %s\n", u->name, u->role,
		       u->purpose ? u->purpose : "");
		return 0;
	}
	strata_json_obj_begin(j);
	strata_json_key(j, "name");
	strata_json_str(j, u->name);
	strata_json_key(j, "role");
	strata_json_str(j, u->role);
	strata_json_key(j, "default_purpose");
	if (u->purpose)
		strata_json_str(j, u->purpose);
	else
		strata_json_null(j);
	strata_json_obj_end(j);
	return 0;
}

int cmd_user(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_user, &g);
	if (prc)
		return prc;
	const char *sub = g.first < argc ? argv[g.first] : NULL;
	int nops = argc - g.first;
	if (!sub ||
	    (strcmp(sub, "add") && strcmp(sub, "ls") && strcmp(sub, "rm")))
		return cli_usage_error(usage_user, "say add, ls or rm");
	if (strcmp(sub, "ls") && nops != 2)
		return cli_usage_error(usage_user, "name one user");
	if (!strcmp(sub, "add") && !g.role)
		return cli_usage_error(usage_user, "--role ROLE is required");
	OPEN_OR_FAIL("user");
	if (!strcmp(sub, "add")) {
		rc = strata_repo_user_add(r, argv[g.first + 1], g.role,
					  g.purpose);
	} else if (!strcmp(sub, "rm")) {
		rc = strata_repo_user_rm(r, argv[g.first + 1]);
	} else {
		strata_json j, *jl = cli_list_begin(c, &j);
		rc = strata_repo_users(r, print_user, jl);
		cli_list_end(jl);
	}
	return done("user", r, rc);
}

/* ---- role ---- */

typedef struct role_print {
	strata_json *j;
	const char *only;
	bool found;
} role_print;

static int print_role(const strata_role_info *ri, void *payload)
{
	role_print *p = payload;
	if (p->only && strcmp(p->only, ri->name))
		return 0;
	p->found = true;
	if (!p->j) {
		printf("%-12s %-8s %s\n", ri->name,
		       ri->builtin ? "built-in" : "custom", ri->grants);
		return 0;
	}
	strata_json_obj_begin(p->j);
	strata_json_key(p->j, "name");
	strata_json_str(p->j, ri->name);
	strata_json_key(p->j, "builtin");
	strata_json_bool(p->j, ri->builtin);
	strata_json_key(p->j, "grants");
	strata_json_str(p->j, ri->grants);
	strata_json_obj_end(p->j);
	return 0;
}

int cmd_role(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_role, &g);
	if (prc)
		return prc;
	const char *sub = g.first < argc ? argv[g.first] : NULL;
	int nops = argc - g.first;
	if (!sub ||
	    (strcmp(sub, "add") && strcmp(sub, "ls") && strcmp(sub, "show")))
		return cli_usage_error(usage_role, "say ls, show or add");
	if (strcmp(sub, "ls") && nops != 2)
		return cli_usage_error(usage_role, "name one role");
	if (!strcmp(sub, "add") && !g.grant)
		return cli_usage_error(usage_role, "--grant is required");
	OPEN_OR_FAIL("role");
	if (!strcmp(sub, "add")) {
		rc = strata_repo_role_add(r, argv[g.first + 1], g.grant);
	} else {
		strata_json j;
		role_print p = {cli_list_begin(c, &j),
				strcmp(sub, "show") ? NULL : argv[g.first + 1],
				false};
		rc = strata_repo_roles(r, print_role, &p);
		cli_list_end(p.j);
		if (!rc && p.only && !p.found)
			rc = strata_error_set(STRATA_ENOTFOUND, "no role '%s'",
					      p.only);
	}
	return done("role", r, rc);
}

/* ---- zone ---- */

int cmd_zone(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_zone, &g);
	if (prc)
		return prc;
	const char *sub = g.first < argc ? argv[g.first] : NULL;
	if (!sub || (strcmp(sub, "show") && strcmp(sub, "set")))
		return cli_usage_error(usage_zone, "say show or set");
	if (!strcmp(sub, "set") && (argc - g.first != 2 || !g.allow))
		return cli_usage_error(usage_zone,
				       "zone set NAME --allow CLASS,...");
	OPEN_OR_FAIL("zone");
	const char *name;
	char allows[128];
	if (!strcmp(sub, "set")) {
		strata_repo_zone_get(r, &name, allows, sizeof(allows));
		if (strcmp(name, argv[g.first + 1]))
			rc = strata_error_set(
			    STRATA_EINVAL,
			    "this repository's zone is '%s', not '%s' (a "
			    "zone's name is fixed at 'strata init --zone')",
			    name, argv[g.first + 1]);
		else
			rc = strata_repo_zone_set(r, g.allow);
	}
	if (!rc) {
		strata_repo_zone_get(r, &name, allows, sizeof(allows));
		if (c->json) {
			strata_json j;
			strata_json_init(&j, stdout);
			strata_json_obj_begin(&j);
			strata_json_key(&j, "zone");
			strata_json_str(&j, name);
			strata_json_key(&j, "allows");
			strata_json_str(&j, allows);
			strata_json_obj_end(&j);
			strata_json_end(&j);
		} else if (!c->quiet) {
			printf("zone %s allows: %s\n", name, allows);
		}
	}
	return done("zone", r, rc);
}

/* ---- consent ---- */

static int print_consent(const strata_consent_info *ci, void *payload)
{
	strata_json *j = payload;
	if (!j) {
		printf("%-24s %-8s %s%s\n", ci->target,
		       ci->subject ? "subject" : "dataset",
		       ci->codes ? ci->codes : "",
		       ci->withdrawn ? " WITHDRAWN" : "");
		return 0;
	}
	strata_json_obj_begin(j);
	strata_json_key(j, "target");
	strata_json_str(j, ci->target);
	strata_json_key(j, "kind");
	strata_json_str(j, ci->subject ? "subject" : "dataset");
	strata_json_key(j, "codes");
	if (ci->codes)
		strata_json_str(j, ci->codes);
	else
		strata_json_null(j);
	strata_json_key(j, "withdrawn");
	strata_json_bool(j, ci->withdrawn);
	strata_json_key(j, "by");
	strata_json_str(j, ci->by ? ci->by : "");
	strata_json_key(j, "time_ns");
	strata_json_i64(j, ci->time_ns);
	strata_json_obj_end(j);
	return 0;
}

int cmd_consent(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_consent, &g);
	if (prc)
		return prc;
	const char *sub = g.first < argc ? argv[g.first] : NULL;
	int nops = argc - g.first;
	if (!sub || (strcmp(sub, "set") && strcmp(sub, "show") &&
		     strcmp(sub, "withdraw")))
		return cli_usage_error(usage_consent,
				       "say set, show or withdraw");
	if (!strcmp(sub, "set") && nops < 3)
		return cli_usage_error(usage_consent,
				       "consent set TARGET CODE...");
	if (!strcmp(sub, "withdraw") && nops != 2)
		return cli_usage_error(usage_consent, "name one subject");
	OPEN_OR_FAIL("consent");
	if (!strcmp(sub, "set")) {
		strata_buf codes = STRATA_BUF_INIT;
		for (int i = g.first + 2; !rc && i < argc; i++) {
			if (codes.len)
				rc = strata_buf_put_u8(&codes, ' ');
			if (!rc)
				rc = strata_buf_puts(&codes, argv[i]);
		}
		if (!rc && !(rc = strata_buf_cstr(&codes)))
			rc = strata_repo_consent_set(r, argv[g.first + 1],
						     (char *)codes.ptr);
		strata_buf_release(&codes);
	} else if (!strcmp(sub, "withdraw")) {
		char pseudo[24];
		rc = strata_repo_consent_withdraw(r, argv[g.first + 1]);
		if (!rc && !c->quiet &&
		    !strata_repo_subject(r, argv[g.first + 1], pseudo))
			printf("withdrawn: %s (see 'strata impact %s')\n",
			       pseudo, pseudo);
	} else {
		strata_json j, *jl = cli_list_begin(c, &j);
		rc = strata_repo_consents(r, print_consent, jl);
		cli_list_end(jl);
	}
	return done("consent", r, rc);
}

/* ---- impact ---- */

static int print_impact(const strata_impact_info *ii, void *payload)
{
	strata_json *j = payload;
	if (!j) {
		printf("%s@v%u", ii->dataset, ii->version);
		if (ii->path) {
			putchar(':');
			cli_put_path(stdout, ii->path, ii->path_len);
		} else {
			printf(" (derived from %s)", ii->via ? ii->via : "?");
		}
		putchar('\n');
		return 0;
	}
	strata_json_obj_begin(j);
	strata_json_key(j, "dataset");
	strata_json_str(j, ii->dataset);
	strata_json_key(j, "version");
	strata_json_u64(j, ii->version);
	strata_json_key(j, "path");
	if (ii->path)
		strata_json_strn(j, ii->path, ii->path_len);
	else
		strata_json_null(j);
	strata_json_key(j, "via");
	if (ii->via)
		strata_json_str(j, ii->via);
	else
		strata_json_null(j);
	strata_json_obj_end(j);
	return 0;
}

int cmd_impact(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_impact, &g);
	if (prc)
		return prc;
	if (argc - g.first != 1)
		return cli_usage_error(usage_impact, "name one subject");
	OPEN_OR_FAIL("impact");
	strata_json j, *jl = cli_list_begin(c, &j);
	rc = strata_repo_impact(r, argv[g.first], print_impact, jl);
	cli_list_end(jl);
	return done("impact", r, rc);
}

/* ---- subjects ---- */

static int print_subject(const strata_subject_info *si, void *payload)
{
	strata_json *j = payload;
	if (!j) {
		printf("%s\t%s\n", si->pseudonym, si->identifier);
		return 0;
	}
	strata_json_obj_begin(j);
	strata_json_key(j, "pseudonym");
	strata_json_str(j, si->pseudonym);
	strata_json_key(j, "identifier");
	strata_json_str(j, si->identifier);
	strata_json_obj_end(j);
	return 0;
}

int cmd_subjects(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_subjects, &g);
	if (prc)
		return prc;
	if (argc != g.first)
		return cli_usage_error(usage_subjects, "no operands");
	OPEN_OR_FAIL("subjects");
	strata_json j, *jl = cli_list_begin(c, &j);
	rc = strata_repo_subjects(r, print_subject, jl);
	cli_list_end(jl);
	return done("subjects", r, rc);
}

/* ---- policy ---- */

static int read_file(const char *path, strata_buf *b)
{
	FILE *f = fopen(path, "r");
	char buf[65536];
	size_t n;
	int rc = 0;
	if (!f)
		return strata_error_set(strata_errno_code(errno),
					"cannot read '%s': %s", path,
					strerror(errno));
	b->limit = STRATA_GUARD_MAX_FILE + 1;
	while (!rc && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		rc = strata_buf_put(b, buf, n);
	if (!rc && ferror(f))
		rc = strata_error_set(STRATA_EIO, "cannot read '%s'", path);
	fclose(f);
	return rc;
}

int cmd_policy(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_policy, &g);
	if (prc)
		return prc;
	const char *sub = g.first < argc ? argv[g.first] : NULL;
	int nops = argc - g.first;
	if (!sub || (strcmp(sub, "show") && strcmp(sub, "set") &&
		     strcmp(sub, "check") && strcmp(sub, "clear")))
		return cli_usage_error(usage_policy,
				       "say show, set, check or clear");
	if ((!strcmp(sub, "set") || !strcmp(sub, "check")) && nops != 2)
		return cli_usage_error(usage_policy, "name one FILE");
	strata_buf b = STRATA_BUF_INIT;
	int rc = 0;
	if (!strcmp(sub, "check")) { /* no repository needed */
		strata_guardrails *gr = NULL;
		if (!(rc = read_file(argv[g.first + 1], &b)))
			rc = strata_guardrails_parse(&gr, (char *)b.ptr, b.len,
						     argv[g.first + 1]);
		if (!rc && !c->quiet)
			printf("%s: %zu rules, well-formed\n",
			       argv[g.first + 1], strata_guardrails_count(gr));
		strata_guardrails_free(gr);
		strata_buf_release(&b);
		return rc ? cli_fail("policy", rc) : EXIT_OK;
	}
	strata_repo *r = NULL;
	if ((rc = cli_open(c, &r))) {
		strata_buf_release(&b);
		return cli_fail("policy", rc);
	}
	if (!strcmp(sub, "set")) {
		if (!(rc = read_file(argv[g.first + 1], &b)))
			rc = strata_repo_policy_set(r, (char *)b.ptr, b.len);
	} else if (!strcmp(sub, "clear")) {
		rc = strata_repo_policy_set(r, "", 0);
	} else {
		const char *text;
		strata_repo_policy_get(r, &text);
		if (c->json) {
			strata_json j;
			strata_json_init(&j, stdout);
			strata_json_obj_begin(&j);
			strata_json_key(&j, "policy");
			if (text)
				strata_json_str(&j, text);
			else
				strata_json_null(&j);
			strata_json_obj_end(&j);
			strata_json_end(&j);
		} else if (text) {
			fputs(text, stdout);
		} else if (!c->quiet) {
			fputs("(no policy file: only roles, zones and consent "
			      "decide)\n",
			      stderr);
		}
	}
	strata_buf_release(&b);
	return done("policy", r, rc);
}

/* ---- audit ---- */

typedef struct audit_print {
	strata_json *j;
	bool fhir;
	const char *origin;
	uint64_t n;
} audit_print;

static int print_rec(const strata_audit_rec *rec, void *payload)
{
	audit_print *p = payload;
	p->n++;
	if (p->fhir) {
		strata_audit_fhir(p->j, rec, p->origin);
		return 0;
	}
	if (p->j) {
		strata_audit_json(p->j, rec);
		return 0;
	}
	time_t t = (time_t)(rec->time_ns / 1000000000);
	struct tm tm;
	char ts[32];
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%" PRIu64 " %s %s(%s) %s %s %s %s", rec->seq, ts, rec->actor,
	       rec->role ? rec->role : "-", rec->action,
	       rec->object ? rec->object : "-", rec->decision,
	       rec->outcome ? rec->outcome : "-");
	if (rec->bytes)
		printf(" %" PRIu64 "B", rec->bytes);
	if (rec->purpose)
		printf(" purpose=%s", rec->purpose);
	if (rec->reasons)
		printf(" [%s]", rec->reasons);
	putchar('\n');
	return 0;
}

static int parse_since(const char *s, int64_t *ns)
{
	struct tm tm;
	uint64_t secs;
	memset(&tm, 0, sizeof(tm));
	if (!strata_parse_u64(s, &secs)) {
		*ns = (int64_t)secs * 1000000000;
		return 0;
	}
	const char *end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end)
		return strata_error_set(STRATA_EINVAL,
					"--since '%s': use YYYY-MM-DD or "
					"seconds since the epoch",
					s);
	*ns = (int64_t)timegm(&tm) * 1000000000;
	return 0;
}

/* Only what the gate allowed touches a subject's data: a disclosure. */
static int print_disclosure(const strata_audit_rec *rec, void *payload)
{
	if (strcmp(rec->decision, "allow") || !rec->outcome ||
	    strcmp(rec->outcome, "ok"))
		return 0;
	return print_rec(rec, payload);
}

int cmd_audit(cli *c, int argc, char **argv)
{
	gargs g;
	int prc = parse(c, argc, argv, usage_audit, &g);
	if (prc)
		return prc;
	const char *sub = g.first < argc ? argv[g.first] : NULL;
	int nops = argc - g.first;
	if (!sub || (strcmp(sub, "log") && strcmp(sub, "verify") &&
		     strcmp(sub, "disclosures")))
		return cli_usage_error(usage_audit,
				       "say log, verify or disclosures");
	if (!strcmp(sub, "disclosures") && nops != 2)
		return cli_usage_error(usage_audit, "name one subject");
	strata_audit_filter f;
	memset(&f, 0, sizeof(f));
	f.actor = g.actor;
	if (g.since && parse_since(g.since, &f.since_ns))
		return cli_usage_error(usage_audit, "%s", strata_error_msg());
	OPEN_OR_FAIL("audit");
	char pseudo[24];
	if (!strcmp(sub, "verify")) {
		strata_audit_report rep;
		memset(&rep, 0, sizeof(rep));
		rc = strata_repo_audit_verify(r, &rep);
		if (c->json && (!rc || rc == STRATA_ECORRUPT)) {
			strata_json j;
			strata_json_init(&j, stdout);
			strata_json_obj_begin(&j);
			strata_json_key(&j, "intact");
			strata_json_bool(&j, rc == 0);
			strata_json_key(&j, "records");
			strata_json_u64(&j, rep.records);
			strata_json_key(&j, "checkpoints");
			strata_json_u64(&j, rep.checkpoints);
			strata_json_key(&j, "first_bad");
			strata_json_u64(&j, rep.first_bad);
			strata_json_key(&j, "what");
			strata_json_str(&j, rep.what);
			strata_json_obj_end(&j);
			strata_json_end(&j);
		} else if (!rc && !c->quiet) {
			printf("audit log intact: %" PRIu64 " records, %" PRIu64
			       " signed checkpoints\n",
			       rep.records, rep.checkpoints);
		}
		return done("audit verify", r, rc);
	}
	const char *subj = g.subject;
	if (!strcmp(sub, "disclosures"))
		subj = argv[g.first + 1];
	if (subj) {
		if ((rc = strata_repo_subject(r, subj, pseudo)))
			return done("audit", r, rc);
		f.subject = pseudo;
	}
	strata_json j;
	c->json = c->json || g.fhir; /* FHIR resources are JSON too */
	audit_print p = {cli_list_begin(c, &j), g.fhir, strata_repo_id(r), 0};
	rc = strata_repo_audit_scan(
	    r, &f, strcmp(sub, "log") ? print_disclosure : print_rec, &p);
	cli_list_end(p.j);
	return done("audit", r, rc);
}
