/*
 * test_pack_index.c - unit tests for packs and the chunk index
 * (src/store/pack.c, index.c): writing a pack and reading its table back
 * through the local backend, rejection of damaged footers and tables, and
 * the index's lookups, persistence and rejection of truncated objects.
 */
#include "unit.h"

#include "store/store.h"

typedef struct fixture {
	char *dir;
	strata_backend *be;
	strata_keys k;
	strata_codec *c;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->dir = unit_tmpdir();
	if (strata_backend_local_open(&f->be, f->dir, 1))
		return -1;
	unit_fill(f->k.master, sizeof(f->k.master), 1);
	strata_keys_derive(&f->k);
	if (strata_codec_new(&f->c, &f->k, 3))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	strata_codec_free(f->c);
	strata_backend_close(f->be);
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

#define NBLOBS 50
#define NSMALL 4 /* damage tests: one put per damaged byte */

/* Fill a pack writer with sealed blobs of assorted sizes and types. */
static void fill_pack(fixture *f, strata_pack_writer *w,
		      strata_pack_entry *want, size_t count)
{
	strata_buf sealed = STRATA_BUF_INIT;
	uint8_t plain[5000];
	for (size_t i = 0; i < count; i++) {
		size_t n = (i * 977) % sizeof(plain);
		int comp;
		unit_fill(plain, n, 100 + i);
		if (i % 3 == 0)
			memset(plain, 'a', n / 2);
		assert_int_equal(
		    strata_codec_seal(f->c, &sealed, plain, n, true, &comp), 0);
		strata_pack_entry *e = &want[i];
		unit_fill(e->id, 32, 1000 + i);
		e->type = i % 2 ? STRATA_BLOB_TREE : STRATA_BLOB_DATA;
		e->offset = (uint32_t)w->data.len;
		e->length = (uint32_t)sealed.len;
		e->raw_len = (uint32_t)n;
		assert_int_equal(strata_pack_add(w, e->id, e->type, sealed.ptr,
						 sealed.len, e->raw_len),
				 0);
		assert_int_equal(w->n, i + 1);
		assert_memory_equal(w->data.ptr + e->offset, sealed.ptr,
				    sealed.len);
	}
	strata_buf_release(&sealed);
}

static void check_entries(const strata_pack_entry *got, size_t n,
			  const strata_pack_entry *want, size_t count)
{
	assert_int_equal(n, count);
	for (size_t i = 0; i < n; i++) {
		assert_memory_equal(got[i].id, want[i].id, 32);
		assert_int_equal(got[i].type, want[i].type);
		assert_int_equal(got[i].offset, want[i].offset);
		assert_int_equal(got[i].length, want[i].length);
		assert_int_equal(got[i].raw_len, want[i].raw_len);
	}
}

static int put_pack(fixture *f, const char *name, const uint8_t *p, size_t n)
{
	return f->be->ops->put(f->be, name, p, n);
}

static void test_pack_roundtrip(void **state)
{
	fixture *f = *state;
	strata_pack_writer w;
	strata_pack_entry want[NBLOBS];
	uint8_t id[32], sha[32];
	char name[128], hex[65];
	memset(&w, 0, sizeof(w));
	fill_pack(f, &w, want, NBLOBS);
	size_t blobs_end = w.data.len;
	assert_int_equal(strata_pack_finish(&w, f->c, id), 0);
	assert_true(w.data.len > blobs_end + STRATA_PACK_FOOTER);
	/* named by its trailer: sealed table, its length, the magic */
	strata_sha256(sha, w.data.ptr + blobs_end, w.data.len - blobs_end);
	assert_memory_equal(id, sha, 32);
	uint8_t again[32];
	strata_buf plain0 = STRATA_BUF_INIT;
	assert_true(strata_pack_name_hash(again, w.data.ptr, w.data.len));
	assert_memory_equal(again, id, 32);
	/* a changed trailer byte changes the name; a changed blob byte
	 * does not, and fails the blob's own tag instead */
	w.data.ptr[w.data.len - 13] ^= 1;
	assert_true(strata_pack_name_hash(again, w.data.ptr, w.data.len));
	assert_memory_not_equal(again, id, 32);
	w.data.ptr[w.data.len - 13] ^= 1;
	/* what check accepts: the trailer's hash, or all the bytes' (a pack
	 * written before 2026-11-26); nothing else */
	assert_true(strata_pack_name_matches(id, w.data.ptr, w.data.len));
	uint8_t old_id[32];
	strata_sha256(old_id, w.data.ptr, w.data.len);
	assert_true(strata_pack_name_matches(old_id, w.data.ptr, w.data.len));
	w.data.ptr[blobs_end - 1] ^= 1;
	assert_false(strata_pack_name_matches(old_id, w.data.ptr, w.data.len));
	w.data.ptr[blobs_end - 1] ^= 1;
	old_id[0] ^= 1;
	assert_false(strata_pack_name_matches(old_id, w.data.ptr, w.data.len));
	w.data.ptr[want[0].offset + 20] ^= 1;
	assert_true(strata_pack_name_hash(again, w.data.ptr, w.data.len));
	assert_memory_equal(again, id, 32);
	assert_int_not_equal(strata_codec_open(f->c, &plain0,
					       w.data.ptr + want[0].offset,
					       want[0].length, want[0].raw_len),
			     0);
	w.data.ptr[want[0].offset + 20] ^= 1;
	/* not a pack's end: no name */
	assert_false(strata_pack_name_hash(again, w.data.ptr, 11));
	assert_false(strata_pack_name_hash(again, w.data.ptr, w.data.len - 1));
	strata_le32(w.data.ptr + w.data.len - 12, (uint32_t)w.data.len);
	assert_false(strata_pack_name_hash(again, w.data.ptr, w.data.len));
	strata_le32(w.data.ptr + w.data.len - 12,
		    (uint32_t)(w.data.len - blobs_end - STRATA_PACK_FOOTER));
	strata_buf_release(&plain0);
	assert_memory_equal(w.data.ptr + w.data.len - 8, STRATA_PACK_MAGIC, 8);
	assert_int_equal(strata_get_le32(w.data.ptr + w.data.len - 12),
			 w.data.len - blobs_end - STRATA_PACK_FOOTER);
	/* every blob still opens from where the table says it is */
	strata_buf plain = STRATA_BUF_INIT;
	for (size_t i = 0; i < NBLOBS; i++) {
		assert_int_equal(
		    strata_codec_open(f->c, &plain, w.data.ptr + want[i].offset,
				      want[i].length, want[i].raw_len),
		    0);
		assert_int_equal(plain.len, want[i].raw_len);
	}
	strata_buf_release(&plain);

	strata_pack_name(name, sizeof(name), id);
	strata_hex(hex, id, 32);
	assert_int_equal(strlen(name), 5 + 3 + 64);
	assert_memory_equal(name, "data/", 5);
	assert_memory_equal(name + 5, hex, 2);
	assert_int_equal(name[7], '/');
	assert_string_equal(name + 8, hex);

	assert_int_equal(put_pack(f, name, w.data.ptr, w.data.len), 0);
	uint64_t size = 0;
	assert_int_equal(f->be->ops->exists(f->be, name, &size), 0);
	assert_int_equal(size, w.data.len);
	strata_pack_entry *got = NULL;
	size_t n = 0;
	assert_int_equal(
	    strata_pack_read_table(f->be, f->c, name, size, &got, &n), 0);
	check_entries(got, n, want, NBLOBS);
	free(got);

	/* reset starts a new, empty pack */
	strata_pack_writer_reset(&w);
	assert_int_equal(w.n, 0);
	assert_int_equal(w.data.len, 0);
	assert_int_equal(strata_pack_finish(&w, f->c, id), 0);
	strata_pack_name(name, sizeof(name), id);
	assert_int_equal(put_pack(f, name, w.data.ptr, w.data.len), 0);
	got = NULL;
	n = 99;
	assert_int_equal(
	    strata_pack_read_table(f->be, f->c, name, w.data.len, &got, &n), 0);
	assert_int_equal(n, 0);
	free(got);
	strata_pack_writer_release(&w);
}

/* strata_pack_seal seals straight into the pack, between blobs added
 * with strata_pack_add: its table and blobs read back like theirs. */
static void test_pack_seal(void **state)
{
	fixture *f = *state;
	strata_pack_writer w;
	strata_pack_entry want[12];
	strata_buf sealed = STRATA_BUF_INIT, plain = STRATA_BUF_INIT;
	uint8_t src[12][3000], id[32];
	char name[128];
	memset(&w, 0, sizeof(w));
	for (size_t i = 0; i < 12; i++) {
		size_t n = 1 + i * 250;
		unit_fill(src[i], n, 7 + i);
		if (i % 2)
			memset(src[i], 'x', n / 2); /* compresses */
		strata_pack_entry *e = &want[i];
		unit_fill(e->id, 32, 500 + i);
		e->type = STRATA_BLOB_DATA;
		e->offset = (uint32_t)w.data.len;
		e->raw_len = (uint32_t)n;
		if (i % 3 == 2) { /* the old way, for comparison */
			int comp;
			assert_int_equal(strata_codec_seal(f->c, &sealed,
							   src[i], n, 1, &comp),
					 0);
			assert_int_equal(strata_pack_add(&w, e->id, e->type,
							 sealed.ptr, sealed.len,
							 e->raw_len),
					 0);
		} else {
			int mode = i % 3 ? STRATA_SEAL_ZSTD : STRATA_SEAL_RAW;
			assert_int_equal(strata_pack_seal(&w, f->c, e->id,
							  e->type, src[i], n,
							  mode),
					 0);
			if (mode == STRATA_SEAL_RAW) /* stored as it is */
				assert_int_equal(w.data.len - e->offset,
						 n + STRATA_BLOB_OVERHEAD);
		}
		e->length = (uint32_t)(w.data.len - e->offset);
		assert_int_equal(w.n, i + 1);
		check_entries(w.ents, w.n, want, i + 1);
	}
	size_t end = w.data.len;
	assert_int_equal(strata_pack_finish(&w, f->c, id), 0);
	for (size_t i = 0; i < 12; i++) {
		assert_true(want[i].offset + want[i].length <= end);
		assert_int_equal(
		    strata_codec_open(f->c, &plain, w.data.ptr + want[i].offset,
				      want[i].length, want[i].raw_len),
		    0);
		assert_int_equal(plain.len, want[i].raw_len);
		assert_memory_equal(plain.ptr, src[i], plain.len);
	}
	strata_pack_name(name, sizeof(name), id);
	assert_int_equal(put_pack(f, name, w.data.ptr, w.data.len), 0);
	strata_pack_entry *got = NULL;
	size_t n = 0;
	assert_int_equal(
	    strata_pack_read_table(f->be, f->c, name, w.data.len, &got, &n), 0);
	check_entries(got, n, want, 12);
	free(got);
	strata_buf_release(&sealed);
	strata_buf_release(&plain);
	strata_pack_writer_release(&w);
}

/* Store a damaged copy of the pack and expect ECORRUPT from its table. */
static void expect_bad(fixture *f, const uint8_t *p, size_t n, int tag)
{
	char name[64];
	strata_pack_entry *got = NULL;
	size_t cnt = 0;
	snprintf(name, sizeof(name), "data/zz/bad-%d", tag);
	assert_int_equal(f->be->ops->put_deferred(f->be, name, p, n), 0);
	int rc = strata_pack_read_table(f->be, f->c, name, n, &got, &cnt);
	if (rc != STRATA_ECORRUPT)
		fail_msg("damage %d: read_table returned %d", tag, rc);
	assert_null(got);
	assert_int_equal(f->be->ops->del(f->be, name), 0);
}

static void test_pack_damage(void **state)
{
	fixture *f = *state;
	strata_pack_writer w;
	strata_pack_entry want[NSMALL];
	uint8_t id[32];
	memset(&w, 0, sizeof(w));
	fill_pack(f, &w, want, NSMALL);
	size_t blobs_end = w.data.len;
	assert_int_equal(strata_pack_finish(&w, f->c, id), 0);
	size_t n = w.data.len;
	uint8_t *p = malloc(n);
	assert_non_null(p);
	int tag = 0;

	/* magic and length of the footer */
	for (size_t i = n - STRATA_PACK_FOOTER; i < n; i++) {
		memcpy(p, w.data.ptr, n);
		p[i] ^= 0x01;
		expect_bad(f, p, n, tag++);
		memcpy(p, w.data.ptr, n);
		p[i] ^= 0xff;
		expect_bad(f, p, n, tag++);
	}
	uint32_t bad_len[] = {0, 1, (uint32_t)n, UINT32_MAX,
			      (uint32_t)(n - STRATA_PACK_FOOTER + 1)};
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		memcpy(p, w.data.ptr, n);
		strata_le32(p + n - STRATA_PACK_FOOTER, bad_len[i]);
		expect_bad(f, p, n, tag++);
	}
	/* every byte of the sealed trailer */
	for (size_t i = blobs_end; i < n - STRATA_PACK_FOOTER; i++) {
		memcpy(p, w.data.ptr, n);
		p[i] ^= 0x10;
		expect_bad(f, p, n, tag++);
	}
	/* truncated at the end, and too short to hold anything */
	expect_bad(f, w.data.ptr, n - 1, tag++);
	expect_bad(f, w.data.ptr, 10, tag++);
	expect_bad(f, w.data.ptr + 1, n - 1, tag++);
	/* damage to a blob is not the table's concern */
	memcpy(p, w.data.ptr, n);
	p[want[3].offset + 20] ^= 1;
	assert_int_equal(put_pack(f, "data/zz/blobdamage", p, n), 0);
	strata_pack_entry *got = NULL;
	size_t cnt;
	assert_int_equal(strata_pack_read_table(
			     f->be, f->c, "data/zz/blobdamage", n, &got, &cnt),
			 0);
	check_entries(got, cnt, want, NSMALL);
	free(got);
	free(p);
	strata_pack_writer_release(&w);
}

/* Hand-built table plaintexts: the parser's own checks. */
static void test_pack_parse_table(void **state)
{
	(void)state;
	strata_buf t = STRATA_BUF_INIT;
	strata_pack_entry *e = NULL;
	size_t cnt = 0;
	uint8_t id[32];
	unit_fill(id, 32, 9);

	assert_int_equal(strata_buf_put(&t, "STRTBL01", 8), 0);
	assert_int_equal(strata_buf_put_u32(&t, 1), 0);
	assert_int_equal(strata_buf_put(&t, id, 32), 0);
	assert_int_equal(strata_buf_put_u8(&t, 1), 0);
	assert_int_equal(strata_buf_put_u32(&t, 100), 0); /* offset */
	assert_int_equal(strata_buf_put_u32(&t, 50), 0);  /* length */
	assert_int_equal(strata_buf_put_u32(&t, 7), 0);	  /* raw_len */
	assert_int_equal(t.len, 12 + STRATA_PACK_ENTRY_SIZE);

	assert_int_equal(strata_pack_parse_table(t.ptr, t.len, 150, &e, &cnt),
			 0);
	assert_int_equal(cnt, 1);
	assert_memory_equal(e[0].id, id, 32);
	assert_int_equal(e[0].offset, 100);
	free(e);
	/* the blob must lie before the table */
	e = NULL;
	assert_int_equal(strata_pack_parse_table(t.ptr, t.len, 149, &e, &cnt),
			 STRATA_ECORRUPT);
	assert_null(e);
	/* every proper prefix, and one extra byte */
	for (size_t l = 0; l < t.len; l++) {
		uint8_t *q = unit_dup(t.ptr, l);
		e = NULL;
		int rc = strata_pack_parse_table(q, l, 150, &e, &cnt);
		free(q);
		free(e);
		if (rc != STRATA_ECORRUPT)
			fail_msg("table prefix of %zu of %zu bytes: parse "
				 "returned %d",
				 l, t.len, rc);
	}
	assert_int_equal(strata_buf_put_u8(&t, 0), 0);
	assert_int_equal(strata_pack_parse_table(t.ptr, t.len, 150, &e, &cnt),
			 STRATA_ECORRUPT);
	t.len--;
	/* bad type, short length, huge raw_len, huge count, bad magic */
	size_t ent = 12;
	struct {
		size_t off;
		uint32_t v;
		int width;
	} bad[] = {{ent + 32, 2, 1},
		   {ent + 37, STRATA_BLOB_OVERHEAD - 1, 4},
		   {ent + 41, STRATA_BLOB_MAX + 1, 4},
		   {ent + 33, UINT32_MAX, 4},
		   {8, 2, 4},
		   {8, UINT32_MAX, 4},
		   {0, 'X', 1}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *q = unit_dup(t.ptr, t.len);
		if (bad[i].width == 1)
			q[bad[i].off] = (uint8_t)bad[i].v;
		else
			strata_le32(q + bad[i].off, bad[i].v);
		e = NULL;
		assert_int_equal(
		    strata_pack_parse_table(q, t.len, UINT32_MAX, &e, &cnt),
		    STRATA_ECORRUPT);
		assert_null(e);
		free(q);
	}
	strata_buf_release(&t);
}

#define NIDS 100000
#define NPACKS 7

static void ent_for(size_t i, strata_pack_entry *e)
{
	unit_fill(e->id, 32, 0x5eed0000 + i);
	e->type = (uint8_t)(i & 1);
	e->offset = (uint32_t)(i * 3);
	e->length = (uint32_t)(STRATA_BLOB_OVERHEAD + i);
	e->raw_len = (uint32_t)(i * 5 % STRATA_BLOB_MAX);
}

static void check_found(const strata_index *ix, size_t i, uint32_t pack)
{
	strata_pack_entry e;
	ent_for(i, &e);
	const strata_index_ent *s = strata_index_find(ix, e.id);
	if (!s)
		fail_msg("id %zu not found", i);
	assert_memory_equal(s->id, e.id, 32);
	assert_int_equal(s->pack, pack);
	assert_int_equal(s->offset, e.offset);
	assert_int_equal(s->length, e.length);
	assert_int_equal(s->raw_len, e.raw_len);
	assert_int_equal(s->type, e.type);
}

static void build_index(strata_index *ix, size_t nids)
{
	assert_int_equal(strata_index_init(ix), 0);
	for (uint32_t p = 0; p < NPACKS; p++) {
		uint8_t pid[32];
		uint32_t num = 99;
		unit_fill(pid, 32, 0xbac0 + p);
		assert_int_equal(strata_index_pack(ix, pid, &num), 0);
		assert_int_equal(num, p);
	}
	for (size_t i = 0; i < nids; i++) {
		strata_pack_entry e;
		ent_for(i, &e);
		assert_int_equal(
		    strata_index_add(ix, &e, (uint32_t)(i % NPACKS)), 0);
	}
	assert_int_equal(ix->count, nids);
}

static void test_index_add_find(void **state)
{
	(void)state;
	strata_index ix;
	build_index(&ix, NIDS);
	for (size_t i = 0; i < NIDS; i++)
		check_found(&ix, i, (uint32_t)(i % NPACKS));
	for (size_t i = 0; i < NIDS; i++) {
		uint8_t absent[32];
		unit_fill(absent, 32, 0xab5e0000 + i);
		assert_null(strata_index_find(&ix, absent));
	}
	/* an id sharing the first 8 bytes (the hash) is still distinct */
	strata_pack_entry e;
	ent_for(17, &e);
	e.id[31] ^= 1;
	assert_null(strata_index_find(&ix, e.id));
	/* a duplicate add keeps the first location */
	ent_for(5, &e);
	e.offset = 4242;
	assert_int_equal(strata_index_add(&ix, &e, 6), 0);
	assert_int_equal(ix.count, NIDS);
	check_found(&ix, 5, 5);
	strata_index_release(&ix);
}

static void test_index_encode_decode(void **state)
{
	(void)state;
	strata_index ix, back, part;
	strata_buf b = STRATA_BUF_INIT, b2 = STRATA_BUF_INIT;
	build_index(&ix, NIDS);
	assert_int_equal(strata_index_encode(&ix, 0, &b), 0);
	assert_int_equal(b.len,
			 12 + NPACKS * 36 + NIDS * STRATA_PACK_ENTRY_SIZE);

	assert_int_equal(strata_index_init(&back), 0);
	assert_int_equal(strata_index_decode(&back, b.ptr, b.len), 0);
	assert_int_equal(back.count, NIDS);
	assert_int_equal(back.npacks, NPACKS);
	assert_memory_equal(back.packs, ix.packs, NPACKS * 32);
	for (size_t i = 0; i < NIDS; i++)
		check_found(&back, i, (uint32_t)(i % NPACKS));
	/* re-encoding the decoded index gives the same bytes */
	assert_int_equal(strata_index_encode(&back, 0, &b2), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.ptr, b.ptr, b.len);
	strata_index_release(&back);

	/* only packs from first_pack on are written, renumbered from 0 */
	strata_buf_reset(&b);
	assert_int_equal(strata_index_encode(&ix, 4, &b), 0);
	assert_int_equal(strata_index_init(&part), 0);
	assert_int_equal(strata_index_decode(&part, b.ptr, b.len), 0);
	assert_int_equal(part.npacks, NPACKS - 4);
	assert_memory_equal(part.packs, ix.packs[4], (NPACKS - 4) * 32);
	size_t expect = 0;
	for (size_t i = 0; i < NIDS; i++) {
		strata_pack_entry e;
		ent_for(i, &e);
		if (i % NPACKS >= 4) {
			check_found(&part, i, (uint32_t)(i % NPACKS - 4));
			expect++;
		} else {
			assert_null(strata_index_find(&part, e.id));
		}
	}
	assert_int_equal(part.count, expect);
	strata_index_release(&part);
	strata_index_release(&ix);
	strata_buf_release(&b);
	strata_buf_release(&b2);
}

/* No proper prefix of an index object may decode: each one lost data. */
static void test_index_truncated(void **state)
{
	(void)state;
	strata_index ix;
	strata_buf b = STRATA_BUF_INIT;
	build_index(&ix, 20);
	assert_int_equal(strata_index_encode(&ix, 0, &b), 0);
	size_t accepted = 0, first = 0;
	for (size_t l = 0; l < b.len; l++) {
		strata_index t;
		uint8_t *q = unit_dup(b.ptr, l);
		assert_int_equal(strata_index_init(&t), 0);
		int rc = strata_index_decode(&t, q, l);
		if (rc == 0 && !accepted++)
			first = l;
		else if (rc)
			assert_int_equal(rc, STRATA_ECORRUPT);
		strata_index_release(&t);
		free(q);
	}
	size_t full = b.len;
	strata_index_release(&ix);
	strata_buf_release(&b);
	if (accepted)
		fail_msg("%zu proper prefixes of a %zu-byte index decode "
			 "(the shortest is %zu bytes)",
			 accepted, full, first);
}

static void test_index_bad(void **state)
{
	(void)state;
	strata_index ix;
	strata_buf b = STRATA_BUF_INIT;
	build_index(&ix, 20);
	assert_int_equal(strata_index_encode(&ix, 0, &b), 0);
	size_t first_ent = 12 + 36;
	struct {
		size_t off;
		uint32_t v;
		int width;
	} bad[] = {{0, 'X', 1},
		   {first_ent + 32, 2, 1},
		   {first_ent + 37, STRATA_BLOB_OVERHEAD - 1, 4},
		   {first_ent + 41, STRATA_BLOB_MAX + 1, 4},
		   {8, NPACKS + 1, 4},
		   {8, UINT32_MAX, 4},
		   {12 + 32, UINT32_MAX, 4}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strata_index t;
		uint8_t *q = unit_dup(b.ptr, b.len);
		if (bad[i].width == 1)
			q[bad[i].off] = (uint8_t)bad[i].v;
		else
			strata_le32(q + bad[i].off, bad[i].v);
		assert_int_equal(strata_index_init(&t), 0);
		assert_int_equal(strata_index_decode(&t, q, b.len),
				 STRATA_ECORRUPT);
		strata_index_release(&t);
		free(q);
	}
	/* trailing garbage */
	assert_int_equal(strata_buf_put_u8(&b, 0), 0);
	strata_index t;
	assert_int_equal(strata_index_init(&t), 0);
	assert_int_equal(strata_index_decode(&t, b.ptr, b.len),
			 STRATA_ECORRUPT);
	strata_index_release(&t);
	strata_index_release(&ix);
	strata_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pack_roundtrip, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pack_damage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_seal, setup, teardown),
	    cmocka_unit_test(test_pack_parse_table),
	    cmocka_unit_test(test_index_add_find),
	    cmocka_unit_test(test_index_encode_decode),
	    cmocka_unit_test(test_index_truncated),
	    cmocka_unit_test(test_index_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
