/*
 * files.c - the audit log directory: paths, the list of segment files
 * (log-NNNNNN.jsonl, numbered from 1) and the checkpoint message format.
 */
#include "audit/audit_int.h"

int audit__path(char *out, size_t outlen, const char *dir, const char *name)
{
	int k = snprintf(out, outlen, "%s/%s", dir, name);
	if (k < 0 || (size_t)k >= outlen)
		return strata_error_set(STRATA_EINVAL, "path too long: '%s'",
					dir);
	return 0;
}

int audit__seg_path(char *out, size_t outlen, const char *dir, uint32_t seg)
{
	char name[32];
	snprintf(name, sizeof(name), "log-%06" PRIu32 ".jsonl", seg);
	return audit__path(out, outlen, dir, name);
}

/* "log-000042.jsonl" -> 42; 0 for any other name. */
static uint32_t seg_number(const char *name)
{
	size_t n = strlen(name);
	uint64_t v = 0;
	if (n < 16 || n > 20 || memcmp(name, "log-", 4) != 0 ||
	    strcmp(name + n - 6, ".jsonl") != 0)
		return 0;
	for (size_t i = 4; i < n - 6; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (v == 0 || v > UINT32_MAX || (n - 10 > 6 && name[4] == '0'))
		return 0;
	return (uint32_t)v;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int audit__segments(const char *dir, uint32_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	uint32_t *v = NULL;
	size_t cap = 0, k = 0;
	struct dirent *e;
	if (!d)
		return strata_error_set(strata_errno_code(errno),
					"cannot open audit log '%s': %s", dir,
					strerror(errno));
	while ((e = readdir(d)) != NULL) {
		uint32_t s = seg_number(e->d_name);
		if (!s)
			continue;
		if (strata_grow(&v, &cap, k, sizeof(*v))) {
			closedir(d);
			strata_free(v);
			return STRATA_ENOMEM;
		}
		v[k++] = s;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof(*v), cmp_u32);
	*out = v;
	*n = k;
	return 0;
}

int audit__ck_message(strata_buf *out, const char *origin, uint64_t seq,
		      const char *hexhash)
{
	strata_buf_reset(out);
	return strata_buf_printf(out, "strata-audit\n%s\n%" PRIu64 "\n%s\n",
				 origin, seq, hexhash);
}
