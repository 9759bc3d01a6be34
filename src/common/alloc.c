/*
 * alloc.c - the single allocation wrapper. Tests use
 * strata_alloc_fail_after() to fail the Nth allocation and check that every
 * path reports ENOMEM cleanly.
 */
#include "common/common.h"

#include <sys/mman.h>

static long fail_countdown; /* 0: never fail */

void strata_alloc_fail_after(long n)
{
	__atomic_store_n(&fail_countdown, n, __ATOMIC_SEQ_CST);
}

static bool should_fail(void)
{
	long v = __atomic_load_n(&fail_countdown, __ATOMIC_RELAXED);
	if (v <= 0)
		return false;
	return __atomic_sub_fetch(&fail_countdown, 1, __ATOMIC_SEQ_CST) == 0;
}

void *strata_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *strata_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *strata_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *strata_strndup(const char *s, size_t n)
{
	char *r = strata_malloc(n + 1);
	if (r) {
		memcpy(r, s, n);
		r[n] = 0;
	}
	return r;
}

char *strata_strdup(const char *s)
{
	return strata_strndup(s, strlen(s));
}

void strata_free(void *p)
{
	free(p);
}

int strata_grow(void *pp, size_t *cap, size_t n, size_t elem)
{
	void **p = pp;
	size_t c = *cap ? *cap : 16, bytes;
	if (n < *cap)
		return 0;
	while (c <= n)
		c *= 2;
	if (__builtin_mul_overflow(c, elem, &bytes))
		return strata_error_set(STRATA_ENOMEM, "array too large");
	void *np = strata_realloc(*p, bytes);
	if (!np)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	*p = np;
	*cap = c;
	return 0;
}

/* Large working buffers (a pack being filled) are touched a page at a time
 * as they fill, and a fresh one costs a page fault per 4 KiB: about
 * 350,000 faults for 1.4 GB of packs. Asking for transparent huge pages on
 * the 2 MiB-aligned part of the buffer makes that one fault per 2 MiB.
 * Only a hint: where THP is off, or the range holds no whole 2 MiB,
 * nothing changes. */
#define HUGE_PAGE ((uintptr_t)2 << 20)

void strata_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
	if (p && e > a)
		madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

int strata_buf_alloc_huge(strata_buf *b, size_t n, size_t huge)
{
	void *p = NULL;
	if (should_fail() || posix_memalign(&p, HUGE_PAGE, n ? n : 1))
		return strata_error_set(STRATA_ENOMEM,
					"out of memory (%zu bytes)", n);
	strata_advise_huge(p, huge < n ? huge : n);
	strata_free(b->ptr);
	b->ptr = p;
	b->cap = n;
	b->len = 0;
	return 0;
}
