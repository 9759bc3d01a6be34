/*
 * test_tree_snapshot.c - unit tests for tree and snapshot objects
 * (src/store/tree.c, snapshot.c): deterministic encodings, field-by-field
 * round trips, and the decoders' rejection of bad names, bad order, missing
 * fields and every truncation.
 */
#include "unit.h"

#include "store/store.h"

static uint8_t chunk_ids[3][32];
static char long_name[256];

static strata_node mk(uint8_t type, const char *name, size_t len)
{
	strata_node n;
	memset(&n, 0, sizeof(n));
	n.type = type;
	n.name = (char *)name;
	n.name_len = (uint16_t)len;
	n.mode = type == STRATA_NODE_DIR ? 040755 : 0100644;
	n.mtime_ns = -1234567890123LL;
	n.ctime_ns = INT64_MAX;
	n.ino = UINT64_MAX - 5;
	n.size = 1ULL << 40;
	return n;
}

/* Five entries covering every type and the odd names, unsorted. */
static void sample(strata_node *v, int variant)
{
	memset(long_name, 'n', 255);
	long_name[255] = 0;
	unit_fill(chunk_ids, sizeof(chunk_ids), 77);
	v[0] = mk(STRATA_NODE_SYMLINK, "link", 4);
	v[0].target = (char *)"../target/x y";
	v[1] = mk(STRATA_NODE_FILE, "a.txt", 5);
	unit_fill(v[1].sha256, 32, 78);
	v[1].chunks = chunk_ids;
	v[1].nchunks = 3;
	v[2] = mk(STRATA_NODE_DIR, "dir", 3);
	unit_fill(v[2].subtree, 32, 79);
	v[3] = mk(STRATA_NODE_FILE, "\xff\xfe\x80 latin1 \xe9", 12);
	v[3].size = 0;
	unit_fill(v[3].sha256, 32, 80);
	v[4] = mk(STRATA_NODE_FILE, long_name, 255);
	v[4].mode = 0100600 + (uint32_t)variant;
}

static void encode_sample(strata_buf *out, const int *order)
{
	strata_node v[5], w[5];
	sample(v, 0);
	for (int i = 0; i < 5; i++)
		w[i] = v[order[i]];
	strata_tree t = {w, 5};
	strata_tree_sort(&t);
	assert_int_equal(strata_tree_encode(&t, out), 0);
}

static void node_equal(const strata_node *a, const strata_node *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->name_len, b->name_len);
	assert_memory_equal(a->name, b->name, a->name_len);
	assert_int_equal(a->mode, b->mode);
	assert_true(a->mtime_ns == b->mtime_ns);
	assert_true(a->ctime_ns == b->ctime_ns);
	assert_true(a->ino == b->ino);
	assert_true(a->size == b->size);
	if (a->type == STRATA_NODE_FILE) {
		assert_memory_equal(a->sha256, b->sha256, 32);
		assert_int_equal(a->nchunks, b->nchunks);
		if (a->nchunks)
			assert_memory_equal(a->chunks, b->chunks,
					    (size_t)a->nchunks * 32);
	} else if (a->type == STRATA_NODE_DIR) {
		assert_memory_equal(a->subtree, b->subtree, 32);
	} else {
		assert_string_equal(a->target, b->target);
	}
}

static void test_tree_deterministic(void **state)
{
	(void)state;
	static const int o1[] = {0, 1, 2, 3, 4}, o2[] = {4, 3, 2, 1, 0},
			 o3[] = {2, 0, 4, 1, 3};
	strata_buf a = STRATA_BUF_INIT, b = STRATA_BUF_INIT,
		   c = STRATA_BUF_INIT, d = STRATA_BUF_INIT;
	encode_sample(&a, o1);
	encode_sample(&b, o2);
	encode_sample(&c, o3);
	encode_sample(&d, o1);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.ptr, b.ptr, a.len);
	assert_int_equal(a.len, c.len);
	assert_memory_equal(a.ptr, c.ptr, a.len);
	assert_memory_equal(a.ptr, d.ptr, a.len);
	/* and a changed field changes the bytes */
	strata_node v[5];
	sample(v, 1);
	strata_tree t = {v, 5};
	strata_tree_sort(&t);
	strata_buf_reset(&d);
	assert_int_equal(strata_tree_encode(&t, &d), 0);
	assert_int_equal(d.len, a.len);
	assert_memory_not_equal(d.ptr, a.ptr, a.len);
	strata_buf_release(&a);
	strata_buf_release(&b);
	strata_buf_release(&c);
	strata_buf_release(&d);
}

static void test_tree_roundtrip(void **state)
{
	(void)state;
	strata_node v[5];
	sample(v, 0);
	strata_tree t = {v, 5}, back;
	strata_tree_sort(&t);
	/* byte order, not locale order: "\xff..." sorts last */
	assert_string_equal(v[0].name, "a.txt");
	assert_memory_equal(v[4].name, "\xff\xfe", 2);
	strata_buf b = STRATA_BUF_INIT, b2 = STRATA_BUF_INIT;
	assert_int_equal(strata_tree_encode(&t, &b), 0);
	uint8_t *q = unit_dup(b.ptr, b.len);
	assert_int_equal(strata_tree_decode(&back, q, b.len), 0);
	assert_int_equal(back.n, 5);
	for (size_t i = 0; i < 5; i++) {
		node_equal(&v[i], &back.nodes[i]);
		/* names come back NUL-terminated for convenience */
		assert_int_equal(back.nodes[i].name[back.nodes[i].name_len], 0);
	}
	assert_int_equal(strata_tree_encode(&back, &b2), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.ptr, b.ptr, b.len);
	strata_tree_release(&back);
	assert_null(back.nodes);
	assert_int_equal(back.n, 0);

	/* the empty tree */
	strata_tree empty = {NULL, 0};
	strata_buf_reset(&b);
	assert_int_equal(strata_tree_encode(&empty, &b), 0);
	assert_int_equal(b.len, 12);
	assert_int_equal(strata_tree_decode(&back, b.ptr, b.len), 0);
	assert_int_equal(back.n, 0);
	strata_tree_release(&back);
	free(q);
	strata_buf_release(&b);
	strata_buf_release(&b2);
}

static void test_name_cmp(void **state)
{
	(void)state;
	assert_true(strata_name_cmp("a", 1, "b", 1) < 0);
	assert_true(strata_name_cmp("ab", 2, "a", 1) > 0);
	assert_true(strata_name_cmp("a", 1, "ab", 2) < 0);
	assert_int_equal(strata_name_cmp("ab", 2, "ab", 2), 0);
	assert_true(strata_name_cmp("\xff", 1, "a", 1) > 0);
	assert_true(strata_name_cmp("Z", 1, "a", 1) < 0);
}

/* Encode dirs with the given names in the given order, without the sort
 * check of strata_tree_encode (this builds invalid trees on purpose). */
static void raw_tree(strata_buf *out, const char *const *names,
		     const size_t *lens, size_t n)
{
	strata_buf_reset(out);
	assert_int_equal(strata_buf_put(out, "STRTRE01", 8), 0);
	assert_int_equal(strata_buf_put_u32(out, (uint32_t)n), 0);
	for (size_t i = 0; i < n; i++) {
		strata_node d = mk(STRATA_NODE_DIR, names[i], lens[i]);
		strata_tree one = {&d, 1};
		strata_buf tmp = STRATA_BUF_INIT;
		assert_int_equal(strata_tree_encode(&one, &tmp), 0);
		assert_int_equal(
		    strata_buf_put(out, tmp.ptr + 12, tmp.len - 12), 0);
		strata_buf_release(&tmp);
	}
}

static void expect_tree_bad(const strata_buf *b, const char *what)
{
	strata_tree t;
	uint8_t *q = unit_dup(b->ptr, b->len);
	int rc = strata_tree_decode(&t, q, b->len);
	if (rc != STRATA_ECORRUPT)
		fail_msg("%s: decode returned %d", what, rc);
	assert_null(t.nodes);
	assert_int_equal(t.n, 0);
	free(q);
}

static void test_tree_reject(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	const char *ok[] = {"a", "b"};
	const size_t ok_len[] = {1, 1};
	raw_tree(&b, ok, ok_len, 2);
	strata_tree t;
	assert_int_equal(strata_tree_decode(&t, b.ptr, b.len), 0);
	strata_tree_release(&t);

	const char *unsorted[] = {"b", "a"};
	raw_tree(&b, unsorted, ok_len, 2);
	expect_tree_bad(&b, "unsorted");
	const char *dup[] = {"same", "same"};
	const size_t dup_len[] = {4, 4};
	raw_tree(&b, dup, dup_len, 2);
	expect_tree_bad(&b, "duplicate");
	const char *prefix[] = {"ab", "a"};
	const size_t prefix_len[] = {2, 1};
	raw_tree(&b, prefix, prefix_len, 2);
	expect_tree_bad(&b, "longer name first");

	static const struct {
		const char *name;
		size_t len;
	} bad[] = {{"a/b", 3},	{"/", 1},  {".", 1}, {"..", 2},
		   {"a\0b", 3}, {"\0", 1}, {"", 0},  {"x/", 2}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_tree(&b, &bad[i].name, &bad[i].len, 1);
		expect_tree_bad(&b, "bad name");
	}
	/* "..." and ".x" are ordinary names */
	const char *dots[] = {"...", ".x"};
	const size_t dots_len[] = {3, 2};
	raw_tree(&b, dots, dots_len, 2);
	assert_int_equal(strata_tree_decode(&t, b.ptr, b.len), 0);
	strata_tree_release(&t);

	/* unknown type, count larger than the bytes, trailing byte, magic */
	raw_tree(&b, ok, ok_len, 2);
	b.ptr[12] = 9;
	expect_tree_bad(&b, "unknown type");
	raw_tree(&b, ok, ok_len, 2);
	strata_le32(b.ptr + 8, 3);
	expect_tree_bad(&b, "count too large");
	raw_tree(&b, ok, ok_len, 2);
	strata_le32(b.ptr + 8, UINT32_MAX);
	expect_tree_bad(&b, "count huge");
	raw_tree(&b, ok, ok_len, 2);
	strata_le32(b.ptr + 8, 1);
	expect_tree_bad(&b, "count too small");
	raw_tree(&b, ok, ok_len, 2);
	assert_int_equal(strata_buf_put_u8(&b, 0), 0);
	expect_tree_bad(&b, "trailing byte");
	raw_tree(&b, ok, ok_len, 2);
	b.ptr[7] = '2';
	expect_tree_bad(&b, "magic");
	strata_buf_release(&b);
}

/* A symlink target with a NUL, and a file whose chunk count overruns. */
static void test_tree_reject_payload(void **state)
{
	(void)state;
	strata_node v[5];
	sample(v, 0);
	strata_tree t = {v, 5}, back;
	strata_tree_sort(&t);
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(strata_tree_encode(&t, &b), 0);
	uint8_t *at = memmem(b.ptr, b.len, "../target", 9);
	assert_non_null(at);
	at[2] = 0;
	expect_tree_bad(&b, "NUL in symlink target");
	at[2] = '/';
	assert_int_equal(strata_tree_decode(&back, b.ptr, b.len), 0);
	strata_tree_release(&back);
	/* the chunk count of "a.txt" sits after its hash */
	uint8_t *sha = memmem(b.ptr, b.len, v[0].sha256, 32);
	assert_non_null(sha);
	assert_int_equal(strata_get_le32(sha + 32), 3);
	strata_le32(sha + 32, 4);
	expect_tree_bad(&b, "chunk count off by one");
	strata_le32(sha + 32, UINT32_MAX);
	expect_tree_bad(&b, "chunk count huge");
	strata_buf_release(&b);
}

static void test_tree_truncated(void **state)
{
	(void)state;
	strata_node v[5];
	sample(v, 0);
	strata_tree t = {v, 5}, back;
	strata_tree_sort(&t);
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(strata_tree_encode(&t, &b), 0);
	size_t accepted = 0, first = 0, full = b.len;
	for (size_t l = 0; l < full; l++) {
		uint8_t *q = unit_dup(b.ptr, l);
		int rc = strata_tree_decode(&back, q, l);
		if (rc == 0) {
			if (!accepted++)
				first = l;
			strata_tree_release(&back);
		} else {
			assert_int_equal(rc, STRATA_ECORRUPT);
			assert_null(back.nodes);
		}
		free(q);
	}
	assert_int_equal(strata_tree_decode(&back, b.ptr, b.len), 0);
	assert_int_equal(back.n, 5);
	strata_tree_release(&back);
	strata_buf_release(&b);
	if (accepted)
		fail_msg("%zu proper prefixes of a %zu-byte tree decode "
			 "(the shortest is %zu bytes)",
			 accepted, full, first);
}

/* ---- snapshots ---- */

static strata_snapshot snap_sample(void)
{
	strata_snapshot s;
	memset(&s, 0, sizeof(s));
	s.dataset = (char *)"ct-brain/cohort 7";
	s.version = 42;
	s.layer = (char *)"curated";
	s.klass = (char *)"deid";
	s.message = (char *)"re-run with \"fixed\" headers\nline two";
	s.author = (char *)"ana@example.org";
	s.time_ns = -17;
	unit_fill(s.root, 32, 1);
	unit_fill(s.parent, 32, 2);
	s.has_parent = true;
	s.files = 1000001;
	s.dirs = 77;
	s.bytes = UINT64_MAX;
	s.zone = (char *)"onprem";
	return s;
}

static void opt_str_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void snap_equal(const strata_snapshot *a, const strata_snapshot *b)
{
	assert_string_equal(a->dataset, b->dataset);
	assert_int_equal(a->version, b->version);
	assert_string_equal(a->layer, b->layer);
	assert_string_equal(a->klass, b->klass);
	opt_str_equal(a->message, b->message);
	opt_str_equal(a->author, b->author);
	opt_str_equal(a->zone, b->zone);
	assert_true(a->time_ns == b->time_ns);
	assert_memory_equal(a->root, b->root, 32);
	assert_int_equal(a->has_parent, b->has_parent);
	if (a->has_parent)
		assert_memory_equal(a->parent, b->parent, 32);
	assert_true(a->files == b->files);
	assert_true(a->dirs == b->dirs);
	assert_true(a->bytes == b->bytes);
}

static void test_snapshot_roundtrip(void **state)
{
	(void)state;
	strata_snapshot s = snap_sample(), back;
	strata_buf b = STRATA_BUF_INIT, b2 = STRATA_BUF_INIT;
	assert_int_equal(strata_snapshot_encode(&s, &b), 0);
	uint8_t *q = unit_dup(b.ptr, b.len);
	assert_int_equal(strata_snapshot_decode(&back, q, b.len), 0);
	snap_equal(&s, &back);
	assert_int_equal(strata_snapshot_encode(&back, &b2), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.ptr, b.ptr, b.len);
	strata_snapshot_release(&back);
	assert_null(back.dataset);
	free(q);

	/* optional fields absent */
	s.message = s.author = s.zone = NULL;
	s.has_parent = false;
	strata_buf_reset(&b);
	assert_int_equal(strata_snapshot_encode(&s, &b), 0);
	assert_int_equal(strata_snapshot_decode(&back, b.ptr, b.len), 0);
	snap_equal(&s, &back);
	assert_false(back.has_parent);
	strata_snapshot_release(&back);
	strata_buf_release(&b);
	strata_buf_release(&b2);
}

static void tlv(strata_buf *b, uint16_t tag, const void *p, uint32_t n)
{
	assert_int_equal(strata_buf_put_u16(b, tag), 0);
	assert_int_equal(strata_buf_put_u32(b, n), 0);
	assert_int_equal(strata_buf_put(b, p, n), 0);
}

static void tlv_u64(strata_buf *b, uint16_t tag, uint64_t v)
{
	uint8_t p[8];
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	tlv(b, tag, p, 8);
}

static void test_snapshot_unknown_tags(void **state)
{
	(void)state;
	strata_snapshot s = snap_sample(), back;
	strata_buf b = STRATA_BUF_INIT, mixed = STRATA_BUF_INIT;
	assert_int_equal(strata_snapshot_encode(&s, &b), 0);
	/* unknown fields before, between and after the known ones */
	assert_int_equal(strata_buf_put(&mixed, b.ptr, 8), 0);
	tlv(&mixed, 200, "hello", 5);
	tlv(&mixed, 31, "\0\0\0", 3);
	tlv(&mixed, 0xfffe, "", 0);
	/* the encoding ends with the 6-byte end field (tag 0xffff, empty):
	 * unknown fields may come anywhere before it */
	assert_int_equal(strata_buf_put(&mixed, b.ptr + 8, b.len - 8 - 6), 0);
	tlv(&mixed, 100, "future field", 12);
	tlv(&mixed, 1000, NULL, 0);
	tlv(&mixed, 0xffff, NULL, 0);
	uint8_t *q = unit_dup(mixed.ptr, mixed.len);
	assert_int_equal(strata_snapshot_decode(&back, q, mixed.len), 0);
	snap_equal(&s, &back);
	strata_snapshot_release(&back);
	free(q);
	strata_buf_release(&b);
	strata_buf_release(&mixed);
}

enum {
	T_DATASET = 1,
	T_VERSION,
	T_LAYER,
	T_CLASS,
	T_MESSAGE,
	T_AUTHOR,
	T_TIME,
	T_ROOT,
	T_PARENT,
	T_FILES,
	T_DIRS,
	T_BYTES,
	T_ZONE
};

/* A minimal snapshot by hand, leaving out the field `skip` (0: none). */
static void minimal(strata_buf *b, int skip)
{
	uint8_t root[32];
	unit_fill(root, 32, 3);
	strata_buf_reset(b);
	assert_int_equal(strata_buf_put(b, "STRSNP01", 8), 0);
	if (skip != T_DATASET)
		tlv(b, T_DATASET, "ds", 2);
	if (skip != T_VERSION)
		tlv_u64(b, T_VERSION, 1);
	if (skip != T_LAYER)
		tlv(b, T_LAYER, "raw", 3);
	if (skip != T_CLASS)
		tlv(b, T_CLASS, "phi", 3);
	if (skip != T_ROOT)
		tlv(b, T_ROOT, root, 32);
	tlv(b, 0xffff, NULL, 0); /* end */
}

static void expect_snap_bad(const strata_buf *b, const char *what)
{
	strata_snapshot s;
	uint8_t *q = unit_dup(b->ptr, b->len);
	int rc = strata_snapshot_decode(&s, q, b->len);
	if (rc != STRATA_ECORRUPT)
		fail_msg("%s: decode returned %d", what, rc);
	assert_null(s.dataset);
	assert_null(s.layer);
	free(q);
}

static void test_snapshot_required(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	strata_snapshot s;
	minimal(&b, 0);
	assert_int_equal(strata_snapshot_decode(&s, b.ptr, b.len), 0);
	assert_string_equal(s.dataset, "ds");
	assert_int_equal(s.version, 1);
	assert_null(s.message);
	assert_false(s.has_parent);
	strata_snapshot_release(&s);

	static const int req[] = {T_DATASET, T_VERSION, T_LAYER, T_CLASS,
				  T_ROOT};
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		minimal(&b, req[i]);
		expect_snap_bad(&b, "missing required field");
	}
	/* wrong sizes and values */
	minimal(&b, T_VERSION);
	tlv(&b, T_VERSION, "\1\0\0\0", 4);
	expect_snap_bad(&b, "4-byte version");
	minimal(&b, T_VERSION);
	tlv_u64(&b, T_VERSION, 0);
	expect_snap_bad(&b, "version 0");
	minimal(&b, T_VERSION);
	tlv_u64(&b, T_VERSION, (uint64_t)UINT32_MAX + 1);
	expect_snap_bad(&b, "version above 2^32");
	minimal(&b, T_ROOT);
	tlv(&b, T_ROOT, "short", 5);
	expect_snap_bad(&b, "short root");
	minimal(&b, 0);
	tlv(&b, T_PARENT, "short", 5);
	expect_snap_bad(&b, "short parent");
	minimal(&b, 0);
	tlv(&b, T_FILES, "\1", 1);
	expect_snap_bad(&b, "1-byte files");
	minimal(&b, T_DATASET);
	tlv(&b, T_DATASET, "a\0b", 3);
	expect_snap_bad(&b, "NUL in dataset");
	minimal(&b, 0);
	assert_int_equal(strata_buf_put_u16(&b, 200), 0);
	assert_int_equal(strata_buf_put_u32(&b, UINT32_MAX), 0);
	expect_snap_bad(&b, "huge field length");
	minimal(&b, 0);
	b.ptr[0] = 'X';
	expect_snap_bad(&b, "bad magic");
	strata_buf_release(&b);
}

/* A snapshot cut short anywhere must not decode: a cut at a field
 * boundary would silently drop the parent link, counts and zone. */
static void test_snapshot_truncated(void **state)
{
	(void)state;
	strata_snapshot s = snap_sample(), back;
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(strata_snapshot_encode(&s, &b), 0);
	size_t accepted = 0, first = 0;
	for (size_t l = 0; l < b.len; l++) {
		uint8_t *q = unit_dup(b.ptr, l);
		int rc = strata_snapshot_decode(&back, q, l);
		if (rc == 0) {
			if (!accepted++)
				first = l;
			strata_snapshot_release(&back);
		} else {
			assert_int_equal(rc, STRATA_ECORRUPT);
		}
		free(q);
	}
	if (accepted)
		fail_msg("%zu proper prefixes of a %zu-byte snapshot decode "
			 "(the shortest is %zu bytes)",
			 accepted, b.len, first);
	assert_int_equal(strata_snapshot_decode(&back, b.ptr, b.len), 0);
	strata_snapshot_release(&back);
	strata_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree_deterministic),
	    cmocka_unit_test(test_tree_roundtrip),
	    cmocka_unit_test(test_name_cmp),
	    cmocka_unit_test(test_tree_reject),
	    cmocka_unit_test(test_tree_reject_payload),
	    cmocka_unit_test(test_tree_truncated),
	    cmocka_unit_test(test_snapshot_roundtrip),
	    cmocka_unit_test(test_snapshot_unknown_tags),
	    cmocka_unit_test(test_snapshot_required),
	    cmocka_unit_test(test_snapshot_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
