/*
 * gov.c - governance state as an append-only sequence of encrypted event
 * objects, the actor, and the gate every reading, writing and moving
 * repository call goes through (docs/governance.md).
 *
 * An event object "gov/<time_ns>-<random>" holds one line
 *	strata-gov TAB 1 TAB time_ns TAB actor TAB op TAB arg...
 * and, for "policy.set", the policy text after it. Replaying the objects
 * in name order rebuilds the state.
 */
#include <pwd.h>

#include "repo/repo_int.h"

#define GOV_MAX_OBJECT (1u << 20)
#define GOV_MAX_ARGS 6

/* ---- state ---- */

static gov_user *find_user(repo_gov *g, const char *name)
{
	for (size_t i = 0; i < g->nusers; i++)
		if (!strcmp(g->users[i].name, name))
			return &g->users[i];
	return NULL;
}

const strata_role *repo__find_role(strata_repo *r, const char *name)
{
	repo_gov *g = &r->gov;
	for (size_t i = 0; i < g->nroles; i++)
		if (!strcmp(g->roles[i].name, name))
			return &g->roles[i];
	return strata_role_builtin(name);
}

gov_consent *repo__find_consent(strata_repo *r, const char *target)
{
	repo_gov *g = &r->gov;
	for (size_t i = 0; i < g->nconsents; i++)
		if (!strcmp(g->consents[i].target, target))
			return &g->consents[i];
	return NULL;
}

bool repo__withdrawn(strata_repo *r, const char *subject)
{
	repo_gov *g = &r->gov;
	for (size_t i = 0; i < g->nwithdrawn; i++)
		if (!strcmp(g->withdrawn[i].subject, subject))
			return true;
	return false;
}

static void user_free(gov_user *u)
{
	strata_free(u->name);
	strata_free(u->role);
	strata_free(u->purpose);
}

static int apply_user_add(repo_gov *g, char **a)
{
	gov_user *u = find_user(g, a[0]);
	char *role = strata_strdup(a[1]);
	char *purpose = a[2][0] ? strata_strdup(a[2]) : NULL;
	if (!role || (a[2][0] && !purpose))
		goto nomem;
	if (!u) {
		if (strata_grow(&g->users, &g->cap_users, g->nusers,
				sizeof(*g->users)))
			goto nomem;
		u = &g->users[g->nusers];
		if (!(u->name = strata_strdup(a[0])))
			goto nomem;
		g->nusers++;
	} else {
		strata_free(u->role);
		strata_free(u->purpose);
	}
	u->role = role;
	u->purpose = purpose;
	return 0;
nomem:
	strata_free(role);
	strata_free(purpose);
	return strata_error_set(STRATA_ENOMEM, "out of memory");
}

static int apply_user_rm(repo_gov *g, char **a)
{
	for (size_t i = 0; i < g->nusers; i++) {
		if (strcmp(g->users[i].name, a[0]))
			continue;
		user_free(&g->users[i]);
		g->users[i] = g->users[--g->nusers];
		return 0;
	}
	return 0;
}

static int apply_role_add(repo_gov *g, char **a)
{
	strata_role role;
	memset(&role, 0, sizeof(role));
	snprintf(role.name, sizeof(role.name), "%s", a[0]);
	int rc = strata_role_parse_grants(&role, a[1]);
	if (rc)
		return rc;
	for (size_t i = 0; i < g->nroles; i++)
		if (!strcmp(g->roles[i].name, a[0])) {
			g->roles[i] = role;
			return 0;
		}
	if (strata_grow(&g->roles, &g->cap_roles, g->nroles, sizeof(*g->roles)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	g->roles[g->nroles++] = role;
	return 0;
}

static int apply_consent(repo_gov *g, char **a, int64_t t, const char *by)
{
	strata_duo *duo = NULL;
	int rc = strata_duo_parse(&duo, a[1]);
	if (rc)
		return rc;
	gov_consent *c = NULL;
	for (size_t i = 0; i < g->nconsents; i++)
		if (!strcmp(g->consents[i].target, a[0]))
			c = &g->consents[i];
	if (!c) {
		if (strata_grow(&g->consents, &g->cap_consents, g->nconsents,
				sizeof(*g->consents)))
			goto nomem;
		c = &g->consents[g->nconsents];
		memset(c, 0, sizeof(*c));
		if (!(c->target = strata_strdup(a[0])))
			goto nomem;
		g->nconsents++;
	}
	strata_duo_free(c->duo);
	strata_free(c->codes);
	strata_free(c->by);
	c->duo = duo;
	c->codes = strata_strdup(a[1]);
	c->by = strata_strdup(by);
	c->time_ns = t;
	return c->codes && c->by
		   ? 0
		   : strata_error_set(STRATA_ENOMEM, "out of memory");
nomem:
	strata_duo_free(duo);
	return strata_error_set(STRATA_ENOMEM, "out of memory");
}

static int apply_withdraw(repo_gov *g, char **a, int64_t t, const char *by)
{
	for (size_t i = 0; i < g->nwithdrawn; i++)
		if (!strcmp(g->withdrawn[i].subject, a[0]))
			return 0;
	if (strata_grow(&g->withdrawn, &g->cap_withdrawn, g->nwithdrawn,
			sizeof(*g->withdrawn)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	gov_withdrawal *w = &g->withdrawn[g->nwithdrawn];
	w->subject = strata_strdup(a[0]);
	w->by = strata_strdup(by);
	w->time_ns = t;
	if (!w->subject || !w->by) {
		strata_free(w->subject);
		strata_free(w->by);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	g->nwithdrawn++;
	return 0;
}

static int apply_policy(repo_gov *g, const char *body, size_t n)
{
	strata_guardrails_free(g->guard);
	g->guard = NULL;
	strata_free(g->policy_text);
	g->policy_text = n ? strata_strndup(body, n) : NULL;
	g->policy_rc = 0;
	g->policy_err[0] = 0;
	if (n && !g->policy_text)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	if (!n)
		return 0;
	int rc = strata_guardrails_parse(&g->guard, body, n, "policy");
	if (rc == STRATA_ENOMEM)
		return rc;
	if (rc) { /* kept: every operation stops until it is fixed */
		g->policy_rc = rc;
		snprintf(g->policy_err, sizeof(g->policy_err), "%s",
			 strata_error_msg());
	}
	return 0;
}

static const struct {
	const char *op;
	int nargs;
} ops[] = {
    {"user.add", 3},   {"user.rm", 1},	   {"role.add", 2},
    {"zone.set", 1},   {"consent.set", 2}, {"consent.withdraw", 1},
    {"policy.set", 0},
};

/* Apply one event's text. */
static int apply(strata_repo *r, const char *text, size_t len, const char *name)
{
	repo_gov *g = &r->gov;
	const char *nl = memchr(text, '\n', len);
	size_t hl = nl ? (size_t)(nl - text) : len;
	char head[2048], *f[5 + GOV_MAX_ARGS];
	int nf = 0;
	if (hl >= sizeof(head))
		goto bad;
	memcpy(head, text, hl);
	head[hl] = 0;
	for (char *p = head; nf < 5 + GOV_MAX_ARGS;) {
		f[nf++] = p;
		char *tab = strchr(p, '\t');
		if (!tab)
			break;
		*tab = 0;
		p = tab + 1;
	}
	if (nf < 5 || strcmp(f[0], "strata-gov") || strcmp(f[1], "1"))
		goto bad;
	int64_t t = strtoll(f[2], NULL, 10);
	const char *by = f[3], *op = f[4];
	char **a = f + 5;
	int na = nf - 5;
	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
		if (strcmp(ops[i].op, op))
			continue;
		if (na != ops[i].nargs)
			goto bad;
		switch (i) {
		case 0:
			return apply_user_add(g, a);
		case 1:
			return apply_user_rm(g, a);
		case 2:
			return apply_role_add(g, a);
		case 3:
			return strata_classes_parse(a[0], &g->zone_allows);
		case 4:
			return apply_consent(g, a, t, by);
		case 5:
			return apply_withdraw(g, a, t, by);
		default:
			return apply_policy(g, nl ? nl + 1 : "",
					    nl ? len - hl - 1 : 0);
		}
	}
	/* remotes, replicas, egress (push.c) */
	int h = repo__hybrid_apply(r, op, (const char *const *)a, (size_t)na, t,
				   by);
	if (h <= 0)
		return h;
	/* a newer strata wrote it: refuse rather than ignore a rule */
	return strata_error_set(STRATA_ECORRUPT,
				"governance event '%s' has operation '%s' that "
				"this strata does not know: upgrade strata",
				name, op);
bad:
	return strata_error_set(STRATA_ECORRUPT,
				"governance event '%s' is malformed", name);
}

/* ---- loading ---- */

typedef struct names {
	char **v;
	size_t n, cap;
} names;

static int collect(const char *name, uint64_t size, void *payload)
{
	names *l = payload;
	(void)size;
	if (strata_grow(&l->v, &l->cap, l->n, sizeof(*l->v)) ||
	    !(l->v[l->n] = strata_strdup(name)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	l->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_event(strata_repo *r, const char *name)
{
	uint8_t *obj = NULL;
	size_t len;
	strata_buf plain = STRATA_BUF_INIT;
	int rc = r->be->ops->get(r->be, name, GOV_MAX_OBJECT, &obj, &len);
	if (!rc && !(rc = strata_codec_open(r->codec, &plain, obj, len, 0)))
		rc = apply(r, (const char *)plain.ptr, plain.len, name);
	if (rc && rc != STRATA_ENOMEM)
		strata_error_prefix(rc, "governance event '%s': ", name);
	strata_free(obj);
	strata_buf_release(&plain);
	return rc;
}

static void actor_name(char *out, size_t n)
{
	const char *u = getenv("STRATA_USER");
	struct passwd *pw;
	if (!u || !*u)
		u = (pw = getpwuid(geteuid())) ? pw->pw_name : NULL;
	snprintf(out, n, "%s", u && *u ? u : "unknown");
}

static void resolve_actor(strata_repo *r)
{
	repo_gov *g = &r->gov;
	gov_user *u = find_user(g, g->actor);
	g->role = u ? repo__find_role(r, u->role) : NULL;
}

int repo__gov_load(strata_repo *r)
{
	repo_gov *g = &r->gov;
	names l = {0};
	int rc;
	g->zone_allows = STRATA_CLASSES_ALL;
	actor_name(g->actor, sizeof(g->actor));
#ifdef STRATA_BENCH_NO_GATE
	/* bench/gate.sh builds a second binary with neither gate nor audit,
	 * to measure what they cost; no shipped binary has this switch */
	g->gate_off = true;
#endif
	if ((rc = r->be->ops->list(r->be, "gov/", collect, &l)))
		goto out;
	qsort(l.v, l.n, sizeof(*l.v), cmp_name);
	for (size_t i = 0; !rc && i < l.n; i++)
		rc = load_event(r, l.v[i]);
	if (rc)
		goto out;
	resolve_actor(r);
	rc = g->gate_off ? 0 : repo__audit_open(r);
	if (!rc && !l.n && !g->gate_off) {
		/* made before governance: whoever holds its key claims it */
		const char *admin[] = {g->actor, "admin", ""};
		if (!(rc = repo__gov_event(r, "user.add", admin, 3, NULL, 0))) {
			strata_warn("repository '%s' had no users: '%s' is now "
				    "its admin",
				    r->be->location, g->actor);
			rc = repo__audit_note(r, "user.add", g->actor,
					      "first admin of a repository "
					      "made before governance");
		}
	}
out:
	for (size_t i = 0; i < l.n; i++)
		strata_free(l.v[i]);
	strata_free(l.v);
	return rc;
}

void repo__gov_release(strata_repo *r)
{
	repo_gov *g = &r->gov;
	repo__audit_close(r);
	for (size_t i = 0; i < g->nusers; i++)
		user_free(&g->users[i]);
	strata_free(g->users);
	strata_free(g->roles);
	for (size_t i = 0; i < g->nconsents; i++) {
		strata_free(g->consents[i].target);
		strata_free(g->consents[i].codes);
		strata_free(g->consents[i].by);
		strata_duo_free(g->consents[i].duo);
	}
	strata_free(g->consents);
	for (size_t i = 0; i < g->nwithdrawn; i++) {
		strata_free(g->withdrawn[i].subject);
		strata_free(g->withdrawn[i].by);
	}
	strata_free(g->withdrawn);
	strata_free(g->policy_text);
	strata_guardrails_free(g->guard);
	repo__hybrid_release(r);
	strata_free(g->purpose_text);
	strata_duo_purpose_free(g->purpose);
	memset(g, 0, sizeof(*g));
}

/* ---- writing ---- */

static bool clean_arg(const char *s)
{
	return !strpbrk(s, "\t\n\r");
}

int repo__gov_event(strata_repo *r, const char *op, const char *const *args,
		    size_t nargs, const char *body, size_t bodylen)
{
	strata_buf text = STRATA_BUF_INIT, sealed = STRATA_BUF_INIT;
	char head[128], name[96], rnd_hex[17];
	uint8_t rnd[8];
	int comp, rc;
	uint64_t now = strata_now_ns();
	for (size_t i = 0; i < nargs; i++)
		if (!clean_arg(args[i]))
			return strata_error_set(STRATA_EINVAL,
						"'%s' may not contain tabs or "
						"line breaks",
						args[i]);
	snprintf(head, sizeof(head), "strata-gov\t1\t%" PRIu64 "\t", now);
	text.limit = GOV_MAX_OBJECT;
	rc = strata_buf_puts(&text, head);
	if (!rc)
		rc = strata_buf_puts(&text, r->gov.actor);
	if (!rc)
		rc = strata_buf_put_u8(&text, '\t');
	if (!rc)
		rc = strata_buf_puts(&text, op);
	for (size_t i = 0; !rc && i < nargs; i++)
		if (!(rc = strata_buf_put_u8(&text, '\t')))
			rc = strata_buf_puts(&text, args[i]);
	if (!rc)
		rc = strata_buf_put_u8(&text, '\n');
	if (!rc && bodylen)
		rc = strata_buf_put(&text, body, bodylen);
	/* apply first: an event this strata cannot apply is never stored */
	if (!rc)
		rc = apply(r, (const char *)text.ptr, text.len, op);
	if (!rc)
		rc = strata_codec_seal(r->codec, &sealed, text.ptr, text.len,
				       true, &comp);
	if (!rc) {
		strata_random(rnd, sizeof(rnd));
		strata_hex(rnd_hex, rnd, sizeof(rnd));
		snprintf(name, sizeof(name), "gov/%020" PRIu64 "-%s", now,
			 rnd_hex);
		rc = r->be->ops->put(r->be, name, sealed.ptr, sealed.len);
	}
	if (!rc)
		resolve_actor(r);
	strata_buf_release(&text);
	strata_buf_release(&sealed);
	return rc;
}

/* ---- subjects ---- */

void repo__pseudonym(strata_repo *r, const char *id, char out[24])
{
	uint8_t mac[32];
	strata_hmac_once(mac, r->keys.subject_key, 32, id, strlen(id));
	memcpy(out, "sub-", 4);
	strata_hex(out + 4, mac, 8);
}

/* ---- the gate ---- */

typedef struct subj_list {
	char **v;
	size_t n, cap;
} subj_list;

static int add_subject(const char *key, int type, const char *s, double n,
		       void *payload)
{
	subj_list *l = payload;
	(void)key, (void)type, (void)n;
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 0;
	if (strata_grow(&l->v, &l->cap, l->n, sizeof(*l->v)) ||
	    !(l->v[l->n] = strata_strdup(s)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	l->n++;
	return 0;
}

static void subj_free(subj_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		strata_free(l->v[i]);
	strata_free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Ancestors of a snapshot through lineage, breadth first. */
typedef struct anc {
	uint8_t (*ids)[32];
	size_t n, cap;
} anc;

static int add_anc(const uint8_t other[32], const char *recipe, void *payload)
{
	anc *a = payload;
	(void)recipe;
	for (size_t i = 0; i < a->n; i++)
		if (!memcmp(a->ids[i], other, 32))
			return 0;
	if (a->n >= 4096 || strata_grow(&a->ids, &a->cap, a->n, 32))
		return a->n >= 4096
			   ? 0
			   : strata_error_set(STRATA_ENOMEM, "out of memory");
	memcpy(a->ids[a->n++], other, 32);
	return 0;
}

/* The first withdrawn subject the object touches: among the files' own
 * subjects, or, through lineage, any subject of a source the object does
 * not carry itself (its files cannot be told apart). */
static int find_withdrawn(strata_repo *r, const uint8_t sid[32],
			  const subj_list *own, const subj_list *carried_by,
			  char **subject, char **via)
{
	anc a = {0};
	int rc = 0;
	*subject = *via = NULL;
	for (size_t i = 0; i < own->n; i++)
		if (repo__withdrawn(r, own->v[i]))
			return (*subject = strata_strdup(own->v[i]))
				   ? 0
				   : STRATA_ENOMEM;
	if (!r->gov.nwithdrawn)
		return 0;
	if ((rc = strata_catalog_edges(r->cat, sid, false, add_anc, &a)))
		goto out;
	for (size_t i = 0; !rc && !*subject && i < a.n; i++) {
		subj_list up = {0};
		rc = strata_catalog_values(r->cat, a.ids[i], 0, "subject",
					   add_subject, &up);
		for (size_t j = 0; !rc && j < up.n; j++) {
			bool carried = false;
			for (size_t k = 0; k < carried_by->n; k++)
				carried |= !strcmp(carried_by->v[k], up.v[j]);
			if (carried || !repo__withdrawn(r, up.v[j]))
				continue;
			uint32_t ver;
			char *ds = NULL, buf[200];
			if (!strata_catalog_snap_name(r->cat, a.ids[i], &ds,
						      &ver)) {
				snprintf(buf, sizeof(buf), "%s@v%u", ds, ver);
				*via = strata_strdup(buf);
			}
			strata_free(ds);
			*subject = strata_strdup(up.v[j]);
			break;
		}
		subj_free(&up);
		if (!rc) /* and their sources in turn */
			rc = strata_catalog_edges(r->cat, a.ids[i], false,
						  add_anc, &a);
	}
out:
	strata_free(a.ids);
	return rc;
}

typedef struct guard_payload {
	strata_repo *r;
	const char *dataset;
	uint32_t version;
	uint64_t bad;
	char *example;
	size_t exlen;
} guard_payload;

static int count_bad(const strata_cat_hit *h, void *payload)
{
	guard_payload *p = payload;
	if (h->version != p->version)
		return 0;
	if (!p->bad++)
		snprintf(p->example, p->exlen, "%.*s", (int)h->path_len,
			 h->path);
	return 0;
}

static int files_failing(void *payload, const char *query, uint64_t *nbad,
			 char *example, size_t exlen)
{
	guard_payload *p = payload;
	char q[4096];
	snprintf(q, sizeof(q), "not (%s)", query);
	p->bad = 0;
	p->example = example;
	p->exlen = exlen;
	int rc =
	    strata_catalog_query(p->r->cat, q, p->dataset, true, count_bad, p);
	*nbad = p->bad;
	if (rc && rc != STRATA_ENOMEM)
		strata_error_prefix(rc, "policy query '%s': ", query);
	return rc;
}

static void pend_clear(repo_gov *g)
{
	strata_free(g->pend.action);
	strata_free(g->pend.object);
	strata_free(g->pend.decision);
	strata_free(g->pend.reasons);
	strata_free(g->pend.detail);
	for (size_t i = 0; i < g->pend.nsubjects; i++)
		strata_free(g->pend.subjects[i]);
	strata_free(g->pend.subjects);
	memset(&g->pend, 0, sizeof(g->pend));
}

/* Names of datasets and files may themselves identify someone, so the
 * audit log holds them sealed under the repository key: "~" + hex of
 * nonce | ciphertext | tag. The chain and the signatures cover the sealed
 * text, so 'audit verify' needs no key to check them. */
static char *seal_field(strata_repo *r, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (!s || !r->gov.audit_aead)
		return NULL;
	uint8_t *b = strata_malloc(12 + n + 16);
	char *out = strata_malloc(2 * (12 + n + 16) + 2);
	if (!b || !out) {
		strata_free(b);
		strata_free(out);
		return NULL;
	}
	strata_random(b, 12);
	if (strata_aead_seal(r->gov.audit_aead, b + 12, b, "audit", 5, s, n)) {
		strata_free(b);
		strata_free(out);
		return NULL;
	}
	out[0] = '~';
	strata_hex(out + 1, b, 12 + n + 16);
	strata_free(b);
	return out;
}

char *repo__audit_unseal(strata_repo *r, const char *s)
{
	size_t hl = s ? strlen(s) : 0;
	if (!s || s[0] != '~' || hl < 1 + 2 * 28 || (hl - 1) % 2 ||
	    !r->gov.audit_aead)
		return s ? strata_strdup(s) : NULL;
	size_t n = (hl - 1) / 2;
	uint8_t *b = strata_malloc(n);
	char *out = strata_malloc(n - 28 + 1);
	if (!b || !out || strata_unhex(b, n, s + 1) ||
	    strata_aead_open(r->gov.audit_aead, (uint8_t *)out, b, "audit", 5,
			     b + 12, n - 28)) {
		strata_free(b);
		strata_free(out);
		return strata_strdup("(sealed under another key)");
	}
	out[n - 28] = 0;
	strata_free(b);
	return out;
}

/* Queue the pending record with its outcome. */
static void pend_flush(strata_repo *r, const char *outcome, uint64_t bytes)
{
	repo_gov *g = &r->gov;
	if (!g->pend.open || !g->audit)
		return;
	strata_audit_rec rec;
	memset(&rec, 0, sizeof(rec));
	rec.actor = g->actor;
	rec.role = g->role ? g->role->name : "none";
	char *obj = seal_field(r, g->pend.object);
	char *why = seal_field(r, g->pend.reasons);
	char *det = seal_field(r, g->pend.detail);
	rec.action = g->pend.action;
	rec.object = obj ? obj : g->pend.object;
	rec.subjects = (const char *const *)g->pend.subjects;
	rec.nsubjects = g->pend.nsubjects;
	rec.purpose = g->purpose_text;
	rec.decision = g->pend.decision;
	rec.reasons = why ? why : g->pend.reasons;
	rec.outcome = outcome;
	rec.bytes = bytes;
	rec.detail = det ? det : g->pend.detail;
	if (strata_audit_append(g->audit, &rec))
		strata_warn("audit: %s", strata_error_msg());
	strata_free(obj);
	strata_free(why);
	strata_free(det);
	pend_clear(g);
}

static int pend_start(strata_repo *r, const char *action, const char *object,
		      subj_list *subjects, const strata_gate_decision *d)
{
	repo_gov *g = &r->gov;
	pend_flush(r, "error", 0);
	g->pend.action = strata_strdup(action);
	g->pend.object = object ? strata_strdup(object) : NULL;
	g->pend.decision = strata_strdup(d->allow ? "allow" : "deny");
	g->pend.reasons = d->allow
			      ? (d->notes[0] ? strata_strdup(d->notes) : NULL)
			      : strata_strdup(d->why);
	if (subjects) { /* taken over */
		g->pend.subjects = subjects->v;
		g->pend.nsubjects = subjects->n;
		memset(subjects, 0, sizeof(*subjects));
	}
	g->pend.open = true;
	if (!g->pend.action || !g->pend.decision)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	return 0;
}

void repo__audit_done(strata_repo *r, int rc, uint64_t bytes)
{
	pend_flush(r,
		   rc == 0		   ? "ok"
		   : rc == STRATA_EPARTIAL ? "partial"
		   : rc == STRATA_EDENIED  ? "denied"
					   : "error",
		   bytes);
}

int repo__audit_note(strata_repo *r, const char *action, const char *object,
		     const char *detail)
{
	strata_gate_decision d;
	memset(&d, 0, sizeof(d));
	d.allow = true;
	int rc = pend_start(r, action, object, NULL, &d);
	if (!rc && detail && !(r->gov.pend.detail = strata_strdup(detail)))
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
	repo__audit_done(r, rc, 0);
	return rc;
}

static int consent_check_subjects(strata_repo *r, const subj_list *subs,
				  strata_gate_req *q)
{
	/* a subject's own consent narrows the dataset's: the first one the
	 * purpose does not satisfy is the one the gate reports */
	for (size_t i = 0; i < subs->n; i++) {
		gov_consent *c = repo__find_consent(r, subs->v[i]);
		char why[512];
		if (!c)
			continue;
		if (!r->gov.purpose ||
		    strata_duo_match(c->duo, r->gov.purpose, q->duo_ctx, why,
				     sizeof(why))) {
			q->consent = c->duo;
			q->consent_text = c->codes;
			return 0;
		}
	}
	return 0;
}

/* The guardrail action names (docs/policy.md) of a request. */
static const char *guard_action(const repo_access *a)
{
	static const char *const keep[] = {"restore", "push", "pull", "deid",
					   "export"};
	for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++)
		if (!strcmp(a->verb, keep[i]))
			return keep[i];
	switch (a->action) {
	case STRATA_ACT_WRITE:
		return "ingest";
	case STRATA_ACT_DERIVE:
		return "derive";
	case STRATA_ACT_EXPORT:
		return "export";
	default:
		return "read";
	}
}

int repo__gate(strata_repo *r, const repo_access *a)
{
	repo_gov *g = &r->gov;
	strata_gate_req q;
	strata_gate_decision d;
	strata_duo_context dc;
	strata_snapshot s;
	subj_list subs = {0};
	char object[512], *wsub = NULL, *wvia = NULL;
	uint8_t sid[32];
	bool have_snap = false;
	int rc;

	if (g->gate_off)
		return 0;
	if (g->policy_rc)
		return strata_error_set(STRATA_EINVAL,
					"the repository's policy file is "
					"malformed, so every operation stops "
					"until an admin fixes it with 'strata "
					"policy set FILE': %s",
					g->policy_err);
	memset(&q, 0, sizeof(q));
	memset(&dc, 0, sizeof(dc));
	memset(&s, 0, sizeof(s));
	dc.user = g->actor;
	dc.now_s = (int64_t)(strata_now_ns() / 1000000000u);
	q.actor = g->actor;
	q.role = g->role;
	q.action = a->action;
	q.verb = a->verb;
	q.duo_ctx = &dc;
	q.purpose = g->purpose;
	q.purpose_text = g->purpose_text;
	object[0] = 0;
	if (a->spec) {
		if ((rc = repo__open_spec(r, a->spec, &s, sid)))
			return rc;
		have_snap = true;
		snprintf(object, sizeof(object), "'%s@v%u%s%s'", s.dataset,
			 s.version, a->path ? ":" : "", a->path ? a->path : "");
		int c = strata_class_parse(s.klass);
		q.classes = c >= 0 ? 1u << c : STRATA_CLASSES_ALL;
	} else if (a->dataset) {
		snprintf(object, sizeof(object), "'%s'", a->dataset);
	}
	if (a->klass) {
		int c = strata_class_parse(a->klass);
		if (c < 0) {
			rc = strata_error_set(
			    STRATA_EINVAL,
			    "unknown data class '%s' (expected "
			    "phi, limited, deid, aggregate "
			    "or public)",
			    a->klass);
			goto out;
		}
		q.classes |= 1u << c;
	}
	q.classes |= a->classes;
	q.object = object[0] ? object : NULL;
	if (a->action == STRATA_ACT_WRITE || a->action == STRATA_ACT_DERIVE) {
		q.zone = r->zone;
		q.zone_allows = g->zone_allows;
	}
	if (a->dest_zone) {
		q.zone = a->dest_zone;
		q.zone_allows = a->dest_allows;
		q.consent_needed = true;
	}
	const char *ds = have_snap ? s.dataset : a->dataset;
	/* consent governs the use of data: reading, deriving, exporting */
	bool uses = a->action == STRATA_ACT_READ ||
		    a->action == STRATA_ACT_DERIVE ||
		    a->action == STRATA_ACT_EXPORT;
	gov_consent *dsc = ds && uses ? repo__find_consent(r, ds) : NULL;
	if (dsc) {
		q.consent = dsc->duo;
		q.consent_text = dsc->codes;
	}
	if (have_snap) {
		int64_t row = 0;
		if (a->path &&
		    (rc =
			 strata_catalog_file_row(r->cat, sid, a->path, &row)) &&
		    rc != STRATA_ENOTFOUND)
			goto out;
		rc = (a->path && !row)
			 ? 0
			 : strata_catalog_values(r->cat, sid, row, "subject",
						 add_subject, &subs);
		/* a subject the version carries in some file blocks only
		 * those files; one it only inherits blocks all of it */
		subj_list all = {0};
		if (!rc && row && r->gov.nwithdrawn)
			rc = strata_catalog_values(r->cat, sid, 0, "subject",
						   add_subject, &all);
		if (!rc)
			rc = find_withdrawn(r, sid, &subs, row ? &all : &subs,
					    &wsub, &wvia);
		subj_free(&all);
		if (rc)
			goto out;
		q.withdrawn_subject = wsub;
		q.withdrawn_via = wvia;
		if (!dsc || !strata_duo_match(dsc->duo, g->purpose, &dc, d.why,
					      sizeof(d.why)))
			consent_check_subjects(r, &subs, &q);
	}
	guard_payload gp = {r, ds, have_snap ? s.version : 0, 0, NULL, 0};
	strata_guard_ctx gc;
	memset(&gc, 0, sizeof(gc));
	gc.action = guard_action(a);
	gc.dataset = ds;
	gc.layer = have_snap ? s.layer : a->layer;
	gc.klass = have_snap ? s.klass : a->klass;
	gc.zone = a->dest_zone;
	gc.purpose = g->purpose_text;
	gc.actor = g->actor;
	gc.role = g->role ? g->role->name : NULL;
	gc.has_consent = dsc != NULL;
	gc.files_failing = have_snap ? files_failing : NULL;
	gc.payload = &gp;
	q.guard = g->guard;
	q.guard_ctx = &gc;
	rc = strata_gate_check(&q, &d);
	if (rc && rc != STRATA_EDENIED)
		goto out;
	char audit_obj[512];
	snprintf(audit_obj, sizeof(audit_obj), "%s",
		 object[0] == '\'' ? object + 1 : object);
	size_t ol = strlen(audit_obj);
	if (ol && audit_obj[ol - 1] == '\'')
		audit_obj[ol - 1] = 0;
	int prc =
	    pend_start(r, a->verb, audit_obj[0] ? audit_obj : NULL, &subs, &d);
	if (rc == STRATA_EDENIED) {
		repo__audit_done(r, rc, 0);
		repo__audit_commit(r);
		rc = strata_error_set(STRATA_EDENIED, "denied by %s: %s",
				      d.rule, d.why);
	} else {
		rc = prc;
	}
out:
	strata_free(wsub);
	strata_free(wvia);
	subj_free(&subs);
	if (have_snap)
		strata_snapshot_release(&s);
	return rc;
}

int repo__gate_manage(strata_repo *r, int action, const char *verb,
		      const char *object)
{
	repo_access a;
	memset(&a, 0, sizeof(a));
	a.action = action;
	a.verb = verb;
	a.dataset = object;
	/* governance acts on no data class: any grant of the action will do */
	unsigned gr = r->gov.role ? r->gov.role->grants[action] : 0;
	a.classes = gr ? gr & (~gr + 1) : 1u << STRATA_CLASS_PHI;
	return repo__gate(r, &a);
}

/* ---- audit ---- */

int repo__audit_open(strata_repo *r)
{
	char *dir = r->gov.audit_dir;
	const char *loc = r->be->location;
	if (!strncmp(loc, "s3://", 5)) /* until the log lives in the store */
		snprintf(dir, sizeof(r->gov.audit_dir), "%s/audit",
			 r->be->ops->local_dir(r->be));
	else
		snprintf(dir, sizeof(r->gov.audit_dir), "%s/audit", loc);
	int rc = strata_aead_new(&r->gov.audit_aead, r->keys.catalog_key);
	if (rc)
		return rc;
	return strata_audit_open(&r->gov.audit, dir, r->id, r->keys.audit_seed);
}

int repo__audit_commit(strata_repo *r)
{
	if (!r->gov.audit)
		return 0;
	pend_flush(r, "error", 0);
	int rc = strata_audit_commit(r->gov.audit);
	if (rc)
		strata_error_prefix(rc, "audit log: ");
	return rc;
}

void repo__audit_close(strata_repo *r)
{
	if (!r->gov.audit)
		return;
	if (repo__audit_commit(r))
		strata_warn("%s", strata_error_msg());
	strata_audit_close(r->gov.audit);
	r->gov.audit = NULL;
	strata_aead_free(r->gov.audit_aead);
	r->gov.audit_aead = NULL;
	pend_clear(&r->gov);
}

int repo__gov_init(strata_repo *r, const char *allow)
{
	repo_gov *g = &r->gov;
	unsigned mask = STRATA_CLASSES_ALL;
	int rc;
	g->zone_allows = STRATA_CLASSES_ALL;
	actor_name(g->actor, sizeof(g->actor));
	if (allow && (rc = strata_classes_parse(allow, &mask)))
		return rc;
	char cl[96];
	strata_classes_format(mask, cl, sizeof(cl), ",");
	const char *admin[] = {g->actor, "admin", ""};
	const char *zone[] = {cl};
	/* the creator is the first admin */
	if ((rc = repo__gov_event(r, "user.add", admin, 3, NULL, 0)) ||
	    (rc = repo__gov_event(r, "zone.set", zone, 1, NULL, 0)) ||
	    (rc = repo__audit_open(r)))
		return rc;
	char detail[400];
	snprintf(detail, sizeof(detail), "zone %s allows %s; admin %s", r->zone,
		 cl, g->actor);
	return repo__audit_note(r, "init", NULL, detail);
}

int repo__gate_read(strata_repo *r, const char *verb, const char *spec,
		    const char *path)
{
	repo_access a;
	memset(&a, 0, sizeof(a));
	a.action = STRATA_ACT_READ;
	a.verb = verb;
	a.spec = spec;
	a.path = path && *path ? path : NULL;
	return repo__gate(r, &a);
}

bool repo__may_read_phi(strata_repo *r)
{
	return r->gov.gate_off ||
	       strata_role_allows(r->gov.role, STRATA_ACT_READ,
				  STRATA_CLASS_PHI);
}

unsigned repo__readable(strata_repo *r)
{
	return r->gov.gate_off ? STRATA_CLASSES_ALL
	       : r->gov.role   ? r->gov.role->grants[STRATA_ACT_READ]
			       : 0;
}
