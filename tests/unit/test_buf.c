/*
 * test_buf.c - unit tests for the capped growable buffer, the bounds-checked
 * reader, the overflow helpers, hex, checked number parsing and the
 * allocation-failure hook (src/common/buf.c, util.c, alloc.c).
 */
#include "unit.h"

static void test_growth(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	for (size_t i = 0; i < 100000; i++) {
		assert_int_equal(strata_buf_put_u8(&b, (uint8_t)(i * 7)), 0);
		assert_int_equal(b.len, i + 1);
		assert_true(b.cap > b.len);
	}
	for (size_t i = 0; i < 100000; i++)
		assert_int_equal(b.ptr[i], (uint8_t)(i * 7));
	/* geometric growth: capacity stays within 2x of what is needed */
	assert_true(b.cap <= 2 * (b.len + 1));
	strata_buf_release(&b);
	assert_null(b.ptr);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void test_put_le(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	static const uint8_t want[] = {0x01, 0x34, 0x12, 0x78, 0x56,
				       0x34, 0x12, 0xef, 0xcd, 0xab,
				       0x89, 0x67, 0x45, 0x23, 0x01};
	assert_int_equal(strata_buf_put_u8(&b, 1), 0);
	assert_int_equal(strata_buf_put_u16(&b, 0x1234), 0);
	assert_int_equal(strata_buf_put_u32(&b, 0x12345678), 0);
	assert_int_equal(strata_buf_put_u64(&b, 0x0123456789abcdefULL), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.ptr, want, sizeof(want));
	assert_int_equal(strata_buf_puts(&b, "xy"), 0);
	assert_int_equal(strata_buf_cstr(&b), 0);
	assert_int_equal(b.len, sizeof(want) + 2);
	assert_string_equal((char *)b.ptr + sizeof(want), "xy");
	strata_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.ptr);
	strata_buf_release(&b);
}

static void test_limit(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	b.limit = 16;
	assert_int_equal(strata_buf_put(&b, "0123456789abcdef", 16), 0);
	assert_int_equal(b.len, 16);
	assert_int_equal(strata_buf_put_u8(&b, 'x'), STRATA_EINVAL);
	assert_int_equal(strata_buf_put(&b, "xyz", 3), STRATA_EINVAL);
	assert_int_equal(strata_buf_printf(&b, "%d", 7), STRATA_EINVAL);
	assert_int_equal(b.len, 16);
	assert_memory_equal(b.ptr, "0123456789abcdef", 16);
	assert_non_null(strstr(strata_error_msg(), "limit"));
	/* an empty put at the limit is fine */
	assert_int_equal(strata_buf_put(&b, "", 0), 0);
	strata_buf_release(&b);

	/* the refusal happens before any allocation */
	strata_buf c = STRATA_BUF_INIT;
	c.limit = 100;
	assert_int_equal(strata_buf_reserve(&c, 101), STRATA_EINVAL);
	assert_null(c.ptr);
	assert_int_equal(strata_buf_reserve(&c, 100), 0);
	strata_buf_release(&c);
}

/* A request whose size overflows must be refused, never "succeed" with a
 * buffer far smaller than asked for. */
static void test_reserve_huge(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(strata_buf_put(&b, "abc", 3), 0);
	assert_int_not_equal(strata_buf_reserve(&b, SIZE_MAX - 1), 0);
	assert_int_not_equal(strata_buf_reserve(&b, SIZE_MAX), 0);
	assert_int_not_equal(strata_buf_reserve(&b, ((size_t)1 << 30) + 1), 0);
	assert_int_equal(b.len, 3);
	strata_buf_release(&b);
}

/* len may reach the limit exactly, whichever call appends the bytes. */
static void test_limit_exact(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	b.limit = 8;
	assert_int_equal(strata_buf_printf(&b, "%s", "12345678"), 0);
	assert_int_equal(b.len, 8);
	strata_buf_release(&b);

	strata_buf c = STRATA_BUF_INIT;
	c.limit = 8;
	assert_int_equal(strata_buf_put(&c, "12345678", 8), 0);
	/* NUL-termination is not counted in len, so it fits */
	assert_int_equal(strata_buf_cstr(&c), 0);
	assert_string_equal((char *)c.ptr, "12345678");
	strata_buf_release(&c);
}

static void test_printf(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(strata_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_int_equal(b.len, 4);
	assert_int_equal(strata_buf_printf(&b, "|%05u", 7u), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.ptr, "42-x|00007", 10);
	assert_int_equal(b.ptr[b.len], 0); /* terminated, not counted */
	/* a long expansion forces growth inside printf */
	assert_int_equal(strata_buf_printf(&b, "%5000s", "end"), 0);
	assert_int_equal(b.len, 5010);
	assert_memory_equal(b.ptr + 5007, "end", 3);
	assert_int_equal(b.ptr[10], ' ');
	assert_int_equal(strata_buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 5010);
	strata_buf_release(&b);
}

static void test_rd(void **state)
{
	(void)state;
	static const uint8_t in[] = {0xef, 0xbe, 0xad, 0xde, 0x34, 0x12, 0x99};
	strata_rd r;
	strata_rd_init(&r, in, sizeof(in));
	assert_int_equal(strata_rd_u32(&r), 0xdeadbeef);
	assert_int_equal(strata_rd_u16(&r), 0x1234);
	assert_int_equal(strata_rd_left(&r), 1);
	assert_int_equal(r.err, 0);
	/* past the end: zero, err set, position kept */
	assert_int_equal(strata_rd_u16(&r), 0);
	assert_int_equal(r.err, 1);
	assert_int_equal(strata_rd_left(&r), 1);
	/* sticky: even a read that would fit now fails */
	assert_int_equal(strata_rd_u8(&r), 0);
	assert_null(strata_rd_bytes(&r, 1));
	assert_int_equal(strata_rd_u64(&r), 0);
	assert_int_equal(strata_rd_u32(&r), 0);

	strata_rd_init(&r, in, sizeof(in));
	assert_null(strata_rd_bytes(&r, SIZE_MAX));
	assert_int_equal(r.err, 1);

	strata_rd_init(&r, in, sizeof(in));
	assert_int_equal(strata_rd_u64(&r), 0);
	assert_int_equal(r.err, 1);

	strata_rd_init(&r, in, sizeof(in));
	const uint8_t *p = strata_rd_bytes(&r, 7);
	assert_ptr_equal(p, in);
	assert_int_equal(strata_rd_left(&r), 0);
	assert_non_null(strata_rd_bytes(&r, 0));
	assert_int_equal(strata_rd_u8(&r), 0);
	assert_int_equal(r.err, 1);

	/* an exact-size heap input, so ASan sees any read past it */
	uint8_t *one = unit_dup("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	strata_rd_init(&r, one, 8);
	assert_int_equal(strata_rd_u64(&r), 0x0807060504030201ULL);
	assert_int_equal(strata_rd_u64(&r), 0);
	assert_int_equal(r.err, 1);
	free(one);

	strata_rd_init(&r, NULL, 0);
	assert_int_equal(strata_rd_u8(&r), 0);
	assert_int_equal(r.err, 1);
}

static void test_overflow(void **state)
{
	(void)state;
	size_t v = 123;
	assert_int_equal(strata_size_mul(&v, 3, 4), 0);
	assert_int_equal(v, 12);
	assert_int_equal(strata_size_add(&v, 1, 2), 0);
	assert_int_equal(v, 3);
	assert_int_equal(strata_size_mul(&v, SIZE_MAX, 2), STRATA_EINVAL);
	assert_int_equal(strata_size_mul(&v, SIZE_MAX / 2 + 1, 2),
			 STRATA_EINVAL);
	assert_int_equal(strata_size_mul(&v, SIZE_MAX, 1), 0);
	assert_int_equal(v, SIZE_MAX);
	assert_int_equal(strata_size_add(&v, SIZE_MAX, 1), STRATA_EINVAL);
	assert_int_equal(strata_size_add(&v, SIZE_MAX - 1, 1), 0);
	assert_int_equal(v, SIZE_MAX);
	assert_int_equal(strata_size_mul(&v, 0, SIZE_MAX), 0);
	assert_int_equal(v, 0);
}

static void test_hex(void **state)
{
	(void)state;
	uint8_t in[64], back[64];
	char hex[129];
	for (size_t n = 0; n <= sizeof(in); n++) {
		unit_fill(in, n, n + 1);
		strata_hex(hex, in, n);
		assert_int_equal(strlen(hex), 2 * n);
		for (size_t i = 0; i < 2 * n; i++)
			assert_non_null(strchr("0123456789abcdef", hex[i]));
		memset(back, 0xee, sizeof(back));
		assert_int_equal(strata_unhex(back, n, hex), 0);
		assert_memory_equal(back, in, n);
	}
	uint8_t one[2];
	strata_hex(hex, (const uint8_t *)"\x00\xff", 2);
	assert_string_equal(hex, "00ff");
	assert_int_equal(strata_unhex(one, 2, "ABcd"), 0);
	assert_int_equal(one[0], 0xab);
	assert_int_equal(one[1], 0xcd);
}

static void test_unhex_bad(void **state)
{
	(void)state;
	uint8_t out[4];
	static const char *const bad2[] = {"0g1f", "g01f", "00 1", " 001",
					   "0x01", "zzzz", "abc",  "abcde",
					   "",	   "-1ab", "ab\n1"};
	for (size_t i = 0; i < sizeof(bad2) / sizeof(bad2[0]); i++)
		assert_int_equal(strata_unhex(out, 2, bad2[i]), STRATA_EINVAL);
	assert_int_equal(strata_unhex(out, 0, ""), 0);
	assert_int_equal(strata_unhex(out, 0, "00"), STRATA_EINVAL);
	assert_int_equal(strata_unhex(out, 4, "0011223"), STRATA_EINVAL);
}

static void test_parse_u64(void **state)
{
	(void)state;
	uint64_t v = 77;
	assert_int_equal(strata_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(strata_parse_u64("12345", &v), 0);
	assert_int_equal(v, 12345);
	assert_int_equal(strata_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);

	static const char *const bad[] = {"-1",
					  "",
					  "12x",
					  "18446744073709551616",
					  "99999999999999999999999",
					  "+1",
					  "x",
					  "1 ",
					  "1.5",
					  "0x10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 77;
		assert_int_equal(strata_parse_u64(bad[i], &v), STRATA_EINVAL);
		assert_int_equal(v, 77); /* untouched on failure */
	}
	assert_int_equal(strata_parse_u64(NULL, &v), STRATA_EINVAL);
}

/* A minus sign behind leading white space must not wrap to 2^64 - n. */
static void test_parse_u64_space_minus(void **state)
{
	(void)state;
	static const char *const bad[] = {" -1", "\t-5", "\n-1", " +3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 77;
		int rc = strata_parse_u64(bad[i], &v);
		if (rc == 0)
			fail_msg(
			    "strata_parse_u64(\"%s\") accepted, gave %" PRIu64,
			    bad[i], v);
		assert_int_equal(rc, STRATA_EINVAL);
	}
}

/* Thread counts from the environment: 1..max taken, anything else (unset,
 * empty, 0, too many, not a number, negative) gives the default. */
static void test_env_threads(void **state)
{
	(void)state;
	static const struct {
		const char *v; /* NULL: unset */
		int want;
	} cases[] = {{NULL, 3}, {"", 3},  {"1", 1},  {"8", 8},	{"9", 3},
		     {"0", 3},	{"x", 3}, {"-2", 3}, {"4x", 3}, {" 5", 3}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].v)
			setenv("STRATA_TEST_THREADS", cases[i].v, 1);
		else
			unsetenv("STRATA_TEST_THREADS");
		int got = strata_env_threads("STRATA_TEST_THREADS", 8, 3);
		if (got != cases[i].want)
			fail_msg("STRATA_TEST_THREADS='%s': got %d, want %d",
				 cases[i].v ? cases[i].v : "(unset)", got,
				 cases[i].want);
	}
	unsetenv("STRATA_TEST_THREADS");
}

/* THPeligible of the mapping holding address a in /proc/self/smaps: 1,
 * 0, or -1 if it cannot be told. */
static int thp_eligible(uintptr_t a)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int found = 0, v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3) {
			found = lo <= a && a < hi;
			continue;
		}
		if (found && sscanf(line, "THPeligible: %d", &v) == 1)
			break;
	}
	fclose(f);
	return found ? v : -1;
}

/* strata_advise_huge: a hint that leaves the memory usable, does nothing
 * to ranges without a whole 2 MiB in them, and (where THP is offered at
 * all) makes the aligned part eligible for huge pages. */
static void test_advise_huge(void **state)
{
	(void)state;
	size_t n = 8u << 20;
	uint8_t *p = strata_malloc(n);
	assert_non_null(p);
	strata_advise_huge(p, n);
	strata_advise_huge(p + 1, 4096); /* too small: nothing */
	strata_advise_huge(NULL, n);
	for (size_t i = 0; i < n; i += 4093)
		p[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < n; i += 4093)
		assert_int_equal(p[i], (uint8_t)(i * 7));
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	uintptr_t a =
	    ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
	if (strstr(mode, "[madvise]") || strstr(mode, "[always]"))
		assert_int_equal(thp_eligible(a), 1);
	strata_free(p);
}

static void test_alloc_fail(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	strata_alloc_fail_after(1);
	assert_int_equal(strata_buf_reserve(&b, 10), STRATA_ENOMEM);
	assert_null(b.ptr);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* the hook fires once, then allocation works again */
	assert_int_equal(strata_buf_reserve(&b, 10), 0);
	assert_non_null(b.ptr);
	assert_int_equal(strata_buf_put(&b, "keep", 4), 0);
	size_t cap = b.cap;
	uint8_t *old = b.ptr;

	/* a failed growth keeps the old contents */
	strata_alloc_fail_after(1);
	assert_int_equal(strata_buf_put(&b, NULL, 0), 0); /* no alloc needed */
	assert_int_equal(strata_buf_reserve(&b, cap * 4), STRATA_ENOMEM);
	assert_ptr_equal(b.ptr, old);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.ptr, "keep", 4);
	strata_alloc_fail_after(0);

	/* the second allocation from now fails, the first does not */
	strata_buf c = STRATA_BUF_INIT;
	strata_alloc_fail_after(2);
	assert_int_equal(strata_buf_reserve(&c, 10), 0);
	assert_int_equal(strata_buf_reserve(&c, 100000), STRATA_ENOMEM);
	strata_alloc_fail_after(0);
	assert_int_equal(strata_buf_reserve(&c, 100000), 0);
	void *p = strata_malloc(16);
	assert_non_null(p);
	strata_free(p);
	strata_buf_release(&b);
	strata_buf_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_put_le),
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_reserve_huge),
	    cmocka_unit_test(test_advise_huge),
	    cmocka_unit_test(test_limit_exact),
	    cmocka_unit_test(test_printf),
	    cmocka_unit_test(test_rd),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_unhex_bad),
	    cmocka_unit_test(test_parse_u64),
	    cmocka_unit_test(test_parse_u64_space_minus),
	    cmocka_unit_test(test_alloc_fail),
	    cmocka_unit_test(test_env_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
