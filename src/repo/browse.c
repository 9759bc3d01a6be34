/*
 * browse.c - reading versions back without restoring them: dataset and
 * version listings, ls, cat and diff between versions. Every chunk read
 * is checked against its id before its bytes are used.
 */
#include "repo/repo_int.h"

typedef struct ds_ctx {
	strata_dataset_cb cb;
	void *payload;
} ds_ctx;

static int ds_one(const strata_cat_dataset *d, void *payload)
{
	ds_ctx *x = payload;
	strata_dataset_info i = {d->name, d->versions, d->latest, d->layer,
				 d->klass};
	return x->cb(&i, x->payload);
}

int strata_repo_datasets(strata_repo *r, strata_dataset_cb cb, void *payload)
{
	ds_ctx x = {cb, payload};
	int rc = repo__gate_read(r, "datasets", NULL, NULL);
	if (!rc)
		rc = strata_catalog_datasets(r->cat, ds_one, &x);
	repo__audit_done(r, rc, 0);
	return rc;
}

typedef struct log_ctx {
	strata_repo *r;
	strata_version_cb cb;
	void *payload;
} log_ctx;

static int log_one(const strata_cat_snap *s, void *payload)
{
	log_ctx *x = payload;
	strata_snapshot full;
	strata_version_info v;
	memset(&v, 0, sizeof(v));
	v.dataset = s->dataset;
	v.version = s->version;
	strata_hex(v.snapshot, s->id, 32);
	v.time_ns = s->time_ns;
	v.message = s->message;
	v.layer = s->layer;
	v.klass = s->klass;
	v.files = s->files;
	v.bytes = s->bytes;
	v.parent_version = s->parent_version;
	bool have = repo__load_snapshot(x->r, s->id, &full) == 0;
	v.author = have ? full.author : NULL;
	int rc = x->cb(&v, x->payload);
	if (have)
		strata_snapshot_release(&full);
	return rc;
}

int strata_repo_log(strata_repo *r, const char *dataset, strata_version_cb cb,
		    void *payload)
{
	log_ctx x = {r, cb, payload};
	int rc = repo__gate_read(r, "log", NULL, NULL);
	if (!rc)
		rc = strata_catalog_log(r->cat, dataset, log_one, &x);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- ls ---- */

static void to_entry(strata_entry *e, const strata_node *n, const char *path,
		     size_t len)
{
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->path_len = len;
	e->type = n->type == STRATA_NODE_FILE  ? STRATA_ENT_FILE
		  : n->type == STRATA_NODE_DIR ? STRATA_ENT_DIR
					       : STRATA_ENT_SYMLINK;
	e->mode = n->mode;
	e->size = n->size;
	e->mtime_ns = n->mtime_ns;
	e->sha256 = n->type == STRATA_NODE_FILE ? n->sha256 : NULL;
	e->target = n->target;
}

typedef struct ls_ctx {
	strata_repo *r;
	strata_entry_cb cb;
	void *payload;
	strata_buf path;
} ls_ctx;

static int ls_node(strata_buf *path, strata_node *n, void *payload)
{
	ls_ctx *x = payload;
	strata_entry e;
	to_entry(&e, n, (char *)path->ptr, path->len);
	return x->cb(&e, x->payload);
}

static int clean_path(const char *in, strata_buf *out)
{
	int rc = 0;
	strata_buf_reset(out);
	while (*in) {
		while (*in == '/')
			in++;
		const char *s = strchr(in, '/');
		size_t n = s ? (size_t)(s - in) : strlen(in);
		if (!n)
			break;
		if (!(n == 1 && in[0] == '.')) {
			if ((out->len && (rc = strata_buf_put_u8(out, '/'))) ||
			    (rc = strata_buf_put(out, in, n)))
				return rc;
		}
		in += n;
	}
	return strata_buf_cstr(out);
}

int strata_repo_ls(strata_repo *r, const char *spec, const char *path,
		   strata_entry_cb cb, void *payload)
{
	strata_snapshot s;
	strata_node n;
	uint8_t id[32];
	ls_ctx x = {r, cb, payload, STRATA_BUF_INIT};
	int rc = repo__gate_read(r, "ls", spec, NULL);
	if (rc || (rc = repo__open_spec(r, spec, &s, id))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = clean_path(path ? path : "", &x.path)))
		goto out;
	if ((rc = repo__lookup(r, s.root, (char *)x.path.ptr, &n))) {
		strata_error_prefix(rc, "'%s': ", spec);
		goto out;
	}
	if (n.type == STRATA_NODE_DIR) {
		rc = repo__walk_tree(r, n.subtree, &x.path, ls_node, &x);
	} else {
		strata_entry e;
		to_entry(&e, &n, (char *)x.path.ptr, x.path.len);
		rc = cb(&e, payload);
	}
	strata_node_release(&n);
out:
	strata_buf_release(&x.path);
	strata_snapshot_release(&s);
	repo__audit_done(r, rc, 0);
	return rc;
}

/* ---- cat ---- */

static int write_chunks(strata_repo *r, strata_codec *c, strata_hmac *h,
			const strata_node *n, int fd, const char *what)
{
	strata_buf b = STRATA_BUF_INIT;
	uint64_t total = 0;
	int rc = 0;
	b.limit = STRATA_BLOB_MAX;
	for (uint32_t i = 0; !rc && i < n->nchunks; i++) {
		if ((rc = repo__load_blob(r, c, h, n->chunks[i], &b))) {
			strata_error_prefix(rc, "'%s': ", what);
			break;
		}
		total += b.len;
		if (strata_write_all(fd, b.ptr, b.len))
			rc = strata_error_set(strata_errno_code(errno),
					      "cannot write '%s': %s", what,
					      strerror(errno));
	}
	if (!rc && total != n->size)
		rc =
		    strata_error_set(STRATA_ECORRUPT,
				     "'%s': stored size %" PRIu64
				     " does not match its chunks (%" PRIu64 ")",
				     what, n->size, total);
	strata_buf_release(&b);
	return rc;
}

int strata_repo_cat(strata_repo *r, const char *spec, const char *path, int fd)
{
	strata_snapshot s;
	strata_node n;
	uint8_t id[32];
	strata_buf p = STRATA_BUF_INIT;
	uint64_t bytes = 0;
	int rc = repo__gate_read(r, "cat", spec, path);
	if (rc || (rc = repo__open_spec(r, spec, &s, id))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = clean_path(path, &p)))
		goto out;
	if ((rc = repo__lookup(r, s.root, (char *)p.ptr, &n))) {
		strata_error_prefix(rc, "'%s': ", spec);
		goto out;
	}
	if (n.type != STRATA_NODE_FILE)
		rc = strata_error_set(STRATA_EINVAL, "'%s:%s' is not a file",
				      spec, path);
	else if (!(rc = write_chunks(r, r->codec, r->hmac, &n, fd, path)))
		bytes = n.size;
	strata_node_release(&n);
out:
	strata_buf_release(&p);
	strata_snapshot_release(&s);
	repo__audit_done(r, rc, bytes);
	return rc;
}

/* ---- diff ---- */

typedef struct diff_ctx {
	strata_repo *r;
	strata_diff_cb cb;
	void *payload;
	strata_buf path;
} diff_ctx;

static int diff_trees(diff_ctx *x, const uint8_t *a, const uint8_t *b);

static int diff_all(diff_ctx *x, const strata_node *n, strata_diff_kind k)
{
	int rc = x->cb((char *)x->path.ptr, x->path.len, k, x->payload);
	if (!rc && n->type == STRATA_NODE_DIR)
		rc = k == STRATA_DIFF_ADDED ? diff_trees(x, NULL, n->subtree)
					    : diff_trees(x, n->subtree, NULL);
	return rc;
}

static int diff_pair(diff_ctx *x, const strata_node *a, const strata_node *b)
{
	if (!a)
		return diff_all(x, b, STRATA_DIFF_ADDED);
	if (!b)
		return diff_all(x, a, STRATA_DIFF_REMOVED);
	if (a->type != b->type) {
		int rc = x->cb((char *)x->path.ptr, x->path.len,
			       STRATA_DIFF_TYPE, x->payload);
		if (!rc && a->type == STRATA_NODE_DIR)
			rc = diff_trees(x, a->subtree, NULL);
		if (!rc && b->type == STRATA_NODE_DIR)
			rc = diff_trees(x, NULL, b->subtree);
		return rc;
	}
	if (a->type == STRATA_NODE_DIR)
		return memcmp(a->subtree, b->subtree, 32)
			   ? diff_trees(x, a->subtree, b->subtree)
			   : 0;
	bool same = a->type == STRATA_NODE_FILE
			? !memcmp(a->sha256, b->sha256, 32) &&
			      a->size == b->size && a->mode == b->mode
			: !strcmp(a->target, b->target);
	return same ? 0
		    : x->cb((char *)x->path.ptr, x->path.len,
			    STRATA_DIFF_MODIFIED, x->payload);
}

static int diff_trees(diff_ctx *x, const uint8_t *a, const uint8_t *b)
{
	strata_tree ta = {0}, tb = {0};
	int rc = 0;
	if ((a && (rc = repo__load_tree(x->r, a, &ta))) ||
	    (b && (rc = repo__load_tree(x->r, b, &tb))))
		goto out;
	size_t i = 0, j = 0, base = x->path.len;
	while (!rc && (i < ta.n || j < tb.n)) {
		const strata_node *na = i < ta.n ? &ta.nodes[i] : NULL;
		const strata_node *nb = j < tb.n ? &tb.nodes[j] : NULL;
		int c = !na   ? 1
			: !nb ? -1
			      : strata_name_cmp(na->name, na->name_len,
						nb->name, nb->name_len);
		const strata_node *n = c <= 0 ? na : nb;
		x->path.len = base;
		if ((base && (rc = strata_buf_put_u8(&x->path, '/'))) ||
		    (rc = strata_buf_put(&x->path, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(&x->path)))
			break;
		rc = diff_pair(x, c <= 0 ? na : NULL, c >= 0 ? nb : NULL);
		i += c <= 0;
		j += c >= 0;
	}
	x->path.len = base;
out:
	strata_tree_release(&ta);
	strata_tree_release(&tb);
	return rc;
}

int strata_repo_diff(strata_repo *r, const char *a, const char *b,
		     strata_diff_cb cb, void *payload)
{
	strata_snapshot sa, sb;
	uint8_t ia[32], ib[32];
	diff_ctx x = {r, cb, payload, STRATA_BUF_INIT};
	int rc = repo__gate_read(r, "diff", a, NULL);
	if (!rc)
		rc = repo__gate_read(r, "diff", b, NULL);
	if (rc || (rc = repo__open_spec(r, a, &sa, ia))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = repo__open_spec(r, b, &sb, ib))) {
		strata_snapshot_release(&sa);
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if ((rc = strata_buf_cstr(&x.path)) == 0)
		rc = diff_trees(&x, sa.root, sb.root);
	strata_buf_release(&x.path);
	strata_snapshot_release(&sa);
	strata_snapshot_release(&sb);
	repo__audit_done(r, rc, 0);
	return rc;
}
