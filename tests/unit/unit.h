/*
 * unit.h - shared helpers for the cmocka unit tests: the include order
 * every test needs (system headers, cmocka, then strata's common.h last,
 * since it brings in banned.h), a seeded pseudo-random generator, exact-size
 * heap copies for overread detection, and throwaway temporary directories.
 */
#ifndef STRATA_UNIT_H
#define STRATA_UNIT_H

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/common.h"

/* splitmix64: reproducible test data without touching the library RNG */
static inline uint64_t unit_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void unit_fill(void *p, size_t n, uint64_t seed)
{
	uint8_t *q = p;
	uint64_t s = seed;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = unit_rand(&s);
		memcpy(q + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = unit_rand(&s);
		memcpy(q + i, &v, n - i);
	}
}

/* A heap copy of exactly n bytes, so ASan flags any read past the end. */
static inline uint8_t *unit_dup(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

/* Decode a lowercase hex string of a known vector. */
static inline void unit_unhex(uint8_t *out, size_t n, const char *hex)
{
	assert_int_equal(strata_unhex(out, n, hex), 0);
}

static inline char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[PATH_MAX];
	snprintf(tmpl, sizeof(tmpl), "%s/strata-unit-XXXXXX",
		 base && *base ? base : "/tmp");
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	char *r = strdup(d);
	assert_non_null(r);
	return r;
}

static inline int unit_rm_one(const char *path, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void unit_rmtree(char *dir)
{
	if (!dir)
		return;
	nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Read a whole file into a malloc'd buffer; NULL if it does not exist. */
static inline uint8_t *unit_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	uint8_t *p = malloc(cap);
	assert_non_null(p);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			p = realloc(p, cap);
			assert_non_null(p);
		}
		size_t k = fread(p + n, 1, cap - n, f);
		if (!k)
			break;
		n += k;
	}
	fclose(f);
	*len = n;
	return p;
}

#endif
