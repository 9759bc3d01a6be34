/*
 * govapi.c - the governance half of the public API: users, roles, the
 * zone, consent and withdrawal, impact, the subject table, the policy
 * file and the audit log. Each call passes the gate first.
 */
#include "repo/repo_int.h"

const char *strata_repo_actor(const strata_repo *r)
{
	return r->gov.actor;
}

const char *strata_repo_role(const strata_repo *r)
{
	return r->gov.role ? r->gov.role->name : NULL;
}

int strata_repo_set_purpose(strata_repo *r, const char *purpose)
{
	repo_gov *g = &r->gov;
	strata_duo_purpose *p = NULL;
	if (!purpose) { /* the user's default */
		for (size_t i = 0; i < g->nusers; i++)
			if (!strcmp(g->users[i].name, g->actor))
				purpose = g->users[i].purpose;
		if (!purpose)
			return 0;
	}
	int rc = strata_duo_purpose_parse(&p, purpose);
	if (rc)
		return strata_error_prefix(rc, "--purpose: ");
	strata_duo_purpose_free(g->purpose);
	strata_free(g->purpose_text);
	g->purpose = p;
	g->purpose_text = strata_strdup(purpose);
	return g->purpose_text
		   ? 0
		   : strata_error_set(STRATA_ENOMEM, "out of memory");
}

/* Run a governance event behind the gate, audited. */
static int manage(strata_repo *r, int action, const char *verb,
		  const char *object, const char *op, const char *const *args,
		  size_t nargs, const char *body, size_t bodylen)
{
	int rc = repo__gate_manage(r, action, verb, object);
	if (rc)
		return rc;
	rc = repo__gov_event(r, op, args, nargs, body, bodylen);
	repo__audit_done(r, rc, 0);
	return rc;
}

int strata_repo_user_add(strata_repo *r, const char *name, const char *role,
			 const char *purpose)
{
	if (!*name || strlen(name) > 127)
		return strata_error_set(STRATA_EINVAL, "bad user name '%s'",
					name);
	if (!repo__find_role(r, role))
		return strata_error_set(STRATA_ENOTFOUND,
					"no role '%s': see 'strata role ls', "
					"or create it with 'strata role add'",
					role);
	if (purpose) {
		strata_duo_purpose *p = NULL;
		int rc = strata_duo_purpose_parse(&p, purpose);
		strata_duo_purpose_free(p);
		if (rc)
			return strata_error_prefix(rc, "--purpose: ");
	}
	const char *args[] = {name, role, purpose ? purpose : ""};
	return manage(r, STRATA_ACT_MANAGE, "user.add", name, "user.add", args,
		      3, NULL, 0);
}

int strata_repo_user_rm(strata_repo *r, const char *name)
{
	bool known = false;
	for (size_t i = 0; i < r->gov.nusers; i++)
		known |= !strcmp(r->gov.users[i].name, name);
	if (!known)
		return strata_error_set(STRATA_ENOTFOUND, "no user '%s'", name);
	const char *args[] = {name};
	return manage(r, STRATA_ACT_MANAGE, "user.rm", name, "user.rm", args, 1,
		      NULL, 0);
}

int strata_repo_users(strata_repo *r, strata_user_cb cb, void *payload)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < r->gov.nusers; i++) {
		gov_user *u = &r->gov.users[i];
		strata_user_info ui = {u->name, u->role, u->purpose};
		rc = cb(&ui, payload);
	}
	return rc;
}

int strata_repo_role_add(strata_repo *r, const char *name, const char *grants)
{
	strata_role role;
	if (!strata_role_name_ok(name))
		return strata_error_set(STRATA_EINVAL,
					"bad role name '%s': use a-z, 0-9, '-' "
					"and '_'",
					name);
	if (strata_role_builtin(name))
		return strata_error_set(STRATA_EEXIST,
					"'%s' is a built-in role: pick another "
					"name",
					name);
	int rc = strata_role_parse_grants(&role, grants);
	if (rc)
		return rc;
	const char *args[] = {name, grants};
	return manage(r, STRATA_ACT_MANAGE, "role.add", name, "role.add", args,
		      2, NULL, 0);
}

int strata_repo_roles(strata_repo *r, strata_role_cb cb, void *payload)
{
	char g[512];
	int rc = 0;
	for (size_t i = 0; !rc && i < strata_role_builtin_count(); i++) {
		const strata_role *ro = strata_role_builtin_at(i);
		strata_role_format_grants(ro, g, sizeof(g));
		strata_role_info ri = {ro->name, g, true};
		rc = cb(&ri, payload);
	}
	for (size_t i = 0; !rc && i < r->gov.nroles; i++) {
		strata_role_format_grants(&r->gov.roles[i], g, sizeof(g));
		strata_role_info ri = {r->gov.roles[i].name, g, false};
		rc = cb(&ri, payload);
	}
	return rc;
}

int strata_repo_zone_get(strata_repo *r, const char **name, char *allows,
			 size_t n)
{
	*name = r->zone;
	strata_classes_format(r->gov.zone_allows, allows, n, ",");
	return 0;
}

int strata_repo_zone_set(strata_repo *r, const char *allow)
{
	unsigned mask;
	char cl[96];
	int rc = strata_classes_parse(allow, &mask);
	if (rc)
		return rc;
	strata_classes_format(mask, cl, sizeof(cl), ",");
	const char *args[] = {cl};
	return manage(r, STRATA_ACT_MANAGE, "zone.set", r->zone, "zone.set",
		      args, 1, NULL, 0);
}

static bool dataset_exists(strata_repo *r, const char *name)
{
	strata_snapshot s;
	uint8_t id[32];
	if (strchr(name, '@') || repo__open_spec(r, name, &s, id))
		return false;
	strata_snapshot_release(&s);
	return true;
}

int strata_repo_subject(strata_repo *r, const char *subject, char out[24])
{
	size_t n = strlen(subject);
	if (n == 20 && !strncmp(subject, "sub-", 4) &&
	    strspn(subject + 4, "0123456789abcdef") == 16) {
		memcpy(out, subject, 21);
		return 0;
	}
	if (!n)
		return strata_error_set(STRATA_EINVAL, "empty subject");
	repo__pseudonym(r, subject, out);
	return 0;
}

int strata_repo_consent_set(strata_repo *r, const char *target,
			    const char *codes)
{
	strata_duo *d = NULL;
	char *canon = NULL, pseudo[24];
	int rc = strata_duo_parse_at(&d, codes,
				     (int64_t)(strata_now_ns() / 1000000000u));
	if (rc)
		return strata_error_prefix(rc, "consent: ");
	if ((rc = strata_duo_format(d, &canon)))
		goto out;
	if (strata_duo_unknown(d))
		strata_warn("consent for '%s': unknown code(s) %s: every "
			    "request will be denied until they are replaced",
			    target, strata_duo_unknown(d));
	const char *t = target;
	if (!dataset_exists(r, target)) {
		if ((rc = strata_repo_subject(r, target, pseudo)))
			goto out;
		t = pseudo;
	}
	const char *args[] = {t, canon};
	rc = manage(r, STRATA_ACT_CONSENT, "consent.set", t, "consent.set",
		    args, 2, NULL, 0);
out:
	strata_free(canon);
	strata_duo_free(d);
	return rc;
}

int strata_repo_consent_withdraw(strata_repo *r, const char *subject)
{
	char pseudo[24];
	int rc = strata_repo_subject(r, subject, pseudo);
	if (rc)
		return rc;
	const char *args[] = {pseudo};
	return manage(r, STRATA_ACT_CONSENT, "consent.withdraw", pseudo,
		      "consent.withdraw", args, 1, NULL, 0);
}

int strata_repo_consents(strata_repo *r, strata_consent_cb cb, void *payload)
{
	repo_gov *g = &r->gov;
	int rc = 0;
	for (size_t i = 0; !rc && i < g->nconsents; i++) {
		gov_consent *c = &g->consents[i];
		strata_consent_info ci = {c->target,
					  c->codes,
					  c->by,
					  c->time_ns,
					  !strncmp(c->target, "sub-", 4),
					  repo__withdrawn(r, c->target)};
		rc = cb(&ci, payload);
	}
	for (size_t i = 0; !rc && i < g->nwithdrawn; i++) {
		gov_withdrawal *w = &g->withdrawn[i];
		if (repo__find_consent(r, w->subject))
			continue;
		strata_consent_info ci = {w->subject, NULL, w->by,
					  w->time_ns, true, true};
		rc = cb(&ci, payload);
	}
	return rc;
}

/* ---- impact: the subject's files, and every version derived ---- */

typedef struct impact_ctx {
	strata_repo *r;
	strata_impact_cb cb;
	void *payload;
	uint8_t (*seen)[32];
	size_t nseen, cap;
	uint64_t files;
} impact_ctx;

static int seen(impact_ctx *x, const uint8_t id[32])
{
	for (size_t i = 0; i < x->nseen; i++)
		if (!memcmp(x->seen[i], id, 32))
			return 1;
	if (strata_grow(&x->seen, &x->cap, x->nseen, 32))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	memcpy(x->seen[x->nseen++], id, 32);
	return 0;
}

static int impact_hit(const strata_cat_hit *h, void *payload)
{
	impact_ctx *x = payload;
	strata_impact_info ii = {h->dataset, h->version, h->path, h->path_len,
				 NULL};
	x->files++;
	return x->cb(&ii, x->payload);
}

static int snap_of(strata_repo *r, const char *ds, uint32_t v, uint8_t id[32])
{
	char spec[300];
	strata_snapshot s;
	snprintf(spec, sizeof(spec), "%s@v%u", ds, v);
	int rc = repo__open_spec(r, spec, &s, id);
	if (!rc)
		strata_snapshot_release(&s);
	return rc;
}

typedef struct down_ctx {
	impact_ctx *x;
	const char *via;
} down_ctx;

static int impact_down(const uint8_t other[32], const char *recipe,
		       void *payload);

static int walk_down(impact_ctx *x, const uint8_t id[32], const char *via)
{
	down_ctx d = {x, via};
	return strata_catalog_edges(x->r->cat, id, true, impact_down, &d);
}

static int impact_down(const uint8_t other[32], const char *recipe,
		       void *payload)
{
	down_ctx *d = payload;
	char *ds = NULL;
	uint32_t v;
	(void)recipe;
	int rc = seen(d->x, other);
	if (rc)
		return rc < 0 ? rc : 0;
	if ((rc = strata_catalog_snap_name(d->x->r->cat, other, &ds, &v)))
		return rc;
	strata_impact_info ii = {ds, v, NULL, 0, d->via};
	rc = d->x->cb(&ii, d->x->payload);
	char via[300];
	snprintf(via, sizeof(via), "%s@v%u", ds, v);
	strata_free(ds);
	return rc ? rc : walk_down(d->x, other, via);
}

typedef struct ver_list {
	char **ds;
	uint32_t *v;
	size_t n, cap, capv;
} ver_list;

static int collect_ver(const strata_cat_hit *h, void *payload)
{
	ver_list *l = payload;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == h->version && !strcmp(l->ds[i], h->dataset))
			return 0;
	if (strata_grow(&l->ds, &l->cap, l->n, sizeof(*l->ds)) ||
	    strata_grow(&l->v, &l->capv, l->n, sizeof(*l->v)) ||
	    !(l->ds[l->n] = strata_strdup(h->dataset)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	l->v[l->n++] = h->version;
	return 0;
}

int strata_repo_impact(strata_repo *r, const char *subject, strata_impact_cb cb,
		       void *payload)
{
	char pseudo[24], q[64];
	impact_ctx x = {r, cb, payload, NULL, 0, 0, 0};
	ver_list vl = {0};
	int rc = strata_repo_subject(r, subject, pseudo);
	if (rc ||
	    (rc = repo__gate_manage(r, STRATA_ACT_CONSENT, "impact", pseudo)))
		return rc;
	snprintf(q, sizeof(q), "subject = '%s'", pseudo);
	/* the subject's own files, then what was made from those versions */
	rc = strata_catalog_query(r->cat, q, NULL, true, impact_hit, &x);
	if (!rc)
		rc = strata_catalog_query(r->cat, q, NULL, true, collect_ver,
					  &vl);
	for (size_t i = 0; !rc && i < vl.n; i++) {
		uint8_t id[32];
		char via[300];
		snprintf(via, sizeof(via), "%s@v%u", vl.ds[i], vl.v[i]);
		if (!(rc = snap_of(r, vl.ds[i], vl.v[i], id)) &&
		    (rc = seen(&x, id)) == 0)
			rc = walk_down(&x, id, via);
		rc = rc > 0 ? 0 : rc;
	}
	for (size_t i = 0; i < vl.n; i++)
		strata_free(vl.ds[i]);
	strata_free(vl.ds);
	strata_free(vl.v);
	strata_free(x.seen);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- the subject table ---- */

typedef struct subj_ctx {
	strata_repo *r;
	strata_subject_cb cb;
	void *payload;
	char **done;
	size_t n, cap;
} subj_ctx;

static int subj_attr(const char *key, int type, const char *s, double n,
		     void *payload)
{
	subj_ctx *x = payload;
	char pseudo[24];
	(void)type, (void)n;
	if (strcmp(key, "subject.id") || !s)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->done[i], s))
			return 0;
	if (strata_grow(&x->done, &x->cap, x->n, sizeof(*x->done)) ||
	    !(x->done[x->n] = strata_strdup(s)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	x->n++;
	repo__pseudonym(x->r, s, pseudo);
	strata_subject_info si = {pseudo, s};
	return x->cb(&si, x->payload);
}

static int subj_hit(const strata_cat_hit *h, void *payload)
{
	subj_ctx *x = payload;
	return strata_catalog_file_attrs(x->r->cat, h->file_row, subj_attr, x);
}

int strata_repo_subjects(strata_repo *r, strata_subject_cb cb, void *payload)
{
	subj_ctx x = {r, cb, payload, NULL, 0, 0};
	int rc = repo__gate_manage(r, STRATA_ACT_REIDENTIFY, "subjects", NULL);
	if (rc)
		return rc;
	rc = strata_catalog_query(r->cat, "subject ~ 'sub-*'", NULL, true,
				  subj_hit, &x);
	for (size_t i = 0; i < x.n; i++)
		strata_free(x.done[i]);
	strata_free(x.done);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- policy ---- */

int strata_repo_policy_set(strata_repo *r, const char *text, size_t len)
{
	strata_guardrails *g = NULL;
	int rc = len ? strata_guardrails_parse(&g, text, len, "policy") : 0;
	strata_guardrails_free(g);
	if (rc)
		return rc; /* never store a policy that would stop everything */
	/* an admin may repair a malformed policy: the gate would refuse */
	int saved = r->gov.policy_rc;
	r->gov.policy_rc = 0;
	rc = manage(r, STRATA_ACT_MANAGE, "policy.set", NULL, "policy.set",
		    NULL, 0, text, len);
	if (rc && saved)
		r->gov.policy_rc = saved;
	return rc;
}

int strata_repo_policy_get(strata_repo *r, const char **text)
{
	*text = r->gov.policy_text;
	return 0;
}

/* ---- audit ---- */

const char *strata_repo_audit_dir(strata_repo *r)
{
	return r->gov.audit_dir;
}

typedef struct unseal_ctx {
	strata_repo *r;
	int (*cb)(const strata_audit_rec *rec, void *payload);
	void *payload;
} unseal_ctx;

static int unseal_rec(const strata_audit_rec *rec, void *payload)
{
	unseal_ctx *x = payload;
	strata_audit_rec o = *rec;
	char *obj = repo__audit_unseal(x->r, rec->object);
	char *why = repo__audit_unseal(x->r, rec->reasons);
	char *det = repo__audit_unseal(x->r, rec->detail);
	o.object = obj;
	o.reasons = why;
	o.detail = det;
	int rc = x->cb(&o, x->payload);
	strata_free(obj);
	strata_free(why);
	strata_free(det);
	return rc;
}

int strata_repo_audit_scan(strata_repo *r, const strata_audit_filter *f,
			   int (*cb)(const strata_audit_rec *rec,
				     void *payload),
			   void *payload)
{
	unseal_ctx x = {r, cb, payload};
	int rc = repo__gate_manage(r, STRATA_ACT_AUDIT, "audit.read", NULL);
	if (rc)
		return rc;
	/* the reading itself is recorded after what it reads */
	rc = strata_audit_scan(r->gov.audit_dir, f, unseal_rec, &x);
	repo__audit_done(r, rc, 0);
	return rc;
}

int strata_repo_audit_verify(strata_repo *r, strata_audit_report *rep)
{
	uint8_t pk[32], sk[64];
	int rc = repo__gate_manage(r, STRATA_ACT_AUDIT, "audit.verify", NULL);
	if (rc)
		return rc;
	/* records of this session are on disk first, so verify sees all */
	if ((rc = repo__audit_commit(r)))
		return rc;
	strata_audit_keypair(r->keys.audit_seed, pk, sk);
	strata_wipe(sk, sizeof(sk));
	rc = strata_audit_verify(r->gov.audit_dir, r->id, pk, rep);
	repo__audit_done(r, rc, 0);
	return rc;
}

bool strata_repo_may_see(strata_repo *r, const char *key)
{
	return repo__may_read_phi(r) || !strata_catalog_key_sealed(key);
}
