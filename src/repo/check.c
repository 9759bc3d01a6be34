/*
 * check.c - verify a repository. Without --read-data: every pack's table
 * decrypts and agrees with the index, every snapshot decrypts and matches
 * its name, every tree loads and every chunk it names is indexed in a pack
 * that exists. With --read-data: every pack is re-hashed and every blob
 * decrypted and checked against its id. Damaged or missing blobs are then
 * traced to the dataset versions and paths that use them.
 */
#include "repo/repo_int.h"

typedef struct check_ctx {
	strata_repo *r;
	bool read_data;
	strata_check_cb cb;
	void *payload;
	strata_check_report *rep;
	strata_index bad; /* ids of damaged or missing blobs (a set) */
	bool *pack_seen;  /* per index pack number: pack object exists */
	strata_progress pr;
	int rc;
} check_ctx;

static int problem(check_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int problem(check_ctx *x, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->rep->errors++;
	strata_progress_done(&x->pr);
	return x->cb(msg, NULL, 0, NULL, x->payload);
}

static void mark_bad(check_ctx *x, const uint8_t id[32])
{
	strata_pack_entry e;
	memset(&e, 0, sizeof(e));
	memcpy(e.id, id, 32);
	strata_index_add(&x->bad, &e, 0);
}

/* Pack number of `pid` in the index, or -1. */
static long pack_no(check_ctx *x, const uint8_t pid[32])
{
	for (size_t i = 0; i < x->r->ix.npacks; i++)
		if (!memcmp(x->r->ix.packs[i], pid, 32))
			return (long)i;
	return -1;
}

static int verify_blobs(check_ctx *x, const char *name, const uint8_t *data,
			size_t len, const strata_pack_entry *e, size_t n,
			strata_buf *plain)
{
	uint8_t h[32];
	for (size_t i = 0; i < n; i++) {
		x->rep->blobs++;
		if ((uint64_t)e[i].offset + e[i].length > len ||
		    strata_codec_open(x->r->codec, plain, data + e[i].offset,
				      e[i].length, e[i].raw_len)) {
			mark_bad(x, e[i].id);
			problem(x,
				"pack '%s': blob %u fails authentication "
				"(damaged)",
				name, (unsigned)i);
			continue;
		}
		strata_blob_id(x->r->hmac, h, plain->ptr, plain->len);
		if (memcmp(h, e[i].id, 32) || plain->len != e[i].raw_len) {
			mark_bad(x, e[i].id);
			problem(x, "pack '%s': blob %u does not match its id",
				name, (unsigned)i);
		}
	}
	return 0;
}

static int check_pack(const char *name, uint64_t size, void *payload)
{
	check_ctx *x = payload;
	strata_pack_entry *e = NULL;
	size_t n = 0;
	uint8_t pid[32];
	const char *hex = strrchr(name, '/');
	x->rep->packs++;
	if (strata_progress_due(&x->pr))
		strata_progress_show(
		    &x->pr, "check: %" PRIu64 " packs, %" PRIu64 " MiB read",
		    x->rep->packs, x->rep->bytes_read >> 20);
	if (!hex || strata_unhex(pid, 32, hex + 1))
		return problem(x, "unexpected object '%s' among the packs",
			       name);
	long pn = pack_no(x, pid);
	if (pn < 0) {
		/* written by an ingest that was interrupted before its index:
		 * harmless, and reclaimable by a future prune */
		return 0;
	}
	x->pack_seen[pn] = true;
	int rc =
	    strata_pack_read_table(x->r->be, x->r->codec, name, size, &e, &n);
	if (rc) {
		/* every blob the index places in this pack is suspect */
		for (size_t i = 0; i <= x->r->ix.mask; i++)
			if (x->r->ix.slots[i].pack == (uint32_t)pn)
				mark_bad(x, x->r->ix.slots[i].id);
		return problem(x, "%s", strata_error_msg());
	}
	for (size_t i = 0; i < n; i++) {
		const strata_index_ent *s =
		    strata_index_find(&x->r->ix, e[i].id);
		if (!s ||
		    (s->pack == (uint32_t)pn &&
		     (s->offset != e[i].offset || s->length != e[i].length)))
			problem(x,
				"pack '%s': blob %zu disagrees with the index",
				name, i);
	}
	if (x->read_data) {
		uint8_t *data = NULL;
		size_t len;
		strata_buf plain = STRATA_BUF_INIT;
		plain.limit = STRATA_BLOB_MAX;
		if ((rc = x->r->be->ops->get(x->r->be, name, (size_t)1 << 32,
					     &data, &len))) {
			problem(x, "%s", strata_error_msg());
		} else {
			x->rep->bytes_read += len;
			if (!strata_pack_name_matches(pid, data, len))
				problem(x,
					"pack '%s' does not match its name "
					"(its bytes changed)",
					name);
			verify_blobs(x, name, data, len, e, n, &plain);
		}
		strata_free(data);
		strata_buf_release(&plain);
	}
	strata_free(e);
	return 0;
}

/* ---- walking versions: missing blobs, and which files are affected ---- */

typedef struct walk_ctx {
	check_ctx *x;
	const char *dataset;
	uint32_t version;
	strata_buf path;
	bool report; /* second pass: name affected files */
} walk_ctx;

static bool blob_ok(check_ctx *x, const uint8_t id[32])
{
	if (strata_index_find(&x->bad, id))
		return false;
	const strata_index_ent *e = strata_index_find(&x->r->ix, id);
	return e && e->pack < x->r->ix.npacks && x->pack_seen[e->pack];
}

static int walk_tree(walk_ctx *w, const uint8_t id[32])
{
	check_ctx *x = w->x;
	strata_tree t;
	if (!blob_ok(x, id) || repo__load_tree(x->r, id, &t)) {
		if (w->report) {
			x->rep->errors++;
			return x->cb("directory listing is damaged or missing",
				     w->dataset, w->version,
				     w->path.len ? (char *)w->path.ptr : "/",
				     x->payload);
		}
		mark_bad(x, id);
		return 0;
	}
	if (!w->report)
		x->rep->trees++;
	size_t base = w->path.len;
	int rc = 0;
	for (size_t i = 0; !rc && i < t.n; i++) {
		strata_node *n = &t.nodes[i];
		w->path.len = base;
		if ((base && (rc = strata_buf_put_u8(&w->path, '/'))) ||
		    (rc = strata_buf_put(&w->path, n->name, n->name_len)) ||
		    (rc = strata_buf_cstr(&w->path)))
			break;
		if (n->type == STRATA_NODE_DIR) {
			rc = walk_tree(w, n->subtree);
			continue;
		}
		if (n->type != STRATA_NODE_FILE)
			continue;
		for (uint32_t c = 0; c < n->nchunks; c++) {
			if (blob_ok(x, n->chunks[c]))
				continue;
			if (w->report) {
				x->rep->errors++;
				rc = x->cb("file content is damaged or missing",
					   w->dataset, w->version,
					   (char *)w->path.ptr, x->payload);
				break;
			}
			mark_bad(x, n->chunks[c]);
		}
	}
	w->path.len = base;
	strata_tree_release(&t);
	return rc;
}

typedef struct snap_list {
	uint8_t (*ids)[32];
	size_t n, cap;
} snap_list;

static int collect_snap(const char *name, uint64_t size, void *payload)
{
	snap_list *l = payload;
	(void)size;
	int rc = strata_grow(&l->ids, &l->cap, l->n, 32);
	if (rc)
		return rc;
	if (strata_unhex(l->ids[l->n], 32, name + strlen("snapshots/")) == 0)
		l->n++;
	return 0;
}

static int walk_versions(check_ctx *x, const snap_list *l, bool report)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < l->n; i++) {
		strata_snapshot s;
		char hex[65];
		strata_hex(hex, l->ids[i], 32);
		if (repo__load_snapshot(x->r, l->ids[i], &s)) {
			if (!report)
				problem(x, "%s", strata_error_msg());
			continue;
		}
		if (!report)
			x->rep->snapshots++;
		walk_ctx w = {x, s.dataset, s.version, STRATA_BUF_INIT, report};
		if (!(rc = strata_buf_cstr(&w.path)))
			rc = walk_tree(&w, s.root);
		strata_buf_release(&w.path);
		strata_snapshot_release(&s);
	}
	return rc;
}

static int count_index(const char *name, uint64_t size, void *payload)
{
	(void)name;
	(void)size;
	((check_ctx *)payload)->rep->indexes++;
	return 0;
}

int strata_repo_check(strata_repo *r, bool read_data, bool progress,
		      strata_check_cb cb, void *payload,
		      strata_check_report *rep)
{
	check_ctx x;
	snap_list l = {0};
	int rc;
	memset(rep, 0, sizeof(*rep));
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.read_data = read_data;
	x.cb = cb;
	x.payload = payload;
	x.rep = rep;
	strata_progress_init(&x.pr);
	x.pr.enabled = x.pr.enabled && progress;
	/* verifying every byte is an auditor's job: the 'audit' grant */
	if ((rc = repo__gate_manage(r, STRATA_ACT_AUDIT, "check", NULL)))
		return rc;
	if ((rc = strata_index_init(&x.bad))) {
		repo__audit_done(r, rc, 0);
		return rc;
	}
	if (!(x.pack_seen = strata_calloc(r->ix.npacks + 1, sizeof(bool)))) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->nbad_indexes; i++)
		problem(&x, "%s", r->bad_indexes[i]);
	if ((rc = r->be->ops->list(r->be, "index/", count_index, &x)) ||
	    (rc = r->be->ops->list(r->be, "data/", check_pack, &x)))
		goto out;
	for (size_t i = 0; i < r->ix.npacks; i++) {
		char name[128];
		if (x.pack_seen[i])
			continue;
		strata_pack_name(name, sizeof(name), r->ix.packs[i]);
		problem(&x, "pack '%s' is listed in the index but missing",
			name);
	}
	if ((rc = r->be->ops->list(r->be, "snapshots/", collect_snap, &l)) ||
	    (rc = walk_versions(&x, &l, false)))
		goto out;
	uint64_t in_catalog = 0;
	strata_catalog_snapshot_count(r->cat, &in_catalog);
	if (in_catalog != rep->snapshots)
		problem(&x,
			"catalog lists %" PRIu64 " versions but the store "
			"holds %" PRIu64 " readable snapshots",
			in_catalog, rep->snapshots);
	if (x.bad.count)
		rc = walk_versions(&x, &l, true);
	strata_progress_done(&x.pr);
out:
	strata_free(l.ids);
	strata_free(x.pack_seen);
	strata_index_release(&x.bad);
	repo__audit_done(r, rc, 0);
	return rc;
}
