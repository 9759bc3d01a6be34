/*
 * tree.c - directory trees: a deterministic encoding of a sorted list of
 * entries (same content, same bytes, same id), and its validating decoder.
 * Entry names are raw bytes: any name a POSIX file system allows, UTF-8
 * or not, round-trips.
 */
#include "store/store.h"

#define TREE_MAGIC "STRTRE01"

int strata_name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static int node_cmp(const void *x, const void *y)
{
	const strata_node *a = x, *b = y;
	return strata_name_cmp(a->name, a->name_len, b->name, b->name_len);
}

void strata_tree_sort(strata_tree *t)
{
	if (t->n > 1)
		qsort(t->nodes, t->n, sizeof(*t->nodes), node_cmp);
}

int strata_tree_encode(const strata_tree *t, strata_buf *out)
{
	int rc;
	if ((rc = strata_buf_put(out, TREE_MAGIC, 8)) ||
	    (rc = strata_buf_put_u32(out, (uint32_t)t->n)))
		return rc;
	for (size_t i = 0; i < t->n; i++) {
		const strata_node *n = &t->nodes[i];
		assert(i == 0 || node_cmp(&t->nodes[i - 1], n) < 0);
		if ((rc = strata_buf_put_u8(out, n->type)) ||
		    (rc = strata_buf_put_u16(out, n->name_len)) ||
		    (rc = strata_buf_put(out, n->name, n->name_len)) ||
		    (rc = strata_buf_put_u32(out, n->mode)) ||
		    (rc = strata_buf_put_u64(out, (uint64_t)n->mtime_ns)) ||
		    (rc = strata_buf_put_u64(out, (uint64_t)n->ctime_ns)) ||
		    (rc = strata_buf_put_u64(out, n->ino)) ||
		    (rc = strata_buf_put_u64(out, n->size)))
			return rc;
		if (n->type == STRATA_NODE_FILE) {
			if ((rc = strata_buf_put(out, n->sha256, 32)) ||
			    (rc = strata_buf_put_u32(out, n->nchunks)) ||
			    (rc = strata_buf_put(out, n->chunks,
						 (size_t)n->nchunks * 32)))
				return rc;
		} else if (n->type == STRATA_NODE_DIR) {
			if ((rc = strata_buf_put(out, n->subtree, 32)))
				return rc;
		} else {
			size_t tl = strlen(n->target);
			if ((rc = strata_buf_put_u16(out, (uint16_t)tl)) ||
			    (rc = strata_buf_put(out, n->target, tl)))
				return rc;
		}
	}
	return 0;
}

static bool name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || (n == 1 && p[0] == '.') ||
	    (n == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	return !memchr(p, '/', n) && !memchr(p, 0, n);
}

static int decode_one(strata_rd *r, strata_node *n)
{
	n->type = strata_rd_u8(r);
	n->name_len = strata_rd_u16(r);
	const uint8_t *name = strata_rd_bytes(r, n->name_len);
	if (!name || !name_ok(name, n->name_len))
		return strata_error_set(STRATA_ECORRUPT,
					"tree entry has a bad name");
	if (!(n->name = strata_strndup((const char *)name, n->name_len)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	n->mode = strata_rd_u32(r);
	n->mtime_ns = (int64_t)strata_rd_u64(r);
	n->ctime_ns = (int64_t)strata_rd_u64(r);
	n->ino = strata_rd_u64(r);
	n->size = strata_rd_u64(r);
	if (n->type == STRATA_NODE_FILE) {
		const uint8_t *h = strata_rd_bytes(r, 32);
		n->nchunks = strata_rd_u32(r);
		if (!h || (size_t)n->nchunks * 32 > strata_rd_left(r))
			return strata_error_set(STRATA_ECORRUPT,
						"tree entry is truncated");
		memcpy(n->sha256, h, 32);
		if (n->nchunks) {
			n->chunks = strata_malloc((size_t)n->nchunks * 32);
			if (!n->chunks)
				return strata_error_set(STRATA_ENOMEM,
							"out of memory");
			memcpy(n->chunks,
			       strata_rd_bytes(r, (size_t)n->nchunks * 32),
			       (size_t)n->nchunks * 32);
		}
	} else if (n->type == STRATA_NODE_DIR) {
		const uint8_t *h = strata_rd_bytes(r, 32);
		if (!h)
			return strata_error_set(STRATA_ECORRUPT,
						"tree entry is truncated");
		memcpy(n->subtree, h, 32);
	} else if (n->type == STRATA_NODE_SYMLINK) {
		uint16_t tl = strata_rd_u16(r);
		const uint8_t *t = strata_rd_bytes(r, tl);
		if (!t || memchr(t, 0, tl))
			return strata_error_set(STRATA_ECORRUPT,
						"symlink entry is damaged");
		if (!(n->target = strata_strndup((const char *)t, tl)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
	} else {
		return strata_error_set(
		    STRATA_ECORRUPT, "tree entry has unknown type %u", n->type);
	}
	return r->err ? strata_error_set(STRATA_ECORRUPT, "tree is truncated")
		      : 0;
}

int strata_tree_decode(strata_tree *t, const uint8_t *p, size_t n)
{
	strata_rd r;
	int rc = 0;
	strata_rd_init(&r, p, n);
	const uint8_t *m = strata_rd_bytes(&r, 8);
	uint32_t cnt = strata_rd_u32(&r);
	memset(t, 0, sizeof(*t));
	if (!m || r.err || memcmp(m, TREE_MAGIC, 8))
		return strata_error_set(STRATA_ECORRUPT,
					"tree is truncated or has a bad magic");
	/* every entry takes at least 40 bytes: bounds the allocation */
	if (cnt > strata_rd_left(&r) / 40)
		return strata_error_set(STRATA_ECORRUPT,
					"tree claims %u entries in %zu bytes",
					cnt, strata_rd_left(&r));
	if (!(t->nodes = strata_calloc(cnt ? cnt : 1, sizeof(*t->nodes))))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < cnt; i++) {
		t->n = i + 1;
		if ((rc = decode_one(&r, &t->nodes[i])))
			goto fail;
		if (i && node_cmp(&t->nodes[i - 1], &t->nodes[i]) >= 0) {
			rc = strata_error_set(STRATA_ECORRUPT,
					      "tree entries are not sorted and "
					      "unique");
			goto fail;
		}
	}
	if (strata_rd_left(&r)) {
		rc = strata_error_set(STRATA_ECORRUPT,
				      "tree has trailing bytes");
		goto fail;
	}
	return 0;
fail:
	strata_tree_release(t);
	return rc;
}

void strata_node_release(strata_node *n)
{
	strata_free(n->name);
	strata_free(n->chunks);
	strata_free(n->target);
	memset(n, 0, sizeof(*n));
}

void strata_tree_release(strata_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		strata_node_release(&t->nodes[i]);
	strata_free(t->nodes);
	t->nodes = NULL;
	t->n = 0;
}
