/*
 * util.c - hex encoding, checked number parsing, clocks, ISO time,
 * mkdir -p and whole writes: small helpers with no better home.
 */
#include "common/common.h"

#include <sys/statfs.h>

void strata_hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int strata_unhex(uint8_t *out, size_t n, const char *hex)
{
	if (strlen(hex) != 2 * n)
		return STRATA_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return STRATA_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int strata_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9') /* strtoull would skip spaces and '-' */
		return STRATA_EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return STRATA_EINVAL;
	*out = v;
	return 0;
}

uint64_t strata_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double strata_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void strata_cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

void strata_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(c, m, &ts);
}

void strata_trace(const char *phase, double t0)
{
	static int on = -1;
	if (on < 0)
		on = getenv("STRATA_TRACE") != NULL;
	if (on)
		fprintf(stderr, "trace: %-8s %.3f s\n", phase,
			strata_mono() - t0);
}

void strata_iso_time(char *out, size_t outlen, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int strata_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(tmp))
		return strata_error_set(STRATA_EINVAL, "path too long: '%s'",
					path);
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != 0)
			continue;
		char c = tmp[i];
		tmp[i] = 0;
		if (mkdir(tmp, mode) && errno != EEXIST)
			return strata_error_set(
			    strata_errno_code(errno),
			    "cannot create directory '%s': %s", tmp,
			    strerror(errno));
		tmp[i] = c;
	}
	return 0;
}

/* at < 0: write(), else pwrite() at `at`. */
static int put_all(int fd, const void *p, size_t n, int64_t at)
{
	const uint8_t *q = p;
	while (n) {
		ssize_t k =
		    at < 0 ? write(fd, q, n) : pwrite(fd, q, n, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = ENOSPC;
			return -1;
		}
		q += k;
		n -= (size_t)k;
		if (at >= 0)
			at += k;
	}
	return 0;
}

int strata_write_all(int fd, const void *p, size_t n)
{
	return put_all(fd, p, n, -1);
}

int strata_pwrite_all(int fd, const void *p, size_t n, uint64_t at)
{
	return put_all(fd, p, n, (int64_t)at);
}

bool strata_fs_local_disk(const struct statfs *sf)
{
	switch ((unsigned long)sf->f_type) {
	case 0xEF53UL:	   /* ext2, ext3, ext4 */
	case 0x58465342UL: /* XFS */
	case 0x9123683EUL: /* Btrfs */
	case 0xF2F52010UL: /* F2FS */
		return true;
	default:
		return false;
	}
}
