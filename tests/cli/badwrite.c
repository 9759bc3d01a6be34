/*
 * badwrite.c - a fault for the CLI tests, loaded with LD_PRELOAD: every
 * pwrite() to a file whose path contains $BADWRITE_MATCH writes its bytes
 * with the first one flipped, as a failing disk or controller might. The
 * data strata handed over is right (its chunks passed their checks), so
 * only reading the file back (restore --verify) can notice.
 */
/* both names are defined here: no redirection of pwrite to pwrite64 */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static int matches(int fd)
{
	const char *want = getenv("BADWRITE_MATCH");
	char link[64], path[4096];
	if (!want || !*want)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = 0;
	return strstr(path, want) != NULL;
}

static ssize_t bad(pwrite_fn real, int fd, const void *p, size_t n, off_t at)
{
	if (!n || !matches(fd))
		return real(fd, p, n, at);
	/* aligned, so that O_DIRECT writes stay valid */
	size_t cap = (n + 4095) / 4096 * 4096;
	unsigned char *q = aligned_alloc(4096, cap);
	if (!q)
		return real(fd, p, n, at);
	memcpy(q, p, n);
	q[0] ^= 0x01;
	ssize_t k = real(fd, q, n, at);
	free(q);
	return k;
}

ssize_t pwrite(int fd, const void *p, size_t n, off_t at)
{
	static pwrite_fn real;
	if (!real)
		real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
	return bad(real, fd, p, n, at);
}

ssize_t pwrite64(int fd, const void *p, size_t n, off_t at)
{
	static pwrite_fn real;
	if (!real)
		real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
	return bad(real, fd, p, n, at);
}
