/*
 * test_backend.c - unit tests for the local-directory backend
 * (src/store/backend_local.c): the object operations, the size limit on
 * get, listing that hides temporaries, name validation, deferred puts,
 * and when a prefix last changed (asked without opening the repository).
 */
#include "unit.h"

#include "strata/backend.h"

typedef struct fixture {
	char *dir;
	strata_backend *be;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->dir = unit_tmpdir();
	if (strata_backend_local_open(&f->be, f->dir, 1))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	strata_backend_close(f->be);
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static void test_put_get(void **state)
{
	fixture *f = *state;
	strata_backend *be = f->be;
	uint8_t data[10000], part[100], *out = NULL;
	size_t len = 0;
	uint64_t size = 0;
	unit_fill(data, sizeof(data), 1);

	assert_int_equal(be->ops->exists(be, "data/ab/obj1", &size),
			 STRATA_ENOTFOUND);
	assert_int_equal(be->ops->get(be, "data/ab/obj1", 1 << 20, &out, &len),
			 STRATA_ENOTFOUND);
	assert_int_equal(be->ops->put(be, "data/ab/obj1", data, sizeof(data)),
			 0);
	assert_int_equal(be->ops->exists(be, "data/ab/obj1", &size), 0);
	assert_int_equal(size, sizeof(data));
	assert_int_equal(be->ops->exists(be, "data/ab/obj1", NULL), 0);

	assert_int_equal(
	    be->ops->get(be, "data/ab/obj1", sizeof(data), &out, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(out, data, len);
	free(out);

	assert_int_equal(
	    be->ops->get_range(be, "data/ab/obj1", 1234, sizeof(part), part),
	    0);
	assert_memory_equal(part, data + 1234, sizeof(part));
	assert_int_equal(be->ops->get_range(be, "data/ab/obj1", 0, 0, part), 0);
	assert_int_equal(
	    be->ops->get_range(be, "data/ab/obj1", sizeof(data) - 10, 10, part),
	    0);
	assert_memory_equal(part, data + sizeof(data) - 10, 10);
	/* a range past the end is reported, not padded */
	assert_int_equal(
	    be->ops->get_range(be, "data/ab/obj1", sizeof(data) - 10, 11, part),
	    STRATA_ECORRUPT);
	assert_int_equal(
	    be->ops->get_range(be, "data/ab/obj1", 1u << 30, 1, part),
	    STRATA_ECORRUPT);
	assert_int_equal(be->ops->get_range(be, "data/ab/none", 0, 1, part),
			 STRATA_ENOTFOUND);

	/* empty objects exist */
	assert_int_equal(be->ops->put(be, "snapshots/empty", "", 0), 0);
	out = NULL;
	assert_int_equal(be->ops->get(be, "snapshots/empty", 0, &out, &len), 0);
	assert_int_equal(len, 0);
	free(out);

	assert_int_equal(be->ops->del(be, "data/ab/obj1"), 0);
	assert_int_equal(be->ops->exists(be, "data/ab/obj1", &size),
			 STRATA_ENOTFOUND);
	assert_int_equal(be->ops->del(be, "data/ab/obj1"), 0);

	assert_non_null(be->ops->local_dir(be));
	assert_non_null(strstr(be->ops->local_dir(be), f->dir));
	assert_string_equal(be->location, f->dir);
}

/* Ranges of MiBs (restore reads packs in runs of up to 16 MiB) at any
 * offset give the object's bytes; a range past the end, or into an object
 * truncated behind the backend's back, is ECORRUPT. */
static void test_large_ranges(void **state)
{
	fixture *f = *state;
	strata_backend *be = f->be;
	size_t n = (5u << 20) + 123;
	uint8_t *data = malloc(n), *part = malloc(n);
	char path[4096];
	assert_non_null(data);
	assert_non_null(part);
	unit_fill(data, n, 9);
	assert_int_equal(be->ops->put(be, "data/cd/big", data, n), 0);
	static const struct {
		uint64_t off;
		size_t len;
	} r[] = {{0, 1u << 20},
		 {4096, 2u << 20},
		 {1, (1u << 20) + 1},
		 {12345, (3u << 20) + 777},
		 {0, (5u << 20) + 123},		     /* the whole object */
		 {(2u << 20) + 5, (3u << 20) + 118}, /* to the last byte */
		 {(4u << 20) - 1, (1u << 20) + 124}};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		memset(part, 0xee, r[i].len);
		assert_int_equal(be->ops->get_range(be, "data/cd/big", r[i].off,
						    r[i].len, part),
				 0);
		assert_memory_equal(part, data + r[i].off, r[i].len);
	}
	/* one byte past the end */
	assert_int_equal(be->ops->get_range(be, "data/cd/big", (2u << 20) + 5,
					    (3u << 20) + 119, part),
			 STRATA_ECORRUPT);
	/* cut short behind the backend's back */
	snprintf(path, sizeof(path), "%s/data/cd/big", f->dir);
	assert_int_equal(truncate(path, (3u << 20) + 100), 0);
	assert_int_equal(
	    be->ops->get_range(be, "data/cd/big", 2u << 20, 2u << 20, part),
	    STRATA_ECORRUPT);
	assert_int_equal(be->ops->get_range(be, "data/cd/big", 1u << 20,
					    (2u << 20) + 100, part),
			 0);
	assert_memory_equal(part, data + (1u << 20), (2u << 20) + 100);
	free(data);
	free(part);
}

static void test_get_limit(void **state)
{
	fixture *f = *state;
	strata_backend *be = f->be;
	uint8_t data[4096], *out = NULL;
	size_t len = 0;
	unit_fill(data, sizeof(data), 2);
	assert_int_equal(be->ops->put(be, "keys/k1", data, sizeof(data)), 0);
	assert_int_equal(
	    be->ops->get(be, "keys/k1", sizeof(data) - 1, &out, &len),
	    STRATA_ECORRUPT);
	assert_null(out);
	assert_int_equal(be->ops->get(be, "keys/k1", 0, &out, &len),
			 STRATA_ECORRUPT);
	assert_null(out);
	assert_int_equal(be->ops->get(be, "keys/k1", sizeof(data), &out, &len),
			 0);
	assert_int_equal(len, sizeof(data));
	free(out);
}

typedef struct listing {
	char names[32][128];
	uint64_t sizes[32];
	size_t n;
} listing;

static int collect(const char *name, uint64_t size, void *payload)
{
	listing *l = payload;
	assert_true(l->n < 32);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->sizes[l->n++] = size;
	return 0;
}

static int stop(const char *name, uint64_t size, void *payload)
{
	(void)name;
	(void)size;
	(*(int *)payload)++;
	return 1;
}

static bool listed(const listing *l, const char *name, uint64_t size)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->names[i], name))
			return l->sizes[i] == size;
	return false;
}

static void test_list(void **state)
{
	fixture *f = *state;
	strata_backend *be = f->be;
	static const char *const names[] = {
	    "data/ab/ab01", "data/ab/ab02", "data/cd/cd01", "index/i1",
	    "keys/k1",	    "snapshots/s1", "datax"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(
		    be->ops->put(be, names[i], "0123456789", i + 1), 0);
	/* a temporary left by a killed writer, and local state */
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/data/ab/.tmp-0123456789abcdef",
		 f->dir);
	FILE *tf = fopen(path, "w");
	assert_non_null(tf);
	fputs("partial", tf);
	fclose(tf);
	snprintf(path, sizeof(path), "%s/local/catalog.db", f->dir);
	tf = fopen(path, "w");
	assert_non_null(tf);
	fclose(tf);

	listing l;
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "", collect, &l), 0);
	assert_int_equal(l.n, 7);
	for (size_t i = 0; i < 7; i++)
		assert_true(listed(&l, names[i], i + 1));
	for (size_t i = 0; i < l.n; i++) {
		assert_null(strstr(l.names[i], ".tmp-"));
		assert_null(strstr(l.names[i], "local"));
	}

	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "data/", collect, &l), 0);
	assert_int_equal(l.n, 3);
	assert_true(listed(&l, "data/ab/ab01", 1));
	assert_true(listed(&l, "data/ab/ab02", 2));
	assert_true(listed(&l, "data/cd/cd01", 3));

	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "data/ab/ab0", collect, &l), 0);
	assert_int_equal(l.n, 2);
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "data", collect, &l), 0);
	assert_int_equal(l.n, 4); /* "datax" starts with "data" too */
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "nothing/", collect, &l), 0);
	assert_int_equal(l.n, 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "data/ab/ab01x", collect, &l), 0);
	assert_int_equal(l.n, 0);

	int calls = 0;
	assert_int_equal(be->ops->list(be, "", stop, &calls), 1);
	assert_int_equal(calls, 1);
}

static void test_bad_names(void **state)
{
	fixture *f = *state;
	strata_backend *be = f->be;
	uint8_t *out = NULL, part[1];
	size_t len;
	uint64_t size;
	/* "../<our dir>-escape" would land next to the repository */
	char up[PATH_MAX], outside[PATH_MAX + 16];
	const char *base = strrchr(f->dir, '/') + 1;
	snprintf(up, sizeof(up), "../%s-escape", base);
	snprintf(outside, sizeof(outside), "%s-escape", f->dir);
	const char *const bad[] = {"../x",	   up,	 "/abs",
				   "data/../../x", "..", "a/.."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(be->ops->put(be, bad[i], "x", 1),
				 STRATA_EINVAL);
		assert_int_equal(be->ops->put_deferred(be, bad[i], "x", 1),
				 STRATA_EINVAL);
		assert_int_equal(be->ops->get(be, bad[i], 10, &out, &len),
				 STRATA_EINVAL);
		assert_int_equal(be->ops->get_range(be, bad[i], 0, 1, part),
				 STRATA_EINVAL);
		assert_int_equal(be->ops->exists(be, bad[i], &size),
				 STRATA_EINVAL);
		assert_int_equal(be->ops->del(be, bad[i]), STRATA_EINVAL);
	}
	assert_null(out);
	/* nothing escaped the root */
	assert_int_not_equal(access(outside, F_OK), 0);
	/* a name longer than PATH_MAX is refused, not truncated */
	char *longname = malloc(PATH_MAX + 10);
	assert_non_null(longname);
	memset(longname, 'a', PATH_MAX + 9);
	longname[PATH_MAX + 9] = 0;
	assert_int_equal(be->ops->put(be, longname, "x", 1), STRATA_EINVAL);
	free(longname);
}

static void test_deferred(void **state)
{
	fixture *f = *state;
	strata_backend *be = f->be;
	uint8_t data[3000], *out = NULL;
	size_t len = 0;
	unit_fill(data, sizeof(data), 3);
	assert_int_equal(be->ops->sync(be), 0); /* nothing pending */
	for (int i = 0; i < 100; i++) {
		char name[64];
		snprintf(name, sizeof(name), "data/%02x/pack%03d", i % 5, i);
		assert_int_equal(be->ops->put_deferred(
				     be, name, data, sizeof(data) - (size_t)i),
				 0);
	}
	/* readable before sync */
	assert_int_equal(
	    be->ops->get(be, "data/03/pack013", sizeof(data), &out, &len), 0);
	assert_int_equal(len, sizeof(data) - 13);
	assert_memory_equal(out, data, len);
	free(out);
	assert_int_equal(be->ops->sync(be), 0);
	assert_int_equal(be->ops->sync(be), 0);
	listing l;
	memset(&l, 0, sizeof(l));
	int count = 0;
	assert_int_equal(be->ops->list(be, "data/04/", collect, &l), 0);
	assert_int_equal(l.n, 20);
	for (size_t i = 0; i < l.n; i++)
		count += strstr(l.names[i], "pack") != NULL;
	assert_int_equal(count, 20);
	/* closing with pending deferred objects releases them */
	assert_int_equal(be->ops->put_deferred(be, "data/00/late", data, 10),
			 0);
}

/* No objects: INT64_MIN; after a put: the prefix's time, which a later
 * put moves on; unknown (missing, S3): INT64_MAX. */
static void test_changed(void **state)
{
	fixture *f = *state;
	strata_backend *be = f->be;
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no-such", f->dir);
	assert_true(strata_backend_changed(missing, "snapshots") == INT64_MAX);
	assert_true(strata_backend_changed("s3://bucket/repo", "snapshots") ==
		    INT64_MAX);
	assert_int_equal(be->ops->put(be, "other/x", "x", 1), 0);
	assert_true(strata_backend_changed(f->dir, "snapshots") == INT64_MAX);
	assert_int_equal(be->ops->put(be, "snapshots/a1", "a", 1), 0);
	assert_int_equal(be->ops->del(be, "snapshots/a1"), 0);
	assert_true(strata_backend_changed(f->dir, "snapshots") == INT64_MIN);
	assert_int_equal(be->ops->put(be, "snapshots/a2", "a", 1), 0);
	int64_t t1 = strata_backend_changed(f->dir, "snapshots");
	assert_true(t1 > INT64_MIN && t1 < INT64_MAX);
	usleep(20 * 1000);
	assert_int_equal(be->ops->put(be, "snapshots/a3", "a", 1), 0);
	assert_true(strata_backend_changed(f->dir, "snapshots") > t1);
}

static void test_open(void **state)
{
	fixture *f = *state;
	strata_backend *be2 = NULL;
	/* create refuses a non-empty directory */
	assert_int_equal(f->be->ops->put(f->be, "keys/k", "x", 1), 0);
	assert_int_equal(strata_backend_local_open(&be2, f->dir, 1),
			 STRATA_EEXIST);
	assert_null(be2);
	/* open without create sees the same objects */
	assert_int_equal(strata_backend_local_open(&be2, f->dir, 0), 0);
	uint64_t size = 0;
	assert_int_equal(be2->ops->exists(be2, "keys/k", &size), 0);
	assert_int_equal(size, 1);
	strata_backend_close(be2);
	be2 = NULL;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/absent", f->dir);
	assert_int_equal(strata_backend_local_open(&be2, path, 0),
			 STRATA_ENOTFOUND);
	assert_null(be2);
	strata_backend_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_ranges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
