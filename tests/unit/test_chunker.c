/*
 * test_chunker.c - unit tests for the FastCDC chunker (src/store/chunker.c):
 * size bounds, determinism per key, resistance to an insertion near the
 * start, the average size on random data, and bound validation.
 */
#include "unit.h"

#include "store/store.h"

#define MiB (1u << 20)

typedef struct cuts {
	size_t *len;
	size_t n;
} cuts;

static cuts chunk_all(const strata_chunker *c, const uint8_t *p, size_t n)
{
	cuts r = {NULL, 0};
	size_t cap = 0, off = 0;
	while (off < n) {
		size_t l = strata_chunker_next(c, p + off, n - off, true);
		assert_true(l > 0);
		assert_true(l <= n - off);
		if (r.n == cap) {
			cap = cap ? cap * 2 : 256;
			r.len = realloc(r.len, cap * sizeof(*r.len));
			assert_non_null(r.len);
		}
		r.len[r.n++] = l;
		off += l;
	}
	return r;
}

static void key_of(uint8_t k[32], uint64_t seed)
{
	unit_fill(k, 32, seed);
}

static void test_bounds(void **state)
{
	(void)state;
	static const uint32_t cfg[][3] = {{2048, 8192, 32768},
					  {64, 64, 64},
					  {64, 256, 65536},
					  {256 << 10, 1 << 20, 4 << 20},
					  {4096, 4096, 4096 * 3}};
	size_t n = 6 * MiB;
	uint8_t *data = malloc(n), *zeros = calloc(1, n), key[32];
	assert_non_null(data);
	assert_non_null(zeros);
	unit_fill(data, n, 11);
	key_of(key, 1);
	for (size_t k = 0; k < sizeof(cfg) / sizeof(cfg[0]); k++) {
		strata_chunker c;
		assert_int_equal(strata_chunker_init(&c, key, cfg[k][0],
						     cfg[k][1], cfg[k][2]),
				 0);
		const uint8_t *inputs[] = {data, zeros};
		for (int in = 0; in < 2; in++) {
			size_t len = k == 1 || k == 2 ? MiB : n;
			cuts r = chunk_all(&c, inputs[in], len);
			size_t sum = 0;
			for (size_t i = 0; i < r.n; i++) {
				if (i + 1 < r.n)
					assert_true(r.len[i] >= c.min);
				assert_true(r.len[i] <= c.max);
				sum += r.len[i];
			}
			assert_int_equal(sum, len);
			free(r.len);
		}
	}
	free(data);
	free(zeros);
}

static void test_small_and_streaming(void **state)
{
	(void)state;
	uint8_t key[32], *data = malloc(2 * MiB);
	assert_non_null(data);
	key_of(key, 2);
	unit_fill(data, 2 * MiB, 12);
	strata_chunker c;
	assert_int_equal(strata_chunker_init(&c, key, 4096, 16384, 65536), 0);
	assert_int_equal(strata_chunker_next(&c, data, 0, true), 0);
	assert_int_equal(strata_chunker_next(&c, data, 10, true), 10);
	assert_int_equal(strata_chunker_next(&c, data, 4096, true), 4096);
	assert_int_equal(strata_chunker_next(&c, data, 10, false), 0);
	assert_int_equal(strata_chunker_next(&c, data, 4096, false), 0);

	/* With at least max bytes available the answer never depends on eof
	 * or on the bytes beyond the cut: a streaming caller that feeds the
	 * input in windows gets the same chunks. */
	size_t off = 0;
	while (2 * MiB - off >= c.max) {
		size_t a = strata_chunker_next(&c, data + off, c.max, false);
		size_t b =
		    strata_chunker_next(&c, data + off, 2 * MiB - off, true);
		assert_true(a > 0);
		assert_int_equal(a, b);
		off += a;
	}
	free(data);
}

static bool same_cuts(cuts a, cuts b)
{
	if (a.n != b.n)
		return false;
	return !memcmp(a.len, b.len, a.n * sizeof(*a.len));
}

static void test_deterministic_and_keyed(void **state)
{
	(void)state;
	size_t n = 8 * MiB;
	uint8_t *data = malloc(n), k1[32], k2[32];
	assert_non_null(data);
	unit_fill(data, n, 13);
	key_of(k1, 3);
	key_of(k2, 4);
	strata_chunker a, a2, b;
	assert_int_equal(strata_chunker_init(&a, k1, 16384, 65536, 262144), 0);
	assert_int_equal(strata_chunker_init(&a2, k1, 16384, 65536, 262144), 0);
	assert_int_equal(strata_chunker_init(&b, k2, 16384, 65536, 262144), 0);
	assert_memory_equal(a.gear, a2.gear, sizeof(a.gear));
	assert_memory_not_equal(a.gear, b.gear, sizeof(a.gear));
	cuts ra = chunk_all(&a, data, n), ra2 = chunk_all(&a2, data, n),
	     rb = chunk_all(&b, data, n);
	assert_true(ra.n > 16);
	assert_true(same_cuts(ra, ra2));
	assert_false(same_cuts(ra, rb));
	/* not just one moved boundary: most cut offsets differ by key */
	size_t shared = 0, i = 0, j = 0, oa = 0, ob = 0;
	while (i < ra.n && j < rb.n) {
		if (oa + ra.len[i] == ob + rb.len[j]) {
			shared++;
			oa += ra.len[i++];
			ob += rb.len[j++];
		} else if (oa + ra.len[i] < ob + rb.len[j]) {
			oa += ra.len[i++];
		} else {
			ob += rb.len[j++];
		}
	}
	assert_true(shared * 2 < ra.n);
	free(ra.len);
	free(ra2.len);
	free(rb.len);
	free(data);
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void test_shift_resistance(void **state)
{
	(void)state;
	size_t n = 20 * MiB, at = 1000, ins = 100;
	uint8_t *a = malloc(n), *b = malloc(n + ins), key[32];
	assert_non_null(a);
	assert_non_null(b);
	unit_fill(a, n, 14);
	memcpy(b, a, at);
	unit_fill(b + at, ins, 15);
	memcpy(b + at + ins, a + at, n - at);
	key_of(key, 5);
	strata_chunker c;
	assert_int_equal(strata_chunker_init(&c, key, 16384, 65536, 262144), 0);
	cuts ca = chunk_all(&c, a, n), cb = chunk_all(&c, b, n + ins);

	uint8_t(*ha)[32] = malloc(ca.n * 32);
	assert_non_null(ha);
	size_t off = 0;
	for (size_t i = 0; i < ca.n; i++) {
		strata_sha256(ha[i], a + off, ca.len[i]);
		off += ca.len[i];
	}
	qsort(ha, ca.n, 32, cmp_hash);
	size_t shared = 0;
	off = 0;
	for (size_t i = 0; i < cb.n; i++) {
		uint8_t h[32];
		strata_sha256(h, b + off, cb.len[i]);
		off += cb.len[i];
		if (bsearch(h, ha, ca.n, 32, cmp_hash))
			shared++;
	}
	print_message("shift: %zu of %zu chunks shared\n", shared, cb.n);
	assert_true(cb.n > 100);
	assert_true(shared * 100 >= cb.n * 80);
	/* the first chunk holds the insertion and must differ */
	assert_true(shared < cb.n);
	free(ha);
	free(ca.len);
	free(cb.len);
	free(a);
	free(b);
}

static void test_average(void **state)
{
	(void)state;
	static const uint32_t cfg[][3] = {{16384, 65536, 262144},
					  {1024, 4096, 16384},
					  {256 << 10, 1 << 20, 4 << 20},
					  {64, 256, 1024}};
	size_t n = 24 * MiB;
	uint8_t *data = malloc(n), key[32];
	assert_non_null(data);
	unit_fill(data, n, 16);
	key_of(key, 6);
	for (size_t k = 0; k < sizeof(cfg) / sizeof(cfg[0]); k++) {
		strata_chunker c;
		size_t len = cfg[k][1] < 65536 ? 2 * MiB
			     : cfg[k][1] < MiB ? 8 * MiB
					       : n;
		assert_int_equal(strata_chunker_init(&c, key, cfg[k][0],
						     cfg[k][1], cfg[k][2]),
				 0);
		cuts r = chunk_all(&c, data, len);
		double mean = (double)len / (double)r.n;
		print_message("avg %u: %zu chunks, mean %.0f\n", cfg[k][1], r.n,
			      mean);
		assert_true(mean >= 0.5 * cfg[k][1]);
		assert_true(mean <= 2.0 * cfg[k][1]);
		free(r.len);
	}
	free(data);
}

static void test_invalid_bounds(void **state)
{
	(void)state;
	uint8_t key[32];
	key_of(key, 7);
	strata_chunker c;
	static const uint32_t bad[][3] = {{63, 4096, 8192},
					  {0, 0, 0},
					  {8192, 4096, 16384},
					  {1024, 8192, 4096},
					  {1024, 4096, (8u << 20) + 1},
					  {1024, 4096, 0},
					  {64, 64, 63}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(strata_chunker_init(&c, key, bad[i][0],
						     bad[i][1], bad[i][2]),
				 STRATA_EINVAL);
	assert_int_equal(strata_chunker_init(&c, key, 64, 64, 64), 0);
	assert_int_equal(
	    strata_chunker_init(&c, key, 1 << 20, 4 << 20, 8 << 20), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_small_and_streaming),
	    cmocka_unit_test(test_deterministic_and_keyed),
	    cmocka_unit_test(test_shift_resistance),
	    cmocka_unit_test(test_average),
	    cmocka_unit_test(test_invalid_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
