/*
 * meta.c - reading what the catalog knows beyond the tree: extracted
 * metadata of files, summaries of versions, queries, and the lineage
 * graph between versions.
 */
#include "repo/repo_int.h"

typedef struct find_ctx {
	strata_hit_cb cb;
	void *payload;
} find_ctx;

static int find_one(const strata_cat_hit *h, void *payload)
{
	find_ctx *x = payload;
	strata_hit hit = {h->dataset, h->version, h->path, h->path_len,
			  h->size};
	return x->cb(&hit, x->payload);
}

/* The first identifying (sealed) key a query names, or NULL. */
static const char *names_phi_key(const char *q, char *key, size_t n)
{
	while (*q) {
		size_t len =
		    strspn(q, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._");
		if (!len) {
			char quote = *q++;
			if (quote == '\'' || quote == '"') { /* skip values */
				while (*q && *q != quote)
					q++;
				q += *q != 0;
			}
			continue;
		}
		snprintf(key, n, "%.*s", (int)len, q);
		if (strata_catalog_key_sealed(key))
			return key;
		q += len;
	}
	return NULL;
}

int strata_repo_find(strata_repo *r, const char *query, const char *dataset,
		     bool all_versions, strata_hit_cb cb, void *payload)
{
	find_ctx x = {cb, payload};
	strata_buf q = STRATA_BUF_INIT;
	char key[128];
	int rc = repo__gate_read(r, "find", NULL, NULL);
	if (rc)
		goto out;
	if (!repo__may_read_phi(r) && names_phi_key(query, key, sizeof(key))) {
		rc = strata_error_set(STRATA_EDENIED,
				      "denied by role: '%s' identifies a "
				      "person, and role '%s' may not read "
				      "class 'phi' data",
				      key, strata_repo_role(r));
		goto out;
	}
	/* only files of classes the actor may read are found; the user's
	 * query comes last so its errors read as they would alone */
	unsigned cl = repo__readable(r);
	const char *qq = query;
	if (cl != STRATA_CLASSES_ALL) {
		rc = strata_buf_puts(&q, "(class = 'none'");
		for (int c = 0; !rc && c < STRATA_NCLASSES; c++)
			if (cl & (1u << c) &&
			    !(rc = strata_buf_puts(&q, " or class = '")) &&
			    !(rc = strata_buf_puts(&q, strata_class_name(c))))
				rc = strata_buf_puts(&q, "'");
		if (!rc && !(rc = strata_buf_puts(&q, ") and (")) &&
		    !(rc = strata_buf_puts(&q, query)) &&
		    !(rc = strata_buf_puts(&q, ")")))
			rc = strata_buf_cstr(&q);
		qq = (char *)q.ptr;
	}
	if (!rc)
		rc = strata_catalog_query(r->cat, qq, dataset, all_versions,
					  find_one, &x);
out:
	strata_buf_release(&q);
	repo__audit_done(r, rc, 0);
	return rc;
}

typedef struct meta_filter {
	strata_meta_cb cb;
	void *payload;
} meta_filter;

/* PHI attributes are hidden from those who may not read PHI. */
static int no_phi(const char *key, int type, const char *s, double n,
		  void *payload)
{
	meta_filter *f = payload;
	if (strata_catalog_key_sealed(key))
		return 0;
	return f->cb(key, type, s, n, f->payload);
}

int strata_repo_file_meta(strata_repo *r, const char *spec, const char *path,
			  strata_meta_cb cb, void *payload)
{
	strata_snapshot s;
	uint8_t id[32];
	int64_t row;
	meta_filter f = {cb, payload};
	while (*path == '/')
		path++;
	int rc = repo__gate_read(r, "show", spec, path);
	if (rc || (rc = repo__open_spec(r, spec, &s, id)))
		goto out;
	strata_snapshot_release(&s);
	if ((rc = strata_catalog_file_row(r->cat, id, path, &row)))
		strata_error_prefix(rc, "'%s': ", spec);
	else if (repo__may_read_phi(r))
		rc = strata_catalog_file_attrs(r->cat, row, cb, payload);
	else
		rc = strata_catalog_file_attrs(r->cat, row, no_phi, &f);
out:
	repo__audit_done(r, rc, 0);
	return rc;
}

int strata_repo_summary(strata_repo *r, const char *spec, const char *key,
			strata_meta_cb cb, void *payload)
{
	strata_snapshot s;
	uint8_t id[32];
	if (!repo__may_read_phi(r) && strata_catalog_key_sealed(key))
		return 0;
	int rc = repo__gate_read(r, "show", spec, NULL);
	if (!rc && !(rc = repo__open_spec(r, spec, &s, id))) {
		strata_snapshot_release(&s);
		rc = strata_catalog_summary(r->cat, id, key, cb, payload);
	}
	repo__audit_done(r, rc, 0);
	return rc;
}

static char *name_of(strata_repo *r, const uint8_t id[32])
{
	char *ds = NULL, buf[300];
	uint32_t v;
	if (strata_catalog_snap_name(r->cat, id, &ds, &v)) {
		char hex[65];
		strata_hex(hex, id, 32);
		snprintf(buf, sizeof(buf), "(snapshot %.16s)", hex);
	} else {
		snprintf(buf, sizeof(buf), "%s@v%u", ds, v);
	}
	strata_free(ds);
	return strata_strdup(buf);
}

int strata_repo_version(strata_repo *r, const char *spec, strata_version_cb cb,
			void *payload)
{
	strata_snapshot s;
	strata_version_info v;
	uint8_t id[32];
	char **names = NULL;
	int rc = repo__gate_read(r, "show", spec, NULL);
	if (rc || (rc = repo__open_spec(r, spec, &s, id))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	memset(&v, 0, sizeof(v));
	v.dataset = s.dataset;
	v.version = s.version;
	strata_hex(v.snapshot, id, 32);
	v.time_ns = s.time_ns;
	v.message = s.message;
	v.layer = s.layer;
	v.klass = s.klass;
	v.author = s.author;
	v.files = s.files;
	v.bytes = s.bytes;
	v.parent_version = s.has_parent ? s.version - 1 : 0;
	v.recipe = s.recipe;
	if (s.nsources &&
	    !(names = strata_calloc(s.nsources, sizeof(*names)))) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < s.nsources; i++)
		if (!(names[i] = name_of(r, s.sources[i]))) {
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
			goto out;
		}
	v.sources = (const char *const *)names;
	v.nsources = s.nsources;
	rc = cb(&v, payload);
out:
	for (uint32_t i = 0; names && i < s.nsources; i++)
		strata_free(names[i]);
	strata_free(names);
	strata_snapshot_release(&s);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- lineage: breadth first over the catalog's edges ---- */

typedef struct lin_ctx {
	strata_repo *r;
	uint8_t (*queue)[32];
	int *depth;
	size_t n, cap, head;
	bool up;
	uint8_t cur[32];
	int cur_depth;
	strata_edge_cb cb;
	void *payload;
} lin_ctx;

static bool seen(const lin_ctx *x, const uint8_t id[32])
{
	for (size_t i = 0; i < x->n; i++)
		if (!memcmp(x->queue[i], id, 32))
			return true;
	return false;
}

static int push(lin_ctx *x, const uint8_t id[32], int depth)
{
	size_t cap = x->cap;
	int rc = strata_grow(&x->queue, &x->cap, x->n, 32);
	if (!rc && (rc = strata_grow(&x->depth, &cap, x->n, sizeof(int))))
		return rc;
	memcpy(x->queue[x->n], id, 32);
	x->depth[x->n++] = depth;
	return 0;
}

static int on_edge(const uint8_t other[32], const char *recipe, void *payload)
{
	lin_ctx *x = payload;
	char *a = NULL, *b = NULL;
	uint32_t va = 0, vb = 0;
	const uint8_t *derived = x->up ? x->cur : other;
	const uint8_t *source = x->up ? other : x->cur;
	int rc = strata_catalog_snap_name(x->r->cat, derived, &a, &va);
	if (!rc)
		rc = strata_catalog_snap_name(x->r->cat, source, &b, &vb);
	if (rc) { /* a source outside this repository: still an edge */
		strata_free(a);
		strata_free(b);
		a = name_of(x->r, derived);
		b = name_of(x->r, source);
	}
	strata_edge e = {a, va, b, vb, recipe, x->cur_depth + 1};
	rc = x->cb(&e, x->payload);
	strata_free(a);
	strata_free(b);
	if (!rc && !seen(x, other) && x->cur_depth < 64)
		rc = push(x, other, x->cur_depth + 1);
	return rc;
}

int strata_repo_lineage(strata_repo *r, const char *spec, bool up,
			strata_edge_cb cb, void *payload)
{
	strata_snapshot s;
	uint8_t id[32];
	lin_ctx x;
	int rc = repo__gate_read(r, "lineage", NULL, NULL);
	if (rc || (rc = repo__open_spec(r, spec, &s, id))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	strata_snapshot_release(&s);
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.up = up;
	x.cb = cb;
	x.payload = payload;
	rc = push(&x, id, 0);
	while (!rc && x.head < x.n) {
		memcpy(x.cur, x.queue[x.head], 32);
		x.cur_depth = x.depth[x.head++];
		rc = strata_catalog_edges(r->cat, x.cur, !up, on_edge, &x);
	}
	strata_free(x.queue);
	strata_free(x.depth);
	repo__audit_done(r, rc, 0);
	return rc;
}
