/*
 * push.c - hybrid: remotes, policy-gated push and pull of versions between
 * repositories (zones never share keys, so every chunk is decrypted and
 * sealed again under the destination's keys, and only the chunks the
 * destination lacks travel), replica tracking and egress accounting.
 *
 * A transfer writes packs, then index objects every few packs (so a push
 * that dies resumes without resending what landed), then trees, the
 * metadata records (without PHI attributes or identifiers), and the
 * snapshot last: a partial version is never visible.
 */
#include "repo/repo_int.h"

#define INDEX_EVERY 4 /* packs between index objects during a transfer */

typedef struct remote_ent {
	char *name, *url, *zone;
} remote_ent;

typedef struct replica {
	char *dataset, *remote;
	uint32_t version, rversion;
	int64_t time_ns;
} replica;

typedef struct egress {
	char *remote, *zone, *dataset, *project;
	uint32_t version;
	uint64_t bytes;
	int64_t time_ns;
} egress;

typedef struct price {
	char *target; /* remote name or zone */
	double usd_per_gib;
} price;

typedef struct budget {
	char *project;
	double usd_per_month;
} budget;

struct repo_hybrid {
	remote_ent *remotes;
	size_t nremotes, cap_remotes;
	replica *replicas;
	size_t nreplicas, cap_replicas;
	egress *egress;
	size_t negress, cap_egress;
	price *prices;
	size_t nprices, cap_prices;
	budget *budgets;
	size_t nbudgets, cap_budgets;
};

/* ---- state ---- */

static struct repo_hybrid *hy(strata_repo *r)
{
	if (!r->gov.hy)
		r->gov.hy = strata_calloc(1, sizeof(*r->gov.hy));
	return r->gov.hy;
}

static remote_ent *find_remote(strata_repo *r, const char *name)
{
	struct repo_hybrid *h = r->gov.hy;
	for (size_t i = 0; h && i < h->nremotes; i++)
		if (!strcmp(h->remotes[i].name, name))
			return &h->remotes[i];
	return NULL;
}

static int nomem(void)
{
	return strata_error_set(STRATA_ENOMEM, "out of memory");
}

static int dup_three(char **a, const char *x, char **b, const char *y, char **c,
		     const char *z)
{
	*a = strata_strdup(x);
	*b = y ? strata_strdup(y) : NULL;
	*c = z ? strata_strdup(z) : NULL;
	return *a && (!y || *b) && (!z || *c) ? 0 : nomem();
}

static int apply_remote(struct repo_hybrid *h, const char *const *a)
{
	for (size_t i = 0; i < h->nremotes; i++)
		if (!strcmp(h->remotes[i].name, a[0])) {
			strata_free(h->remotes[i].url);
			strata_free(h->remotes[i].zone);
			h->remotes[i].url = strata_strdup(a[1]);
			h->remotes[i].zone = strata_strdup(a[2]);
			return h->remotes[i].url && h->remotes[i].zone
				   ? 0
				   : nomem();
		}
	if (strata_grow(&h->remotes, &h->cap_remotes, h->nremotes,
			sizeof(remote_ent)))
		return nomem();
	remote_ent *m = &h->remotes[h->nremotes++];
	return dup_three(&m->name, a[0], &m->url, a[1], &m->zone, a[2]);
}

static void apply_remote_rm(struct repo_hybrid *h, const char *name)
{
	for (size_t i = 0; i < h->nremotes; i++) {
		if (strcmp(h->remotes[i].name, name))
			continue;
		strata_free(h->remotes[i].name);
		strata_free(h->remotes[i].url);
		strata_free(h->remotes[i].zone);
		h->remotes[i] = h->remotes[--h->nremotes];
		return;
	}
}

static uint32_t u32_of(const char *s)
{
	uint64_t v = 0;
	return strata_parse_u64(s, &v) || v > UINT32_MAX ? 0 : (uint32_t)v;
}

int repo__hybrid_apply(strata_repo *r, const char *op, const char *const *a,
		       size_t na, int64_t t, const char *by)
{
	struct repo_hybrid *h;
	(void)by;
	if (strcmp(op, "remote.add") && strcmp(op, "remote.rm") &&
	    strcmp(op, "replica") && strcmp(op, "egress") &&
	    strcmp(op, "price.set") && strcmp(op, "budget.set"))
		return 1;
	if (!(h = hy(r)))
		return nomem();
	if (!strcmp(op, "remote.add") && na == 3)
		return apply_remote(h, a);
	if (!strcmp(op, "remote.rm") && na == 1) {
		apply_remote_rm(h, a[0]);
		return 0;
	}
	if (!strcmp(op, "replica") && na == 4) {
		if (strata_grow(&h->replicas, &h->cap_replicas, h->nreplicas,
				sizeof(replica)))
			return nomem();
		replica *p = &h->replicas[h->nreplicas++];
		char *unused = NULL;
		p->version = u32_of(a[1]);
		p->rversion = u32_of(a[3]);
		p->time_ns = t;
		return dup_three(&p->dataset, a[0], &p->remote, a[2], &unused,
				 NULL);
	}
	if (!strcmp(op, "egress") && na == 6) {
		if (strata_grow(&h->egress, &h->cap_egress, h->negress,
				sizeof(egress)))
			return nomem();
		egress *e = &h->egress[h->negress++];
		uint64_t b = 0;
		strata_parse_u64(a[5], &b);
		e->version = u32_of(a[3]);
		e->bytes = b;
		e->time_ns = t;
		if (!(e->project = strata_strdup(a[4])))
			return nomem();
		return dup_three(&e->remote, a[0], &e->zone, a[1], &e->dataset,
				 a[2]);
	}
	if (!strcmp(op, "price.set") && na == 2) {
		for (size_t i = 0; i < h->nprices; i++)
			if (!strcmp(h->prices[i].target, a[0])) {
				h->prices[i].usd_per_gib = strtod(a[1], NULL);
				return 0;
			}
		if (strata_grow(&h->prices, &h->cap_prices, h->nprices,
				sizeof(price)))
			return nomem();
		price *p = &h->prices[h->nprices];
		if (!(p->target = strata_strdup(a[0])))
			return nomem();
		p->usd_per_gib = strtod(a[1], NULL);
		h->nprices++;
		return 0;
	}
	if (!strcmp(op, "budget.set") && na == 2) {
		for (size_t i = 0; i < h->nbudgets; i++)
			if (!strcmp(h->budgets[i].project, a[0])) {
				h->budgets[i].usd_per_month =
				    strtod(a[1], NULL);
				return 0;
			}
		if (strata_grow(&h->budgets, &h->cap_budgets, h->nbudgets,
				sizeof(budget)))
			return nomem();
		budget *p = &h->budgets[h->nbudgets];
		if (!(p->project = strata_strdup(a[0])))
			return nomem();
		p->usd_per_month = strtod(a[1], NULL);
		h->nbudgets++;
		return 0;
	}
	return strata_error_set(STRATA_ECORRUPT,
				"governance event '%s' has the wrong number "
				"of fields",
				op);
}

void repo__hybrid_release(strata_repo *r)
{
	struct repo_hybrid *h = r->gov.hy;
	if (!h)
		return;
	for (size_t i = 0; i < h->nremotes; i++) {
		strata_free(h->remotes[i].name);
		strata_free(h->remotes[i].url);
		strata_free(h->remotes[i].zone);
	}
	for (size_t i = 0; i < h->nreplicas; i++) {
		strata_free(h->replicas[i].dataset);
		strata_free(h->replicas[i].remote);
	}
	for (size_t i = 0; i < h->negress; i++) {
		strata_free(h->egress[i].remote);
		strata_free(h->egress[i].zone);
		strata_free(h->egress[i].dataset);
		strata_free(h->egress[i].project);
	}
	for (size_t i = 0; i < h->nprices; i++)
		strata_free(h->prices[i].target);
	for (size_t i = 0; i < h->nbudgets; i++)
		strata_free(h->budgets[i].project);
	strata_free(h->remotes);
	strata_free(h->replicas);
	strata_free(h->egress);
	strata_free(h->prices);
	strata_free(h->budgets);
	strata_free(h);
	r->gov.hy = NULL;
}

/* ---- remotes ---- */

int strata_repo_remote_add(strata_repo *r, const char *name, const char *url,
			   const char *zone)
{
	int rc;
	if (!*name || strlen(name) > 64 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-_") != strlen(name))
		return strata_error_set(STRATA_EINVAL,
					"bad remote name '%s': use letters, "
					"digits, '-' and '_'",
					name);
	if ((rc = repo__gate_manage(r, STRATA_ACT_MANAGE, "remote.add", name)))
		return rc;
	const char *args[] = {name, url, zone ? zone : ""};
	rc = repo__gov_event(r, "remote.add", args, 3, NULL, 0);
	repo__audit_done(r, rc, 0);
	return rc;
}

int strata_repo_remote_rm(strata_repo *r, const char *name)
{
	int rc;
	if (!find_remote(r, name))
		return strata_error_set(STRATA_ENOTFOUND,
					"no remote '%s': see 'strata remote "
					"ls'",
					name);
	if ((rc = repo__gate_manage(r, STRATA_ACT_MANAGE, "remote.rm", name)))
		return rc;
	const char *args[] = {name};
	rc = repo__gov_event(r, "remote.rm", args, 1, NULL, 0);
	repo__audit_done(r, rc, 0);
	return rc;
}

int strata_repo_remotes(strata_repo *r, strata_remote_cb cb, void *payload)
{
	struct repo_hybrid *h = r->gov.hy;
	int rc = 0;
	for (size_t i = 0; !rc && h && i < h->nremotes; i++) {
		strata_remote_info ri = {h->remotes[i].name, h->remotes[i].url,
					 h->remotes[i].zone};
		rc = cb(&ri, payload);
	}
	return rc;
}

int strata_repo_replicas(strata_repo *r, const char *dataset,
			 strata_replica_cb cb, void *payload)
{
	struct repo_hybrid *h = r->gov.hy;
	int rc = repo__gate_read(r, "replicas", NULL, NULL);
	for (size_t i = 0; !rc && h && i < h->nreplicas; i++) {
		replica *p = &h->replicas[i];
		if (dataset && strcmp(dataset, p->dataset))
			continue;
		remote_ent *m = find_remote(r, p->remote);
		strata_replica_info ri = {p->dataset,	   p->version,
					  p->remote,	   p->rversion,
					  m ? m->url : "", p->time_ns};
		rc = cb(&ri, payload);
	}
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- egress: bytes, prices, budgets ---- */

static double price_of(struct repo_hybrid *h, const char *remote,
		       const char *zone)
{
	for (size_t i = 0; h && i < h->nprices; i++)
		if (!strcmp(h->prices[i].target, remote))
			return h->prices[i].usd_per_gib;
	for (size_t i = 0; h && i < h->nprices; i++)
		if (!strcmp(h->prices[i].target, zone))
			return h->prices[i].usd_per_gib;
	return 0;
}

static double cost(uint64_t bytes, double usd_per_gib)
{
	return (double)bytes / (1024.0 * 1024 * 1024) * usd_per_gib;
}

/* Start of the current calendar month (UTC), in ns. */
static int64_t month_start(int64_t now_ns)
{
	time_t t = (time_t)(now_ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return (int64_t)timegm(&tm) * 1000000000;
}

static double spent_this_month(struct repo_hybrid *h, const char *project)
{
	int64_t since = month_start((int64_t)strata_now_ns());
	double usd = 0;
	for (size_t i = 0; h && i < h->negress; i++) {
		egress *e = &h->egress[i];
		if (e->time_ns >= since && !strcmp(e->project, project))
			usd += cost(e->bytes, price_of(h, e->remote, e->zone));
	}
	return usd;
}

int strata_repo_egress_price(strata_repo *r, const char *target, double usd)
{
	char v[64];
	int rc;
	if (usd < 0 || usd > 1e6)
		return strata_error_set(
		    STRATA_EINVAL, "price %.4f per GiB is out of range", usd);
	if ((rc = repo__gate_manage(r, STRATA_ACT_MANAGE, "egress.price",
				    target)))
		return rc;
	snprintf(v, sizeof(v), "%.6f", usd);
	const char *args[] = {target, v};
	rc = repo__gov_event(r, "price.set", args, 2, NULL, 0);
	repo__audit_done(r, rc, 0);
	return rc;
}

int strata_repo_egress_budget(strata_repo *r, const char *project, double usd)
{
	char v[64];
	int rc;
	if (usd < 0)
		return strata_error_set(STRATA_EINVAL, "a budget is >= 0");
	if ((rc = repo__gate_manage(r, STRATA_ACT_MANAGE, "egress.budget",
				    project)))
		return rc;
	snprintf(v, sizeof(v), "%.6f", usd);
	const char *args[] = {project, v};
	rc = repo__gov_event(r, "budget.set", args, 2, NULL, 0);
	repo__audit_done(r, rc, 0);
	return rc;
}

int strata_repo_egress(strata_repo *r, const char *by, int64_t since_ns,
		       strata_egress_cb cb, void *payload)
{
	struct repo_hybrid *h = r->gov.hy;
	typedef struct row {
		char key[300];
		uint64_t bytes, pushes;
		double usd;
	} row;
	row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc = repo__gate_manage(r, STRATA_ACT_AUDIT, "egress", NULL);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && h && i < h->negress; i++) {
		egress *e = &h->egress[i];
		char key[300];
		if (e->time_ns < since_ns)
			continue;
		if (by && !strcmp(by, "dataset"))
			snprintf(key, sizeof(key), "%s", e->dataset);
		else if (by && !strcmp(by, "remote"))
			snprintf(key, sizeof(key), "%s", e->remote);
		else
			snprintf(key, sizeof(key), "%s", e->project);
		size_t j = 0;
		while (j < n && strcmp(rows[j].key, key))
			j++;
		if (j == n) {
			if (strata_grow(&rows, &cap, n, sizeof(row))) {
				rc = nomem();
				break;
			}
			memset(&rows[n], 0, sizeof(row));
			snprintf(rows[n].key, sizeof(rows[n].key), "%s", key);
			n++;
		}
		rows[j].bytes += e->bytes;
		rows[j].pushes++;
		rows[j].usd += cost(e->bytes, price_of(h, e->remote, e->zone));
	}
	for (size_t j = 0; !rc && j < n; j++) {
		strata_egress_info ei = {rows[j].key, rows[j].bytes,
					 rows[j].pushes, rows[j].usd, -1};
		for (size_t k = 0; h && k < h->nbudgets; k++)
			if ((!by || !strcmp(by, "project")) &&
			    !strcmp(h->budgets[k].project, rows[j].key))
				ei.budget_usd = h->budgets[k].usd_per_month;
		rc = cb(&ei, payload);
	}
	strata_free(rows);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- the transfer ---- */

typedef struct xfer {
	strata_repo *src, *dst;
	strata_pack_writer pw;
	uint32_t first_pack, indexed_to;
	strata_xfer_stats *st;
	strata_buf plain, enc;
	strata_progress pr;
	uint64_t budget_left; /* bytes; UINT64_MAX: none */
	bool count_only;      /* first pass of a budgeted push */
	uint64_t would_send;
} xfer;

/* Make what landed so far findable: a killed push resumes from here. */
static int checkpoint(xfer *x, bool force)
{
	strata_repo *d = x->dst;
	if (!force && d->ix.npacks - x->indexed_to < INDEX_EVERY)
		return 0;
	int rc = repo__write_index(d, x->indexed_to);
	if (!rc)
		x->indexed_to = (uint32_t)d->ix.npacks;
	return rc;
}

static int send_blob(xfer *x, uint8_t type, const uint8_t *p, size_t n,
		     uint8_t id[32])
{
	strata_repo *d = x->dst;
	strata_blob_id(d->hmac, id, p, n);
	if (x->count_only) {
		if (!strata_index_find(&d->ix, id))
			x->would_send += n;
		return 0;
	}
	uint64_t before = x->st->bytes_sent;
	pthread_mutex_lock(&d->ix.lock);
	bool have = strata_index_find(&d->ix, id) != NULL;
	pthread_mutex_unlock(&d->ix.lock);
	if (have)
		return 0;
	if (type == STRATA_BLOB_DATA)
		x->st->chunks_sent++;
	int rc = repo__store_blob(d, &x->pw, d->codec, type, id, p, n,
				  type == STRATA_BLOB_TREE, &x->st->bytes_sent);
	if (rc < 0)
		return rc;
	if (x->st->bytes_sent != before)
		rc = checkpoint(x, false);
	return rc;
}

/* Copy tree `id` of src into dst; *out: its id in dst. */
static int copy_tree(xfer *x, const uint8_t id[32], uint8_t out[32])
{
	strata_tree t;
	int rc = repo__load_tree(x->src, id, &t);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < t.n; i++) {
		strata_node *n = &t.nodes[i];
		if (n->type == STRATA_NODE_DIR) {
			rc = copy_tree(x, n->subtree, n->subtree);
			continue;
		}
		if (n->type != STRATA_NODE_FILE)
			continue;
		x->st->files++;
		x->st->bytes_total += n->size;
		for (uint32_t c = 0; !rc && c < n->nchunks; c++) {
			strata_buf_reset(&x->plain);
			if ((rc = repo__load_blob(x->src, x->src->codec,
						  x->src->hmac, n->chunks[c],
						  &x->plain)))
				break;
			x->st->chunks++;
			rc = send_blob(x, STRATA_BLOB_DATA, x->plain.ptr,
				       x->plain.len, n->chunks[c]);
			if (strata_progress_due(&x->pr))
				strata_progress_show(
				    &x->pr,
				    "%s %" PRIu64 " files, %.1f MiB read, "
				    "%.1f MiB sent",
				    x->count_only ? "counting" : "sending",
				    x->st->files,
				    (double)x->st->bytes_total / 1048576.0,
				    (double)x->st->bytes_sent / 1048576.0);
		}
	}
	if (!rc) {
		strata_buf_reset(&x->enc);
		if (!(rc = strata_tree_encode(&t, &x->enc)))
			rc = send_blob(x, STRATA_BLOB_TREE, x->enc.ptr,
				       x->enc.len, out);
	}
	strata_tree_release(&t);
	return rc;
}

/* ---- metadata: PHI attributes and identifiers never travel ---- */

static bool names_subject(const char *key)
{
	return !strcmp(key, "dicom.PatientID") || !strcmp(key, "seq.samples") ||
	       !strcmp(key, "vcf.sample_names");
}

typedef struct meta_copy {
	strata_repo *src;
	repo_metaw *w;
	strata_buf out;
} meta_copy;

static int add_pseudonym(strata_buf *b, uint16_t *count, strata_repo *src,
			 const char *id, size_t n)
{
	char buf[256], pseudo[24];
	while (n && *id == ' ')
		id++, n--;
	if (!n || n >= sizeof(buf))
		return 0;
	memcpy(buf, id, n);
	buf[n] = 0;
	repo__pseudonym(src, buf, pseudo);
	(*count)++;
	int rc;
	if ((rc = strata_buf_put_u8(b, 1)) || (rc = strata_buf_put_u16(b, 7)) ||
	    (rc = strata_buf_put(b, "subject", 7)) ||
	    (rc = strata_buf_put_u32(b, 20)) ||
	    (rc = strata_buf_put(b, pseudo, 20)))
		return rc;
	return 0;
}

static int copy_meta_rec(const repo_meta_rec *m, void *payload)
{
	meta_copy *x = payload;
	strata_rd rd;
	uint16_t kept = 0;
	int rc = 0;
	strata_buf_reset(&x->out);
	if ((rc = strata_buf_put_u16(&x->out, 0)))
		return rc;
	strata_rd_init(&rd, m->attrs, m->attrs_len);
	uint16_t count = m->attrs_len ? strata_rd_u16(&rd) : 0;
	for (uint16_t i = 0; !rc && i < count && !rd.err; i++) {
		size_t start = rd.pos;
		uint8_t type = strata_rd_u8(&rd);
		uint16_t kl = strata_rd_u16(&rd);
		const uint8_t *k = strata_rd_bytes(&rd, kl);
		const uint8_t *v = NULL;
		uint32_t vl = 8;
		if (type == 1) {
			vl = strata_rd_u32(&rd);
			v = strata_rd_bytes(&rd, vl);
		} else {
			v = strata_rd_bytes(&rd, 8);
		}
		char key[512];
		if (!k || !v || kl >= sizeof(key))
			return strata_error_set(STRATA_ECORRUPT,
						"metadata record is cut short");
		memcpy(key, k, kl);
		key[kl] = 0;
		if (names_subject(key) && type == 1) {
			/* identifiers become their pseudonyms */
			const char *s = (const char *)v;
			for (size_t a = 0, b; !rc && a < vl; a = b + 1) {
				for (b = a; b < vl && s[b] != ','; b++)
					;
				rc = add_pseudonym(&x->out, &kept, x->src,
						   s + a, b - a);
			}
		}
		if (strata_catalog_key_sealed(key) || !strcmp(key, "subject"))
			continue;
		kept++;
		rc = strata_buf_put(&x->out, m->attrs + start, rd.pos - start);
	}
	if (!rc && m->subject_len)
		rc = add_pseudonym(&x->out, &kept, x->src, m->subject,
				   m->subject_len);
	if (rc)
		return rc;
	x->out.ptr[0] = (uint8_t)kept;
	x->out.ptr[1] = (uint8_t)(kept >> 8);
	return repo__metaw_add(x->w, m->path, m->path_len, NULL, x->out.ptr,
			       (uint32_t)x->out.len);
}

/* The new version's snapshot in dst, last. */
static int commit_snapshot(xfer *x, const strata_snapshot *s,
			   const uint8_t src_id[32], const uint8_t root[32],
			   const repo_metaw *mw, const char *note)
{
	strata_repo *d = x->dst;
	strata_snapshot n = *s;
	strata_buf plain = STRATA_BUF_INIT, sealed = STRATA_BUF_INIT;
	uint8_t prev[32], sid[32], src[1][32];
	uint32_t latest = 0;
	char hex[65], name[80];
	int comp, rc;
	if ((rc = strata_catalog_begin(d->cat)))
		return rc;
	if ((rc = repo__sync(d)))
		goto fail;
	rc = strata_catalog_find(d->cat, s->dataset, 0, prev, &latest);
	if (rc && rc != STRATA_ENOTFOUND)
		goto fail;
	n.version = latest + 1;
	n.has_parent = latest > 0;
	if (latest)
		memcpy(n.parent, prev, 32);
	memcpy(n.root, root, 32);
	n.zone = d->zone;
	/* provenance across locations: the origin snapshot */
	memcpy(src[0], src_id, 32);
	n.sources = src;
	n.nsources = 1;
	n.recipe = (char *)note;
	n.meta = mw->ids;
	n.nmeta = (uint32_t)mw->n;
	n.time_ns = (int64_t)strata_now_ns();
	if ((rc = strata_snapshot_encode(&n, &plain)) ||
	    (rc = strata_codec_seal(d->codec, &sealed, plain.ptr, plain.len,
				    true, &comp)))
		goto fail;
	strata_sha256(sid, sealed.ptr, sealed.len);
	strata_hex(hex, sid, 32);
	snprintf(name, sizeof(name), "snapshots/%s", hex);
	if ((rc = d->be->ops->put(d->be, name, sealed.ptr, sealed.len)))
		goto fail;
	x->st->bytes_sent += sealed.len;
	if ((rc = repo__import(d, sid, &n)) ||
	    (rc = strata_catalog_commit(d->cat)))
		goto fail;
	x->st->dst_version = n.version;
	goto out;
fail:
	strata_catalog_rollback(d->cat);
out:
	strata_buf_release(&plain);
	strata_buf_release(&sealed);
	return rc;
}

static int transfer(xfer *x, const char *spec, const char *note)
{
	strata_snapshot s;
	uint8_t sid[32], root[32];
	repo_metaw mw;
	meta_copy mc;
	int rc = repo__open_spec(x->src, spec, &s, sid);
	if (rc)
		return rc;
	memset(&mw, 0, sizeof(mw));
	memset(&mc, 0, sizeof(mc));
	snprintf(x->st->dataset, sizeof(x->st->dataset), "%s", s.dataset);
	x->st->src_version = s.version;
	x->indexed_to = (uint32_t)x->dst->ix.npacks;
	x->plain.limit = STRATA_BLOB_MAX;
	x->pw.data.limit =
	    (size_t)x->dst->pack_size + STRATA_BLOB_MAX + (1u << 20);
	if ((rc = copy_tree(x, s.root, root)) || x->count_only)
		goto out;
	mw.r = x->dst;
	mw.w = &x->pw;
	mc.src = x->src;
	mc.w = &mw;
	if ((rc = repo__meta_pieces(x->src, &s, copy_meta_rec, &mc)) ||
	    (rc = repo__metaw_flush(&mw)))
		goto out;
	x->st->bytes_sent += mw.stored;
	if ((rc = repo__flush_pack(x->dst, &x->pw, x->dst->codec,
				   &x->st->bytes_sent)) ||
	    (rc = checkpoint(x, true)))
		goto out;
	rc = commit_snapshot(x, &s, sid, root, &mw, note);
out:
	strata_buf_release(&mc.out);
	repo__metaw_release(&mw);
	strata_snapshot_release(&s);
	return rc;
}

static int open_remote(strata_repo *r, const char *name,
		       const strata_auth *auth, strata_repo **out,
		       remote_ent **rm)
{
	remote_ent *m = find_remote(r, name);
	if (!m)
		return strata_error_set(STRATA_ENOTFOUND,
					"no remote '%s': add it with 'strata "
					"remote add %s URL'",
					name, name);
	int rc = strata_repo_open(out, m->url, auth);
	if (rc)
		return strata_error_prefix(rc, "remote '%s' (%s): ", name,
					   m->url);
	if (m->zone[0] && strcmp(m->zone, (*out)->zone)) {
		rc = strata_error_set(STRATA_EINVAL,
				      "remote '%s' was added as zone '%s' but "
				      "its repository is zone '%s': fix it "
				      "with 'strata remote add %s URL --zone "
				      "%s'",
				      name, m->zone, (*out)->zone, name,
				      (*out)->zone);
		strata_repo_close(*out);
		*out = NULL;
	}
	*rm = m;
	return rc;
}

/* "name" or "name@vN" -> the dataset and its version number. */
static int resolve(strata_repo *r, const char *spec, char **ds, uint32_t *v)
{
	strata_snapshot s;
	uint8_t id[32];
	int rc = repo__open_spec(r, spec, &s, id);
	if (rc)
		return rc;
	*v = s.version;
	*ds = strata_strdup(s.dataset);
	strata_snapshot_release(&s);
	return *ds ? 0 : nomem();
}

static const replica *find_replica(strata_repo *r, const char *ds, uint32_t v,
				   const char *remote_name)
{
	struct repo_hybrid *h = r->gov.hy;
	for (size_t i = 0; h && i < h->nreplicas; i++)
		if (h->replicas[i].version == v &&
		    !strcmp(h->replicas[i].dataset, ds) &&
		    !strcmp(h->replicas[i].remote, remote_name))
			return &h->replicas[i];
	return NULL;
}

/* The zone check names the files that may not cross. */
static int name_files(strata_repo *r, const char *spec, int rc)
{
	char *msg, first[512] = "";
	strata_snapshot s;
	uint8_t id[32];
	if (rc != STRATA_EDENIED || !strstr(strata_error_msg(), "zone '"))
		return rc;
	if (!(msg = strata_strdup(strata_error_msg())))
		return rc;
	if (!repo__open_spec(r, spec, &s, id)) {
		strata_tree t;
		/* the first file, depth first */
		uint8_t cur[32];
		memcpy(cur, s.root, 32);
		size_t depth = 0;
		while (depth++ < 64 && !repo__load_tree(r, cur, &t)) {
			bool down = false;
			size_t len = strlen(first);
			for (size_t i = 0; i < t.n; i++) {
				if (t.nodes[i].type == STRATA_NODE_FILE) {
					snprintf(first + len,
						 sizeof(first) - len, "%s%.*s",
						 len ? "/" : "",
						 (int)t.nodes[i].name_len,
						 t.nodes[i].name);
					down = false;
					break;
				}
				if (!down &&
				    t.nodes[i].type == STRATA_NODE_DIR) {
					snprintf(first + len,
						 sizeof(first) - len, "%s%.*s",
						 len ? "/" : "",
						 (int)t.nodes[i].name_len,
						 t.nodes[i].name);
					memcpy(cur, t.nodes[i].subtree, 32);
					down = true;
					len = strlen(first);
				}
			}
			strata_tree_release(&t);
			if (!down)
				break;
		}
		rc = strata_error_set(rc, "%s; %" PRIu64 " files (first: '%s')",
				      msg, s.files, first);
		strata_snapshot_release(&s);
	}
	strata_free(msg);
	return rc;
}

/* The receiving repository's own gate: writing the version there. */
static int gate_write(strata_repo *src, const char *spec, strata_repo *dst,
		      const char *verb)
{
	strata_snapshot s;
	uint8_t sid[32];
	int rc = repo__open_spec(src, spec, &s, sid);
	if (rc)
		return rc;
	repo_access w;
	memset(&w, 0, sizeof(w));
	w.action = STRATA_ACT_WRITE;
	w.verb = verb;
	w.dataset = s.dataset;
	w.layer = s.layer;
	w.klass = s.klass;
	rc = repo__gate(dst, &w);
	strata_snapshot_release(&s);
	return rc;
}

static void xfer_init(xfer *x, strata_repo *src, strata_repo *dst,
		      strata_xfer_stats *st, const strata_xfer_opts *o)
{
	x->src = src;
	x->dst = dst;
	x->st = st;
	strata_progress_init(&x->pr);
	x->pr.enabled = x->pr.enabled && o && o->progress;
}

static void xfer_release(xfer *x)
{
	strata_pack_writer_release(&x->pw);
	strata_buf_release(&x->plain);
	strata_buf_release(&x->enc);
}

int strata_repo_push(strata_repo *r, const char *spec, const char *remote_name,
		     const strata_auth *remote_auth, const strata_xfer_opts *o,
		     strata_xfer_stats *st)
{
	strata_repo *d = NULL;
	remote_ent *m = NULL;
	xfer x;
	char *ds = NULL, spec_full[300], note[512];
	uint32_t v;
	double t0 = strata_mono();
	const char *project = o && o->project ? o->project : "default";
	memset(st, 0, sizeof(*st));
	memset(&x, 0, sizeof(x));
	int rc = resolve(r, spec, &ds, &v);
	if (rc)
		return rc;
	snprintf(spec_full, sizeof(spec_full), "%s@v%u", ds, v);
	if ((rc = open_remote(r, remote_name, remote_auth, &d, &m)))
		goto out;
	const replica *done = find_replica(r, ds, v, remote_name);
	if (done) {
		st->already = true;
		st->dst_version = done->rversion;
		snprintf(st->dataset, sizeof(st->dataset), "%s", ds);
		st->src_version = v;
		goto out;
	}
	/* the gate here: export into the remote's zone ... */
	repo_access a;
	memset(&a, 0, sizeof(a));
	a.action = STRATA_ACT_EXPORT;
	a.verb = "push";
	a.spec = spec_full;
	a.dest_zone = d->zone;
	a.dest_allows = d->gov.zone_allows;
	if ((rc = repo__gate(r, &a))) {
		rc = name_files(r, spec_full, rc);
		goto out;
	}
	/* ... and the remote's own gate: writing there */
	if ((rc = gate_write(r, spec_full, d, "push"))) {
		strata_error_prefix(rc, "remote '%s': ", remote_name);
		goto done;
	}
	xfer_init(&x, r, d, st, o);
	/* a budget: count what would travel first, refuse before sending */
	struct repo_hybrid *h = r->gov.hy;
	for (size_t i = 0; h && i < h->nbudgets; i++) {
		if (strcmp(h->budgets[i].project, project))
			continue;
		double per_gib = price_of(h, remote_name, d->zone);
		double left =
		    h->budgets[i].usd_per_month - spent_this_month(h, project);
		x.count_only = true;
		if ((rc = transfer(&x, spec_full, NULL)))
			goto done;
		x.count_only = false;
		double want = cost(x.would_send, per_gib);
		memset(st, 0, sizeof(*st));
		if (want > left + 1e-9) {
			rc = strata_error_set(
			    STRATA_EDENIED,
			    "push of '%s' to '%s' would send %.1f MiB "
			    "costing $%.2f, and project '%s' has $%.2f left "
			    "of its $%.2f monthly egress budget: raise it "
			    "with 'strata egress budget %s USD'",
			    spec_full, remote_name,
			    (double)x.would_send / 1048576.0, want, project,
			    left > 0 ? left : 0, h->budgets[i].usd_per_month,
			    project);
			goto done;
		}
	}
	snprintf(note, sizeof(note), "tool=strata-push,origin=%s,source=%s",
		 r->id, spec_full);
	rc = transfer(&x, spec_full, note);
	strata_progress_done(&x.pr);
	if (!rc) {
		char vs[16], rvs[16], bytes[32];
		snprintf(vs, sizeof(vs), "%u", v);
		snprintf(rvs, sizeof(rvs), "%u", st->dst_version);
		snprintf(bytes, sizeof(bytes), "%" PRIu64, st->bytes_sent);
		const char *rep[] = {ds, vs, remote_name, rvs};
		const char *eg[] = {remote_name, d->zone, ds,
				    vs,		 project, bytes};
		rc = repo__gov_event(r, "replica", rep, 4, NULL, 0);
		if (!rc)
			rc = repo__gov_event(r, "egress", eg, 6, NULL, 0);
	}
done:
	repo__audit_done(d, rc, st->bytes_sent);
	repo__audit_done(r, rc, st->bytes_sent);
out:
	xfer_release(&x);
	strata_repo_close(d);
	strata_free(ds);
	st->seconds = strata_mono() - t0;
	return rc;
}

int strata_repo_pull(strata_repo *r, const char *spec, const char *remote_name,
		     const strata_auth *remote_auth, const strata_xfer_opts *o,
		     strata_xfer_stats *st)
{
	strata_repo *src = NULL;
	remote_ent *m = NULL;
	xfer x;
	char *ds = NULL, spec_full[300], note[512];
	uint32_t v;
	double t0 = strata_mono();
	memset(st, 0, sizeof(*st));
	memset(&x, 0, sizeof(x));
	int rc = open_remote(r, remote_name, remote_auth, &src, &m);
	if (rc)
		return rc;
	if ((rc = resolve(src, spec, &ds, &v)))
		goto out;
	snprintf(spec_full, sizeof(spec_full), "%s@v%u", ds, v);
	/* the remote's gate decides the read, this one the write */
	if ((rc = repo__gate_read(src, "pull", spec_full, NULL))) {
		strata_error_prefix(rc, "remote '%s': ", remote_name);
		goto out;
	}
	if ((rc = gate_write(src, spec_full, r, "pull")))
		goto done;
	xfer_init(&x, src, r, st, o);
	snprintf(note, sizeof(note), "tool=strata-pull,origin=%s,source=%s",
		 src->id, spec_full);
	rc = transfer(&x, spec_full, note);
	strata_progress_done(&x.pr);
done:
	repo__audit_done(r, rc, st->bytes_sent);
	repo__audit_done(src, rc, st->bytes_sent);
out:
	xfer_release(&x);
	strata_repo_close(src);
	strata_free(ds);
	st->seconds = strata_mono() - t0;
	return rc;
}
