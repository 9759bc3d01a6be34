/*
 * test_crypto.c - known-answer and tamper tests for the crypto wrappers
 * (SHA-256, HMAC-SHA-256, AES-256-GCM in src/common/crypto.c) and exact
 * output tests for the JSON writer's escaping (src/common/json.c).
 */
#include "unit.h"

static void check_sha(const char *msg, const char *hex)
{
	uint8_t want[32], got[32];
	unit_unhex(want, 32, hex);
	strata_sha256(got, msg, strlen(msg));
	assert_memory_equal(got, want, 32);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	/* FIPS 180-2 appendix B.1 and B.2, and the empty string */
	check_sha("abc", "ba7816bf8f01cfea414140de5dae2223"
			 "b00361a396177a9cb410ff61f20015ad");
	check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039"
		  "a33ce45964ff2167f6ecedd419db06c1");
	check_sha("", "e3b0c44298fc1c149afbf4c8996fb924"
		      "27ae41e4649b934ca495991b7852b855");
}

/* The file-and-chunk pair: known answers, then both hashes against
 * OpenSSL's over chunkings that cross every block and padding edge,
 * with the interleaved path and without it. */
static void pair_vector(strata_sha256_pair *x, const char *msg, const char *hex)
{
	uint8_t want[32], whole[32], chunk[32];
	unit_unhex(want, 32, hex);
	strata_sha256_pair_add(x, msg, strlen(msg), chunk);
	strata_sha256_pair_final(x, whole);
	assert_memory_equal(chunk, want, 32);
	assert_memory_equal(whole, want, 32);
}

static bool cpu_has_sha_ni(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	bool yes = false;
	while (f && !yes && fgets(line, sizeof(line), f))
		yes = !strncmp(line, "flags", 5) && strstr(line, " sha_ni");
	if (f)
		fclose(f);
	return yes;
}

static void pair_rounds(bool interleaved)
{
	static uint8_t data[300000];
	strata_sha256_pair *x;
	uint32_t seed = 12345;
	unit_fill(data, sizeof(data), 9);
	if (interleaved)
		unsetenv("STRATA_NO_SHA_PAIR"); /* whatever the caller set */
	else
		setenv("STRATA_NO_SHA_PAIR", "1", 1);
	assert_int_equal(strata_sha256_pair_new(&x), 0);
	unsetenv("STRATA_NO_SHA_PAIR");
	assert_int_equal(strata_sha256_pair_interleaved(x),
			 interleaved && cpu_has_sha_ni());
	pair_vector(x, "abc",
		    "ba7816bf8f01cfea414140de5dae2223"
		    "b00361a396177a9cb410ff61f20015ad");
	pair_vector(x, "",
		    "e3b0c44298fc1c149afbf4c8996fb924"
		    "27ae41e4649b934ca495991b7852b855");
	for (int t = 0; t < 800; t++) {
		seed = seed * 1103515245u + 12345u;
		size_t total = t < 600 ? (size_t)t : (seed >> 8) % 150000;
		size_t start = (seed >> 3) % 64, off = 0, max;
		uint8_t whole[32], want[32], chunk[32];
		/* pieces of a few bytes, around a block, or large */
		max = t % 3 == 0 ? 9 : t % 3 == 1 ? 130 : 70000;
		while (off < total) {
			seed = seed * 1103515245u + 12345u;
			size_t n = 1 + (seed >> 4) % max;
			if (n > total - off)
				n = total - off;
			bool own = (seed >> 20) % 4 != 0;
			strata_sha256_pair_add(x, data + start + off, n,
					       own ? chunk : NULL);
			if (own) {
				strata_sha256(want, data + start + off, n);
				assert_memory_equal(chunk, want, 32);
			}
			off += n;
		}
		strata_sha256_pair_final(x, whole);
		strata_sha256(want, data + start, total);
		assert_memory_equal(whole, want, 32);
	}
	strata_sha256_pair_free(x);
}

static void test_sha256_pair(void **state)
{
	(void)state;
	pair_rounds(true);
	pair_rounds(false);
}

/* Messages through the two lanes, each lane refilled as its message
 * ends: every hash as OpenSSL computes it, every tag returned once, across
 * lengths on both sides of every block and padding edge. */
static void lanes_rounds(bool interleaved)
{
	enum { N = 900 };
	static uint8_t data[140000];
	static size_t at[N], len[N];
	bool seen[N] = {false};
	uint32_t seed = 777;
	size_t next = 0, got = 0;
	strata_sha256_lanes *l;
	unit_fill(data, sizeof(data), 11);
	for (size_t t = 0; t < N; t++) {
		seed = seed * 1103515245u + 12345u;
		/* 0..259 bytes, then up to 70,000, with runs of equal
		 * lengths (both lanes end at once) */
		len[t] = t < 260     ? t
			 : t % 7 < 2 ? len[t - 1]
				     : (seed >> 7) % 70000;
		at[t] = t % 61;
	}
	if (interleaved)
		unsetenv("STRATA_NO_SHA_PAIR");
	else
		setenv("STRATA_NO_SHA_PAIR", "1", 1);
	assert_int_equal(strata_sha256_lanes_new(&l), 0);
	unsetenv("STRATA_NO_SHA_PAIR");
	while (got < N) {
		while (next < N && strata_sha256_lanes_busy(l) < 2) {
			strata_sha256_lanes_put(l, data + at[next], len[next],
						next);
			next++;
		}
		uint8_t h[32], want[32];
		size_t t = strata_sha256_lanes_next(l, h);
		assert_true(t < next);
		assert_false(seen[t]);
		seen[t] = true;
		got++;
		strata_sha256(want, data + at[t], len[t]);
		assert_memory_equal(h, want, 32);
	}
	assert_int_equal(strata_sha256_lanes_busy(l), 0);
	strata_sha256_lanes_free(l);
}

static void test_sha256_lanes(void **state)
{
	(void)state;
	lanes_rounds(true);
	lanes_rounds(false);
}

static void test_sha256_stream(void **state)
{
	(void)state;
	uint8_t data[10000], one[32], inc[32];
	unit_fill(data, sizeof(data), 5);
	strata_sha256(one, data, sizeof(data));
	strata_sha256_ctx *c;
	assert_int_equal(strata_sha256_new(&c), 0);
	for (int round = 0; round < 2; round++) {
		/* final re-initialises: the second round must match too */
		size_t off = 0, step = 1;
		while (off < sizeof(data)) {
			size_t n = step < sizeof(data) - off
				       ? step
				       : sizeof(data) - off;
			strata_sha256_update(c, data + off, n);
			off += n;
			step = step * 3 + 1;
		}
		strata_sha256_final(c, inc);
		assert_memory_equal(inc, one, 32);
	}
	strata_sha256_free(c);
	strata_sha256_free(NULL);
}

struct hmac_vec {
	const uint8_t *key;
	size_t keylen;
	const char *data;
	const char *mac;
};

static void test_hmac_rfc4231(void **state)
{
	(void)state;
	uint8_t k1[20], k6[131];
	memset(k1, 0x0b, sizeof(k1));
	memset(k6, 0xaa, sizeof(k6));
	const struct hmac_vec v[] = {
	    /* test case 1 */
	    {k1, sizeof(k1), "Hi There",
	     "b0344c61d8db38535ca8afceaf0bf12b"
	     "881dc200c9833da726e9376c2e32cff7"},
	    /* test case 2 */
	    {(const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
	     "5bdcc146bf60754e6a042426089575c7"
	     "5a003f089d2739839dec58b964ec3843"},
	    /* test case 6: a key longer than the block is hashed first */
	    {k6, sizeof(k6),
	     "Test Using Larger Than Block-Size Key - Hash Key First",
	     "60e431591ee0b67f0d8a26aacbf5b77f"
	     "8e0bc6213728c5140546040f0ee37f54"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t want[32], got[32];
		unit_unhex(want, 32, v[i].mac);

		memset(got, 0, sizeof(got));
		strata_hmac_once(got, v[i].key, v[i].keylen, v[i].data,
				 strlen(v[i].data));
		assert_memory_equal(got, want, 32);

		strata_hmac *h;
		assert_int_equal(strata_hmac_new(&h, v[i].key, v[i].keylen), 0);
		/* precomputed pads must survive repeated use */
		for (int round = 0; round < 3; round++) {
			memset(got, 0, sizeof(got));
			strata_hmac_calc(h, got, v[i].data, strlen(v[i].data));
			assert_memory_equal(got, want, 32);
			strata_hmac_calc(h, got, "other", 5);
			assert_memory_not_equal(got, want, 32);
		}
		strata_hmac_free(h);
	}
	strata_hmac_free(NULL);
}

static void test_aead_vector(void **state)
{
	(void)state;
	/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16
	 */
	uint8_t key[32], nonce[12], aad[20], pt[60], want[76], out[76],
	    back[60];
	unit_unhex(key, 32,
		   "feffe9928665731c6d6a8f9467308308"
		   "feffe9928665731c6d6a8f9467308308");
	unit_unhex(nonce, 12, "cafebabefacedbaddecaf888");
	unit_unhex(aad, 20, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
	unit_unhex(pt, 60,
		   "d9313225f88406e5a55909c5aff5269a"
		   "86a7a9531534f7da2e4c303d8a318a72"
		   "1c3c0c95956809532fcf0e2449a6b525"
		   "b16aedf5aa0de657ba637b39");
	unit_unhex(want, 76,
		   "522dc1f099567d07f47f37a32a84427d"
		   "643a8cdcbfe5c0c97598a2bd2555d1aa"
		   "8cb08e48590dbb3da7b08b1056828838"
		   "c5f61e6393ba7a0abcc9f662"
		   "76fc6ece0f4e1768cddf8853bb2d551b");
	strata_aead *a;
	assert_int_equal(strata_aead_new(&a, key), 0);
	assert_int_equal(strata_aead_seal(a, out, nonce, aad, 20, pt, 60), 0);
	assert_memory_equal(out, want, 76);
	assert_int_equal(strata_aead_open(a, back, nonce, aad, 20, out, 60), 0);
	assert_memory_equal(back, pt, 60);
	strata_aead_free(a);
}

static void test_aead_roundtrip_tamper(void **state)
{
	(void)state;
	uint8_t key[32], key2[32], nonce[12], pt[1000], ct[1016], back[1000];
	static const char aad[] = "header-bytes";
	unit_fill(key, 32, 1);
	unit_fill(key2, 32, 2);
	unit_fill(nonce, 12, 3);
	unit_fill(pt, sizeof(pt), 4);
	strata_aead *a, *b;
	assert_int_equal(strata_aead_new(&a, key), 0);
	assert_int_equal(strata_aead_new(&b, key2), 0);
	assert_int_equal(
	    strata_aead_seal(a, ct, nonce, aad, sizeof(aad), pt, sizeof(pt)),
	    0);
	assert_memory_not_equal(ct, pt, sizeof(pt));
	assert_int_equal(
	    strata_aead_open(a, back, nonce, aad, sizeof(aad), ct, sizeof(pt)),
	    0);
	assert_memory_equal(back, pt, sizeof(pt));

	size_t spots[] = {0, 1, 499, 999, 1000, 1007, 1015};
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		ct[spots[i]] ^= 0x01;
		assert_int_equal(strata_aead_open(a, back, nonce, aad,
						  sizeof(aad), ct, sizeof(pt)),
				 STRATA_ECORRUPT);
		ct[spots[i]] ^= 0x01;
	}
	char aad2[sizeof(aad)];
	memcpy(aad2, aad, sizeof(aad));
	aad2[3] ^= 0x20;
	assert_int_equal(
	    strata_aead_open(a, back, nonce, aad2, sizeof(aad), ct, sizeof(pt)),
	    STRATA_ECORRUPT);
	assert_int_equal(strata_aead_open(a, back, nonce, aad, sizeof(aad) - 1,
					  ct, sizeof(pt)),
			 STRATA_ECORRUPT);
	assert_int_equal(
	    strata_aead_open(a, back, nonce, NULL, 0, ct, sizeof(pt)),
	    STRATA_ECORRUPT);
	nonce[11] ^= 0x80;
	assert_int_equal(
	    strata_aead_open(a, back, nonce, aad, sizeof(aad), ct, sizeof(pt)),
	    STRATA_ECORRUPT);
	nonce[11] ^= 0x80;
	assert_int_equal(
	    strata_aead_open(b, back, nonce, aad, sizeof(aad), ct, sizeof(pt)),
	    STRATA_ECORRUPT);
	/* a failure leaves the context usable */
	assert_int_equal(
	    strata_aead_open(a, back, nonce, aad, sizeof(aad), ct, sizeof(pt)),
	    0);

	/* empty plaintext: the tag alone still authenticates the aad */
	uint8_t tag[16];
	assert_int_equal(
	    strata_aead_seal(a, tag, nonce, aad, sizeof(aad), "", 0), 0);
	assert_int_equal(
	    strata_aead_open(a, back, nonce, aad, sizeof(aad), tag, 0), 0);
	assert_int_equal(
	    strata_aead_open(a, back, nonce, aad2, sizeof(aad), tag, 0),
	    STRATA_ECORRUPT);
	strata_aead_free(a);
	strata_aead_free(b);
	strata_aead_free(NULL);
}

static void test_random_ct(void **state)
{
	(void)state;
	uint8_t x[32] = {0}, y[32] = {0};
	strata_random(x, sizeof(x));
	strata_random(y, sizeof(y));
	assert_memory_not_equal(x, y, 32);
	assert_true(strata_ct_equal(x, x, 32));
	assert_false(strata_ct_equal(x, y, 32));
	strata_wipe(x, sizeof(x));
	memset(y, 0, sizeof(y));
	assert_memory_equal(x, y, 32);
}

/* Run fn against a memstream and compare the whole output. */
static void json_expect(void (*fn)(strata_json *), const char *want)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	strata_json j;
	strata_json_init(&j, f);
	fn(&j);
	fclose(f);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	free(out);
}

static void emit_quotes(strata_json *j)
{
	strata_json_str(j, "say \"hi\" \\ bye /");
	strata_json_end(j);
}

static void emit_controls(strata_json *j)
{
	strata_json_strn(j,
			 "a\nb\tc\rd\x01\x1f\x7f"
			 "e\0f",
			 13);
	strata_json_end(j);
}

static void emit_bad_utf8(strata_json *j)
{
	strata_json_arr_begin(j);
	strata_json_str(j, "\xff");		/* never valid */
	strata_json_str(j, "x\xc3(");		/* bad continuation */
	strata_json_str(j, "\xc0\xaf");		/* overlong '/' */
	strata_json_str(j, "\xed\xa0\x80");	/* surrogate */
	strata_json_str(j, "\xf4\x90\x80\x80"); /* above U+10FFFF */
	strata_json_str(j, "\xe2\x82");		/* truncated */
	strata_json_str(j, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* valid */
	strata_json_arr_end(j);
	strata_json_end(j);
}

static void emit_structure(strata_json *j)
{
	strata_json_obj_begin(j);
	strata_json_key(j, "k\"");
	strata_json_u64(j, UINT64_MAX);
	strata_json_key(j, "neg");
	strata_json_i64(j, INT64_MIN);
	strata_json_key(j, "arr");
	strata_json_arr_begin(j);
	strata_json_bool(j, true);
	strata_json_bool(j, false);
	strata_json_null(j);
	strata_json_str(j, NULL);
	strata_json_dbl(j, 1.5);
	strata_json_obj_begin(j);
	strata_json_obj_end(j);
	strata_json_arr_end(j);
	strata_json_key(j, "s");
	strata_json_str(j, "");
	strata_json_obj_end(j);
	strata_json_end(j);
}

static void test_json(void **state)
{
	(void)state;
	json_expect(emit_quotes, "\"say \\\"hi\\\" \\\\ bye /\"\n");
	json_expect(emit_controls,
		    "\"a\\nb\\tc\\u000dd\\u0001\\u001f\\u007fe\\u0000f\"\n");
	json_expect(emit_bad_utf8,
		    "[\"\\u00ff\",\"x\\u00c3(\",\"\\u00c0\\u00af\","
		    "\"\\u00ed\\u00a0\\u0080\","
		    "\"\\u00f4\\u0090\\u0080\\u0080\",\"\\u00e2\\u0082\","
		    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]\n");
	json_expect(emit_structure,
		    "{\"k\\\"\":18446744073709551615,"
		    "\"neg\":-9223372036854775808,"
		    "\"arr\":[true,false,null,null,1.5,{}],\"s\":\"\"}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_vectors),
	    cmocka_unit_test(test_sha256_stream),
	    cmocka_unit_test(test_sha256_pair),
	    cmocka_unit_test(test_sha256_lanes),
	    cmocka_unit_test(test_hmac_rfc4231),
	    cmocka_unit_test(test_aead_vector),
	    cmocka_unit_test(test_aead_roundtrip_tamper),
	    cmocka_unit_test(test_random_ct),
	    cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
