/*
 * test_blob.c - unit tests for the blob codec (src/store/blob.c): seal/open
 * round trips, when compression is used, the header layout, rejection of
 * any single damaged byte, of a foreign key and of an oversized plaintext.
 */
#include "unit.h"

#include "store/store.h"

static strata_keys keys_from(uint64_t seed)
{
	strata_keys k;
	memset(&k, 0, sizeof(k));
	unit_fill(k.master, sizeof(k.master), seed);
	strata_keys_derive(&k);
	return k;
}

typedef struct fixture {
	strata_keys k;
	strata_codec *c;
	strata_buf sealed, plain;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->k = keys_from(1);
	if (strata_codec_new(&f->c, &f->k, 3))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	strata_codec_free(f->c);
	strata_buf_release(&f->sealed);
	strata_buf_release(&f->plain);
	free(f);
	return 0;
}

static void make_text(uint8_t *p, size_t n)
{
	static const char words[] =
	    "the quick brown fox jumps over the lazy dog; patient 0042 "
	    "series 7 slice thickness 1.25 mm, contrast none. ";
	uint64_t s = 99;
	for (size_t i = 0; i < n;) {
		size_t w = unit_rand(&s) % (sizeof(words) - 10);
		size_t l = 1 + unit_rand(&s) % 9;
		for (size_t j = 0; j < l && i < n; j++)
			p[i++] = (uint8_t)words[w + j];
	}
}

/* Seal, check the compression choice and header, open, compare. */
static void roundtrip(fixture *f, const uint8_t *p, size_t n, int mode,
		      int want_comp)
{
	int comp = -1;
	assert_int_equal(strata_codec_seal(f->c, &f->sealed, p, n, mode, &comp),
			 0);
	assert_int_equal(comp, want_comp);
	const uint8_t *h = f->sealed.ptr;
	assert_int_equal(h[0], 'S');
	assert_int_equal(h[1], 'B');
	assert_int_equal(h[2], STRATA_FORMAT_VERSION);
	assert_int_equal(h[3], want_comp);
	assert_int_equal(h[4], (uint8_t)f->k.key_id);
	assert_int_equal(h[5], (uint8_t)(f->k.key_id >> 8));
	assert_int_equal(h[6], (uint8_t)(f->k.key_id >> 16));
	assert_int_equal(h[7], (uint8_t)(f->k.key_id >> 24));
	if (want_comp == STRATA_COMP_ZSTD)
		assert_true(f->sealed.len < n);
	else
		assert_int_equal(f->sealed.len, n + STRATA_BLOB_OVERHEAD);
	uint8_t *copy = unit_dup(f->sealed.ptr, f->sealed.len);
	assert_int_equal(
	    strata_codec_open(f->c, &f->plain, copy, f->sealed.len, n), 0);
	assert_int_equal(f->plain.len, n);
	if (n)
		assert_memory_equal(f->plain.ptr, p, n);
	/* the default bound (0) works as well */
	assert_int_equal(
	    strata_codec_open(f->c, &f->plain, copy, f->sealed.len, 0), 0);
	assert_int_equal(f->plain.len, n);
	/* into a caller's buffer of exactly n bytes (ASan sees any byte
	 * written past it); one byte less is refused */
	uint8_t *into = malloc(n ? n : 1);
	size_t got = SIZE_MAX;
	assert_non_null(into);
	assert_int_equal(
	    strata_codec_open_into(f->c, into, n, copy, f->sealed.len, &got),
	    0);
	assert_int_equal(got, n);
	if (n) {
		assert_memory_equal(into, p, n);
		assert_int_equal(strata_codec_open_into(f->c, into, n - 1, copy,
							f->sealed.len, &got),
				 STRATA_ECORRUPT);
	}
	free(into);
	free(copy);
}

static void test_roundtrip(void **state)
{
	fixture *f = *state;
	size_t n = 1 << 20;
	uint8_t *zeros = calloc(1, n), *text = malloc(n), *rnd = malloc(n);
	assert_non_null(zeros);
	assert_non_null(text);
	assert_non_null(rnd);
	make_text(text, n);
	unit_fill(rnd, n, 3);

	roundtrip(f, zeros, n, true, STRATA_COMP_ZSTD);
	assert_true(f->sealed.len < n / 100);
	roundtrip(f, text, n, true, STRATA_COMP_ZSTD);
	assert_true(f->sealed.len < n / 2);
	roundtrip(f, text, 5000, true, STRATA_COMP_ZSTD);
	roundtrip(f, rnd, n, true, STRATA_COMP_NONE);
	roundtrip(f, rnd, 100, true, STRATA_COMP_NONE);
	/* try_comp false stores compressible data as is */
	roundtrip(f, zeros, n, false, STRATA_COMP_NONE);
	roundtrip(f, zeros, 10, true, STRATA_COMP_NONE);
	roundtrip(f, zeros, 0, true, STRATA_COMP_NONE);
	/* a gzip member is assumed incompressible without trying */
	zeros[0] = 0x1f;
	zeros[1] = 0x8b;
	assert_true(strata_codec_incompressible(f->c, zeros, n));
	roundtrip(f, zeros, n, true, STRATA_COMP_NONE);
	assert_true(strata_codec_incompressible(f->c, rnd, n));
	assert_false(strata_codec_incompressible(f->c, text, n));
	/* SEAL_ZSTD compresses without the sample: text whose middle (where
	 * the sample is taken) is random is kept raw by SEAL_TRY only */
	memcpy(text + n / 2 - 65536, rnd, 131072);
	assert_true(strata_codec_incompressible(f->c, text, n));
	roundtrip(f, text, n, STRATA_SEAL_TRY, STRATA_COMP_NONE);
	roundtrip(f, text, n, STRATA_SEAL_ZSTD, STRATA_COMP_ZSTD);
	/* ... and still keeps what does not shrink as it is */
	roundtrip(f, rnd, n, STRATA_SEAL_ZSTD, STRATA_COMP_NONE);
	roundtrip(f, rnd, 100, STRATA_SEAL_ZSTD, STRATA_COMP_NONE);
	free(zeros);
	free(text);
	free(rnd);
}

static void test_nonce_unique(void **state)
{
	fixture *f = *state;
	strata_buf other = STRATA_BUF_INIT;
	int comp;
	assert_int_equal(strata_codec_seal(f->c, &f->sealed,
					   (const uint8_t *)"same", 4, true,
					   &comp),
			 0);
	assert_int_equal(strata_codec_seal(f->c, &other,
					   (const uint8_t *)"same", 4, true,
					   &comp),
			 0);
	assert_int_equal(other.len, f->sealed.len);
	assert_memory_not_equal(other.ptr + STRATA_BLOB_HDR,
				f->sealed.ptr + STRATA_BLOB_HDR,
				STRATA_NONCE_LEN);
	assert_memory_not_equal(other.ptr, f->sealed.ptr, other.len);
	strata_buf_release(&other);
}

/* Every single-byte change, and every truncation, is ECORRUPT. */
static void damage_all(fixture *f, const uint8_t *p, size_t n, int want_comp)
{
	int comp;
	assert_int_equal(strata_codec_seal(f->c, &f->sealed, p, n, true, &comp),
			 0);
	assert_int_equal(comp, want_comp);
	size_t len = f->sealed.len;
	uint8_t *into = malloc(n ? n : 1);
	assert_non_null(into);
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			uint8_t *copy = unit_dup(f->sealed.ptr, len);
			copy[i] ^= masks[m];
			int rc =
			    strata_codec_open(f->c, &f->plain, copy, len, n);
			if (rc != STRATA_ECORRUPT)
				fail_msg("byte %zu ^ 0x%02x: open returned %d",
					 i, masks[m], rc);
			size_t got;
			rc = strata_codec_open_into(f->c, into, n, copy, len,
						    &got);
			if (rc != STRATA_ECORRUPT)
				fail_msg("byte %zu ^ 0x%02x: open_into "
					 "returned %d",
					 i, masks[m], rc);
			free(copy);
		}
	}
	for (size_t l = 0; l < len; l++) {
		uint8_t *copy = unit_dup(f->sealed.ptr, l);
		assert_int_equal(strata_codec_open(f->c, &f->plain, copy, l, n),
				 STRATA_ECORRUPT);
		free(copy);
	}
	uint8_t *longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, f->sealed.ptr, len);
	longer[len] = 0;
	assert_int_equal(strata_codec_open(f->c, &f->plain, longer, len + 1, n),
			 STRATA_ECORRUPT);
	free(longer);
	free(into);
}

static void test_damage(void **state)
{
	fixture *f = *state;
	uint8_t text[400], rnd[300];
	make_text(text, sizeof(text));
	unit_fill(rnd, sizeof(rnd), 4);
	damage_all(f, text, sizeof(text), STRATA_COMP_ZSTD);
	damage_all(f, rnd, sizeof(rnd), STRATA_COMP_NONE);
}

static void test_other_key(void **state)
{
	fixture *f = *state;
	uint8_t text[2000];
	int comp;
	make_text(text, sizeof(text));
	assert_int_equal(strata_codec_seal(f->c, &f->sealed, text, sizeof(text),
					   true, &comp),
			 0);

	strata_keys k2 = keys_from(2);
	strata_codec *c2;
	assert_int_equal(strata_codec_new(&c2, &k2, 3), 0);
	assert_int_equal(
	    strata_codec_open(c2, &f->plain, f->sealed.ptr, f->sealed.len, 0),
	    STRATA_ECORRUPT);
	strata_codec_free(c2);

	/* same key id, different data key: the tag must catch it */
	strata_keys k3 = f->k;
	k3.data_key[0] ^= 1;
	assert_int_equal(strata_codec_new(&c2, &k3, 3), 0);
	assert_int_equal(
	    strata_codec_open(c2, &f->plain, f->sealed.ptr, f->sealed.len, 0),
	    STRATA_ECORRUPT);
	strata_codec_free(c2);
	strata_codec_free(NULL);
}

static void test_raw_len(void **state)
{
	fixture *f = *state;
	uint8_t rnd[1000], *zeros = calloc(1, 100000);
	int comp;
	assert_non_null(zeros);
	unit_fill(rnd, sizeof(rnd), 5);
	assert_int_equal(
	    strata_codec_seal(f->c, &f->sealed, rnd, sizeof(rnd), true, &comp),
	    0);
	assert_int_equal(comp, STRATA_COMP_NONE);
	assert_int_equal(strata_codec_open(f->c, &f->plain, f->sealed.ptr,
					   f->sealed.len, 999),
			 STRATA_ECORRUPT);
	assert_int_equal(strata_codec_open(f->c, &f->plain, f->sealed.ptr,
					   f->sealed.len, 1000),
			 0);

	assert_int_equal(
	    strata_codec_seal(f->c, &f->sealed, zeros, 100000, true, &comp), 0);
	assert_int_equal(comp, STRATA_COMP_ZSTD);
	assert_int_equal(strata_codec_open(f->c, &f->plain, f->sealed.ptr,
					   f->sealed.len, 99999),
			 STRATA_ECORRUPT);
	assert_int_equal(strata_codec_open(f->c, &f->plain, f->sealed.ptr,
					   f->sealed.len, 100),
			 STRATA_ECORRUPT);
	assert_int_equal(strata_codec_open(f->c, &f->plain, f->sealed.ptr,
					   f->sealed.len, 100000),
			 0);
	assert_int_equal(f->plain.len, 100000);
	free(zeros);
}

static void test_too_large(void **state)
{
	fixture *f = *state;
	int comp;
	uint8_t *big = calloc(1, (size_t)STRATA_BLOB_MAX + 1);
	assert_non_null(big);
	assert_int_equal(strata_codec_seal(f->c, &f->sealed, big,
					   (size_t)STRATA_BLOB_MAX + 1, true,
					   &comp),
			 STRATA_EINVAL);
	free(big);
}

/* STRATA_BLOB_MAX is the documented largest blob: one that compresses well
 * must seal (and open) like any other. */
static void test_max_size_compressible(void **state)
{
	fixture *f = *state;
	int comp = -1;
	size_t n = STRATA_BLOB_MAX;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	int rc = strata_codec_seal(f->c, &f->sealed, big, n, true, &comp);
	if (rc)
		fail_msg("sealing %zu zero bytes failed: %s", n,
			 strata_error_msg());
	assert_int_equal(comp, STRATA_COMP_ZSTD);
	assert_int_equal(
	    strata_codec_open(f->c, &f->plain, f->sealed.ptr, f->sealed.len, n),
	    0);
	assert_int_equal(f->plain.len, n);
	assert_memory_equal(f->plain.ptr, big, n);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nonce_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_raw_len, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_size_compressible, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
