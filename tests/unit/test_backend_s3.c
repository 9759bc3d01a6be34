/*
 * test_backend_s3.c - the S3 backend (src/store/backend_s3.c) against a
 * real Ceph RGW that with_rgw.sh starts: every object operation, multipart,
 * listing past one page, path and virtual-host addressing, the errors a
 * user meets (credentials, bucket, endpoint down), retries against a fake
 * server, four threads at once, and a byte-exact cross-check with the
 * independent aws client. Without RGW's environment every test fails.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "unit.h"

#include "store/s3_int.h"
#include "strata/backend.h"

static char run_id[17]; /* every test works below its own prefix */
static char *cache_dir;

static const char *need(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		fail_msg("%s is not set: run this test through "
			 "tests/unit/with_rgw.sh (ctest -L s3)",
			 name);
	return v;
}

static char *url_for(const char *sub)
{
	char *u = malloc(512);
	assert_non_null(u);
	snprintf(u, 512, "s3://%s/%s/%s", need("S3_BUCKET"), run_id, sub);
	return u;
}

static strata_backend *open_sub(const char *sub)
{
	strata_backend *be = NULL;
	char *u = url_for(sub);
	int rc = strata_backend_open(&be, u, 1);
	if (rc)
		fail_msg("open '%s': %s", u, strata_error_msg());
	free(u);
	return be;
}

static int group_setup(void **state)
{
	(void)state;
	uint8_t r[8];
	strata_random(r, sizeof(r));
	strata_hex(run_id, r, sizeof(r));
	cache_dir = unit_tmpdir();
	setenv("STRATA_CACHE_DIR", cache_dir, 1);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unit_rmtree(cache_dir);
	return 0;
}

/* ---- the XML scanner, on its own ---- */

static void test_xml(void **state)
{
	(void)state;
	static const char doc[] =
	    "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\">"
	    "<Contents><Key>a&amp;b&lt;c&#x41;&#66;</Key><Size>12</Size>"
	    "</Contents><Contents><Key/><Size>0</Size></Contents>"
	    "<IsTruncated>true</IsTruncated><Bad>&bogus;</Bad>"
	    "<Cut>never closed";
	char out[64];
	const char *v;
	size_t vlen, pos = 0;
	assert_int_equal(
	    s3__xml_next(doc, strlen(doc), &pos, "Contents", &v, &vlen), 0);
	assert_int_equal(s3__xml_text(v, vlen, "Key", out, sizeof(out)), 0);
	assert_string_equal(out, "a&b<cAB");
	assert_int_equal(
	    s3__xml_next(doc, strlen(doc), &pos, "Contents", &v, &vlen), 0);
	assert_int_equal(s3__xml_text(v, vlen, "Key", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(
	    s3__xml_next(doc, strlen(doc), &pos, "Contents", &v, &vlen),
	    STRATA_ENOTFOUND);
	assert_int_equal(
	    s3__xml_text(doc, strlen(doc), "IsTruncated", out, sizeof(out)), 0);
	assert_string_equal(out, "true");
	/* "<ListBucketResult" must not match "<List" */
	assert_int_equal(s3__xml_text(doc, strlen(doc), "List", out, 64),
			 STRATA_ENOTFOUND);
	assert_int_equal(s3__xml_text(doc, strlen(doc), "Bad", out, 64),
			 STRATA_ECORRUPT);
	assert_int_equal(s3__xml_text(doc, strlen(doc), "Cut", out, 64),
			 STRATA_ENOTFOUND);
	assert_int_equal(s3__xml_text(doc, strlen(doc), "Key", out, 4),
			 STRATA_ECORRUPT); /* does not fit */
	/* every prefix of the document is scanned without overreading */
	for (size_t n = 0; n < sizeof(doc) - 1; n++) {
		uint8_t *cut = unit_dup(doc, n);
		pos = 0;
		while (
		    !s3__xml_next((char *)cut, n, &pos, "Contents", &v, &vlen))
			s3__xml_text(v, vlen, "Key", out, sizeof(out));
		s3__xml_text((char *)cut, n, "IsTruncated", out, sizeof(out));
		free(cut);
	}
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(s3__uri_encode(&b, "a b/c~d+e=&\xc3\xa9", false), 0);
	assert_int_equal(strata_buf_cstr(&b), 0);
	assert_string_equal((char *)b.ptr, "a%20b%2Fc~d%2Be%3D%26%C3%A9");
	strata_buf_release(&b);
}

/* ---- object operations ---- */

static void test_put_get(void **state)
{
	(void)state;
	strata_backend *be = open_sub("putget");
	uint8_t data[10000], part[100], *out = NULL;
	size_t len = 0;
	uint64_t size = 0;
	unit_fill(data, sizeof(data), 1);

	assert_int_equal(be->ops->exists(be, "data/ab/obj1", &size),
			 STRATA_ENOTFOUND);
	assert_int_equal(be->ops->get(be, "data/ab/obj1", 1 << 20, &out, &len),
			 STRATA_ENOTFOUND);
	assert_non_null(strstr(strata_error_msg(), "data/ab/obj1"));
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
	assert_int_equal(be->ops->get_range(be, "data/ab/obj1", 0, 1, part), 0);
	assert_int_equal(part[0], data[0]);
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
	assert_int_equal(be->ops->get_range(be, "data/ab/none", 0, 0, part),
			 STRATA_ENOTFOUND);

	/* empty objects exist */
	assert_int_equal(be->ops->put(be, "snapshots/empty", "", 0), 0);
	assert_int_equal(be->ops->exists(be, "snapshots/empty", &size), 0);
	assert_int_equal(size, 0);
	out = NULL;
	assert_int_equal(be->ops->get(be, "snapshots/empty", 0, &out, &len), 0);
	assert_int_equal(len, 0);
	free(out);

	/* put_deferred is a put; sync has nothing to wait for */
	assert_int_equal(be->ops->put_deferred(be, "data/cd/p1", data, 500), 0);
	assert_int_equal(be->ops->sync(be), 0);
	assert_int_equal(be->ops->exists(be, "data/cd/p1", &size), 0);
	assert_int_equal(size, 500);

	assert_int_equal(be->ops->del(be, "data/ab/obj1"), 0);
	assert_int_equal(be->ops->exists(be, "data/ab/obj1", &size),
			 STRATA_ENOTFOUND);
	assert_int_equal(be->ops->del(be, "data/ab/obj1"), 0); /* absent: ok */
	strata_backend_close(be);
}

static void test_get_limit(void **state)
{
	(void)state;
	strata_backend *be = open_sub("limit");
	uint8_t data[4096], *out = NULL;
	size_t len = 0;
	unit_fill(data, sizeof(data), 2);
	assert_int_equal(be->ops->put(be, "keys/k1", data, sizeof(data)), 0);
	assert_int_equal(
	    be->ops->get(be, "keys/k1", sizeof(data) - 1, &out, &len),
	    STRATA_ECORRUPT);
	assert_non_null(strstr(strata_error_msg(), "4096 bytes"));
	assert_null(out);
	assert_int_equal(be->ops->get(be, "keys/k1", 0, &out, &len),
			 STRATA_ECORRUPT);
	assert_null(out);
	assert_int_equal(be->ops->get(be, "keys/k1", sizeof(data), &out, &len),
			 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(out, data, len);
	free(out);
	strata_backend_close(be);
}

/* Above 16 MiB objects go up in 8 MiB parts; read them back whole and in
 * ranges that straddle the part boundaries. */
static void test_multipart(void **state)
{
	(void)state;
	strata_backend *be = open_sub("multipart");
	const size_t n = (40u << 20) + 123;
	uint8_t *data = malloc(n), *out = NULL, *part = malloc(1 << 20);
	size_t len = 0;
	uint64_t size = 0;
	assert_non_null(data);
	assert_non_null(part);
	unit_fill(data, n, 3);
	double t0 = strata_mono();
	assert_int_equal(be->ops->put(be, "data/mp/big", data, n), 0);
	print_message("put 40 MiB multipart: %.2f s\n", strata_mono() - t0);
	assert_int_equal(be->ops->exists(be, "data/mp/big", &size), 0);
	assert_int_equal(size, n);
	assert_int_equal(be->ops->get(be, "data/mp/big", n, &out, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(out, data, n);
	free(out);
	out = NULL;
	assert_int_equal(be->ops->get(be, "data/mp/big", n - 1, &out, &len),
			 STRATA_ECORRUPT);
	assert_null(out);
	const uint64_t offs[] = {0, (8u << 20) - 100, (16u << 20) - 1,
				 (32u << 20) + 5, n - (1 << 20)};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		memset(part, 0, 1 << 20);
		assert_int_equal(be->ops->get_range(be, "data/mp/big", offs[i],
						    1 << 20, part),
				 0);
		assert_memory_equal(part, data + offs[i], 1 << 20);
	}
	assert_int_equal(be->ops->get_range(be, "data/mp/big", n - 1, 1, part),
			 0);
	assert_int_equal(part[0], data[n - 1]);
	assert_int_equal(be->ops->get_range(be, "data/mp/big", n - 1, 2, part),
			 STRATA_ECORRUPT);
	/* exactly the threshold is a single PUT */
	assert_int_equal(be->ops->put(be, "data/mp/16", data, 16u << 20), 0);
	assert_int_equal(be->ops->exists(be, "data/mp/16", &size), 0);
	assert_int_equal(size, 16u << 20);
	free(data);
	free(part);
	strata_backend_close(be);
}

/* Writing a name again replaces it whole (S3 has no create-exclusive):
 * readers see the old or the new object, never a mix. */
static void test_overwrite(void **state)
{
	(void)state;
	strata_backend *be = open_sub("overwrite");
	uint8_t a[3000], b[2000], *out = NULL;
	size_t len = 0;
	unit_fill(a, sizeof(a), 4);
	unit_fill(b, sizeof(b), 5);
	assert_int_equal(be->ops->put(be, "index/i1", a, sizeof(a)), 0);
	assert_int_equal(be->ops->put(be, "index/i1", b, sizeof(b)), 0);
	assert_int_equal(be->ops->get(be, "index/i1", 1 << 20, &out, &len), 0);
	assert_int_equal(len, sizeof(b));
	assert_memory_equal(out, b, len);
	free(out);
	strata_backend_close(be);
}

typedef struct listing {
	size_t n, bad;
	uint64_t total;
	char first[256];
} listing;

static int count(const char *name, uint64_t size, void *payload)
{
	listing *l = payload;
	if (!l->n)
		snprintf(l->first, sizeof(l->first), "%s", name);
	l->n++;
	l->total += size;
	/* names are relative to the repository prefix */
	l->bad += strncmp(name, "many/", 5) && strcmp(name, "other/x") &&
		  strcmp(name, "manyx");
	return 0;
}

static int stop_at(const char *name, uint64_t size, void *payload)
{
	(void)name;
	(void)size;
	return ++*(int *)payload == 1500 ? 7 : 0;
}

typedef struct putter {
	strata_backend *be;
	int from, to;
	int failures;
} putter;

static void *put_many(void *arg)
{
	putter *p = arg;
	for (int i = p->from; i < p->to; i++) {
		char name[64], body[16];
		snprintf(name, sizeof(name), "many/%04d", i);
		snprintf(body, sizeof(body), "%d", i);
		if (p->be->ops->put(p->be, name, body, strlen(body)))
			p->failures++;
	}
	return NULL;
}

static void test_list(void **state)
{
	(void)state;
	strata_backend *be = open_sub("list");
	enum { N = 2345 };
	putter p[4];
	pthread_t t[4];
	double t0 = strata_mono();
	for (int i = 0; i < 4; i++) {
		p[i] = (putter){be, i * N / 4, (i + 1) * N / 4, 0};
		assert_int_equal(pthread_create(&t[i], NULL, put_many, &p[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].failures, 0);
	}
	print_message("%d small puts from 4 threads: %.2f s\n", N,
		      strata_mono() - t0);
	assert_int_equal(be->ops->put(be, "other/x", "xyz", 3), 0);
	assert_int_equal(be->ops->put(be, "manyx", "xy", 2), 0);
	uint64_t want = 0;
	for (int i = 0; i < N; i++) {
		char body[16];
		want += (uint64_t)snprintf(body, sizeof(body), "%d", i);
	}

	listing l = {0};
	assert_int_equal(be->ops->list(be, "", count, &l), 0);
	assert_int_equal(l.n, N + 2);
	assert_int_equal(l.bad, 0);
	assert_int_equal(l.total, want + 5);
	assert_string_equal(l.first, "many/0000");

	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "many/", count, &l), 0);
	assert_int_equal(l.n, N);
	assert_int_equal(l.total, want);
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "many", count, &l), 0);
	assert_int_equal(l.n, N + 1); /* "manyx" starts with "many" too */
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "many/12", count, &l), 0);
	assert_int_equal(l.n, 100);
	assert_string_equal(l.first, "many/1200");
	memset(&l, 0, sizeof(l));
	assert_int_equal(be->ops->list(be, "nothing/", count, &l), 0);
	assert_int_equal(l.n, 0);

	/* a callback's non-zero return stops the listing, on page two */
	int calls = 0;
	assert_int_equal(be->ops->list(be, "", stop_at, &calls), 7);
	assert_int_equal(calls, 1500);

	/* a sibling prefix is not listed: "list" vs "list2" */
	strata_backend *be2 = open_sub("list2");
	memset(&l, 0, sizeof(l));
	assert_int_equal(be2->ops->list(be2, "", count, &l), 0);
	assert_int_equal(l.n, 0);
	strata_backend_close(be2);
	strata_backend_close(be);
}

static void test_bad_names(void **state)
{
	(void)state;
	strata_backend *be = open_sub("names");
	uint8_t *out = NULL, part[1];
	size_t len;
	uint64_t size;
	const char *const bad[] = {"../x", "/abs", "data/../../x", "..",
				   "a/.."};
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
	char *longname = malloc(2000);
	assert_non_null(longname);
	memset(longname, 'a', 1999);
	longname[1999] = 0;
	assert_int_equal(be->ops->put(be, longname, "x", 1), STRATA_EINVAL);
	free(longname);
	/* names S3 would mangle without encoding round-trip */
	assert_int_equal(be->ops->put(be, "odd/a b+c=d&e%f", "x", 1), 0);
	assert_int_equal(be->ops->exists(be, "odd/a b+c=d&e%f", &size), 0);
	listing l = {0};
	assert_int_equal(be->ops->list(be, "odd/a b+", count, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.first, "odd/a b+c=d&e%f");
	strata_backend_close(be);
}

/* ---- open: create, errors a user meets ---- */

static void expect_open(const char *url, int create, int code,
			const char *const *words)
{
	strata_backend *be = NULL;
	int rc = strata_backend_open(&be, url, create);
	if (rc != code)
		fail_msg("open '%s': %d (%s), wanted %d", url, rc,
			 rc ? strata_error_msg() : "ok", code);
	for (; words && *words; words++)
		if (!strstr(strata_error_msg(), *words))
			fail_msg("'%s' not in: %s", *words, strata_error_msg());
	if (!rc)
		strata_backend_close(be);
	else
		assert_null(be);
}

static void test_open(void **state)
{
	(void)state;
	char *u = url_for("open"), bucket[64], url[256];
	char *secret = strdup(need("AWS_SECRET_ACCESS_KEY"));
	char *access = strdup(need("AWS_ACCESS_KEY_ID"));

	/* a fresh prefix opens; once it holds a config, create refuses */
	strata_backend *be = NULL;
	assert_int_equal(strata_backend_open(&be, u, 1), 0);
	assert_string_equal(be->location, u);
	assert_int_equal(be->ops->put(be, "config", "cfg", 3), 0);
	expect_open(u, 1, STRATA_EEXIST,
		    (const char *const[]){"already holds", NULL});
	expect_open(u, 0, 0, NULL);

	/* wrong secret, unknown access key: clear EAUTH */
	setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret", 1);
	expect_open(u, 0, STRATA_EAUTH,
		    (const char *const[]){"SignatureDoesNotMatch",
					  "AWS_SECRET_ACCESS_KEY",
					  need("S3_BUCKET"), NULL});
	setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
	setenv("AWS_ACCESS_KEY_ID", "nobody", 1);
	expect_open(u, 0, STRATA_EAUTH,
		    (const char *const[]){"InvalidAccessKeyId",
					  "AWS_ACCESS_KEY_ID", NULL});
	unsetenv("AWS_ACCESS_KEY_ID");
	expect_open(u, 0, STRATA_EAUTH,
		    (const char *const[]){"no credentials", NULL});
	setenv("AWS_ACCESS_KEY_ID", access, 1);

	/* a missing bucket is named, and create makes it */
	snprintf(bucket, sizeof(bucket), "strata-%s", run_id);
	snprintf(url, sizeof(url), "s3://%s/repo", bucket);
	expect_open(
	    url, 0, STRATA_ENOTFOUND,
	    (const char *const[]){bucket, "does not exist", "create", NULL});
	expect_open(url, 1, 0, NULL);
	expect_open(url, 0, 0, NULL);

	expect_open("s3://", 0, STRATA_EINVAL, NULL);
	expect_open("s3://bad bucket/x", 0, STRATA_EINVAL, NULL);
	expect_open("s3://b/x/../y", 0, STRATA_EINVAL, NULL);
	setenv("STRATA_S3_ADDRESSING", "sideways", 1);
	expect_open(u, 0, STRATA_EINVAL,
		    (const char *const[]){"STRATA_S3_ADDRESSING", NULL});
	unsetenv("STRATA_S3_ADDRESSING");
	strata_backend_close(be);
	free(secret);
	free(access);
	free(u);
}

/* local_dir: per repository, below STRATA_CACHE_DIR, private */
static void test_local_dir(void **state)
{
	(void)state;
	strata_backend *a = open_sub("cache-a"), *b = open_sub("cache-b"),
		       *a2 = open_sub("cache-a");
	struct stat st;
	const char *da = a->ops->local_dir(a), *db = b->ops->local_dir(b);
	assert_non_null(da);
	assert_non_null(db);
	assert_int_equal(strncmp(da, cache_dir, strlen(cache_dir)), 0);
	assert_string_not_equal(da, db);
	assert_string_equal(da, a2->ops->local_dir(a2));
	assert_int_equal(stat(da, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	strata_backend_close(a);
	strata_backend_close(b);
	strata_backend_close(a2);
	/* without STRATA_CACHE_DIR: XDG_CACHE_HOME/strata */
	char *xdg = unit_tmpdir();
	unsetenv("STRATA_CACHE_DIR");
	setenv("XDG_CACHE_HOME", xdg, 1);
	a = open_sub("cache-a");
	assert_non_null(strstr(a->ops->local_dir(a), "/strata/"));
	assert_int_equal(strncmp(a->ops->local_dir(a), xdg, strlen(xdg)), 0);
	strata_backend_close(a);
	unsetenv("XDG_CACHE_HOME");
	setenv("STRATA_CACHE_DIR", cache_dir, 1);
	unit_rmtree(xdg);
}

/* Virtual-host addressing: bucket.localhost resolves to 127.0.0.1 in
 * libcurl, and RGW is configured with rgw_dns_name = localhost. */
static void test_virtual_host(void **state)
{
	(void)state;
	char ep[128], *old = strdup(need("AWS_ENDPOINT_URL"));
	const char *port = strrchr(old, ':');
	snprintf(ep, sizeof(ep), "http://localhost%s", port);
	setenv("AWS_ENDPOINT_URL", ep, 1);
	setenv("STRATA_S3_ADDRESSING", "virtual", 1);
	strata_backend *be = open_sub("vhost");
	uint8_t data[777], *out = NULL;
	size_t len;
	unit_fill(data, sizeof(data), 6);
	assert_int_equal(be->ops->put(be, "data/v1", data, sizeof(data)), 0);
	assert_int_equal(be->ops->get(be, "data/v1", 1000, &out, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(out, data, len);
	free(out);
	listing l = {0};
	assert_int_equal(be->ops->list(be, "", count, &l), 0);
	assert_int_equal(l.n, 1);
	strata_backend_close(be);
	unsetenv("STRATA_S3_ADDRESSING");
	/* seen through path-style addressing too */
	setenv("AWS_ENDPOINT_URL", old, 1);
	be = open_sub("vhost");
	assert_int_equal(be->ops->exists(be, "data/v1", NULL), 0);
	strata_backend_close(be);
	free(old);
}

/* ---- endpoint down, retries ---- */

static int closed_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd); /* nothing listens there now */
	return ntohs(a.sin_port);
}

static void test_endpoint_down(void **state)
{
	(void)state;
	char ep[64], *old = strdup(need("AWS_ENDPOINT_URL"));
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", closed_port());
	setenv("AWS_ENDPOINT_URL", ep, 1);
	double t0 = strata_mono();
	expect_open(
	    "s3://b/x", 0, STRATA_EIO,
	    (const char *const[]){ep, "5 attempts", "AWS_ENDPOINT_URL", NULL});
	double dt = strata_mono() - t0;
	print_message("endpoint down: EIO after %.2f s: %s\n", dt,
		      strata_error_msg());
	assert_true(dt > 0.7); /* it did back off (>= 100+200+400 ms) */
	assert_true(dt < 10);  /* and gave up in bounded time */
	setenv("STRATA_S3_RETRIES", "1", 1);
	expect_open("s3://b/x", 0, STRATA_EIO,
		    (const char *const[]){"1 attempt:", NULL});
	unsetenv("STRATA_S3_RETRIES");
	setenv("AWS_ENDPOINT_URL", old, 1);
	free(old);
}

/* A scripted HTTP server on loopback: answers each request (one per
 * connection) with the next canned response, and counts requests. */
typedef struct fake {
	int fd, port;
	const char *const *answers;
	int served;
	pthread_t t;
} fake;

static void *fake_serve(void *arg)
{
	fake *f = arg;
	for (; f->answers[f->served]; f->served++) {
		int c = accept(f->fd, NULL, NULL);
		if (c < 0)
			break;
		char buf[8192];
		size_t got = 0;
		while (got < sizeof(buf) - 1) {
			ssize_t k = read(c, buf + got, sizeof(buf) - 1 - got);
			if (k <= 0)
				break;
			got += (size_t)k;
			buf[got] = 0;
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		/* drain the body, or the client sees a reset mid-upload */
		char *end = strstr(buf, "\r\n\r\n"), *cl;
		size_t want = 0, have = end ? got - (size_t)(end + 4 - buf) : 0;
		if (end && (cl = strcasestr(buf, "\r\ncontent-length:")))
			want = strtoull(cl + 17, NULL, 10);
		while (have < want) {
			ssize_t k = read(c, buf, sizeof(buf));
			if (k <= 0)
				break;
			have += (size_t)k;
		}
		const char *a = f->answers[f->served];
		char head[256];
		const char *body = strstr(a, "\n\n");
		int hl = body ? (int)(body - a) : (int)strlen(a);
		body = body ? body + 2 : "";
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 %.*s\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n",
				 hl, a, strlen(body));
		if (write(c, head, (size_t)n) < 0 ||
		    write(c, body, strlen(body)) < 0)
			break;
		close(c);
	}
	return NULL;
}

static void fake_start(fake *f, const char *const *answers)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	f->answers = answers;
	f->served = 0;
	assert_int_equal(pthread_create(&f->t, NULL, fake_serve, f), 0);
}

static int fake_stop(fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	close(f->fd);
	pthread_join(f->t, NULL);
	return f->served;
}

#define LISTED "200 OK\n\n<ListBucketResult></ListBucketResult>"
#define SLOW                                                                   \
	"503 Slow Down\n\n<Error><Code>SlowDown</Code><Message>reduce your "   \
	"request rate</Message></Error>"

static strata_backend *open_fake(fake *f, const char *const *answers)
{
	char ep[64];
	strata_backend *be = NULL;
	fake_start(f, answers);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
	setenv("AWS_ENDPOINT_URL", ep, 1);
	assert_int_equal(strata_backend_open(&be, "s3://fake/r", 0), 0);
	return be;
}

static void test_retries(void **state)
{
	(void)state;
	char *old = strdup(need("AWS_ENDPOINT_URL"));
	uint8_t *out = NULL;
	size_t len = 0;
	fake f;

	/* 503 SlowDown and 500 are retried, then the answer comes */
	strata_backend *be =
	    open_fake(&f, (const char *const[]){LISTED, SLOW, "500 Oops\n\n",
						SLOW, "200 OK\n\nhello", NULL});
	assert_int_equal(be->ops->get(be, "obj", 100, &out, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	strata_backend_close(be);
	assert_int_equal(fake_stop(&f), 5);

	/* a 4xx other than 408/429 is final: one request */
	be = open_fake(
	    &f, (const char *const[]){
		    LISTED,
		    "400 Bad Request\n\n<Error><Code>InvalidArgument</Code>"
		    "<Message>no</Message></Error>",
		    "200 OK\n\nnot asked for", NULL});
	assert_int_equal(be->ops->get(be, "obj", 100, &out, &len), STRATA_EIO);
	assert_non_null(strstr(strata_error_msg(), "InvalidArgument"));
	assert_non_null(strstr(strata_error_msg(), "1 attempt)"));
	strata_backend_close(be);
	assert_int_equal(fake_stop(&f), 2);

	/* 429 and 408 are retried; lasting 503s end in EIO after 5 */
	be = open_fake(&f, (const char *const[]){LISTED, "429 Too Many\n\n",
						 "408 Timeout\n\n", SLOW, SLOW,
						 SLOW, NULL});
	assert_int_equal(be->ops->put(be, "obj", "x", 1), STRATA_EIO);
	assert_non_null(strstr(strata_error_msg(), "SlowDown"));
	assert_non_null(strstr(strata_error_msg(), "5 attempts"));
	strata_backend_close(be);
	assert_int_equal(fake_stop(&f), 6);

	/* a Complete that fails inside its 200 answer aborts the upload */
	size_t n = (16u << 20) + 1;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	be = open_fake(
	    &f, (const char *const[]){
		    LISTED,
		    "200 OK\n\n<InitiateMultipartUploadResult><UploadId>u/1"
		    "</UploadId></InitiateMultipartUploadResult>",
		    "200 OK\nETag: \"e1\"\n\n", "200 OK\nETag: \"e2\"\n\n",
		    "200 OK\nETag: \"e3\"\n\n",
		    "200 OK\n\n<Error><Code>InternalError</Code></Error>",
		    "204 No Content\n\n", NULL});
	assert_int_equal(be->ops->put(be, "big", big, n), STRATA_EIO);
	assert_non_null(strstr(strata_error_msg(), "InternalError"));
	strata_backend_close(be);
	assert_int_equal(fake_stop(&f), 7); /* the abort was sent */
	free(big);

	setenv("AWS_ENDPOINT_URL", old, 1);
	free(old);
}

/* ---- threads ---- */

typedef struct worker {
	strata_backend *be;
	int id;
	int failures;
	char what[256];
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	strata_backend *be = w->be;
	for (int i = 0; i < 12 && !w->failures; i++) {
		/* one multipart object per thread among the small ones */
		size_t n = i == 5 ? (17u << 20) : 1000u + (size_t)i * 30011u;
		uint64_t seed = (uint64_t)w->id * 100 + (uint64_t)i;
		uint8_t *data = malloc(n), *out = NULL, part[4096];
		size_t len = 0;
		char name[64];
		unit_fill(data, n, seed);
		snprintf(name, sizeof(name), "data/t%d/%02d", w->id, i);
		int rc = be->ops->put(be, name, data, n);
		if (!rc)
			rc = be->ops->get(be, name, n, &out, &len);
		if (!rc && (len != n || memcmp(out, data, n)))
			rc = STRATA_ECORRUPT;
		size_t rl = n - n / 3 < 999 ? n - n / 3 : 999;
		if (!rc)
			rc = be->ops->get_range(be, name, n / 3, rl, part);
		if (!rc && memcmp(part, data + n / 3, rl))
			rc = STRATA_ECORRUPT;
		if (rc) {
			w->failures++;
			snprintf(w->what, sizeof(w->what), "%s: %s", name,
				 strata_error_msg());
		}
		free(out);
		free(data);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	strata_backend *be = open_sub("threads");
	worker w[4];
	pthread_t t[4];
	double t0 = strata_mono();
	for (int i = 0; i < 4; i++) {
		w[i] = (worker){be, i, 0, ""};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failures)
			fail_msg("thread %d: %s", i, w[i].what);
	}
	print_message("4 threads x 12 objects (4 x 17 MiB): %.2f s\n",
		      strata_mono() - t0);
	listing l = {0};
	assert_int_equal(be->ops->list(be, "data/", count, &l), 0);
	assert_int_equal(l.n, 48);
	strata_backend_close(be);
}

/* ---- the independent client agrees ---- */

static int sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_aws_cli(void **state)
{
	(void)state;
	const char *aws = "/usr/bin/aws";
	char cmd[12288], file[PATH_MAX], *dir = unit_tmpdir();
	const char *ep = need("AWS_ENDPOINT_URL"), *bucket = need("S3_BUCKET");
	if (access(aws, X_OK))
		fail_msg("%s is missing: install awscli (scripts/"
			 "install-deps.sh)",
			 aws);
	strata_backend *be = open_sub("aws");
	size_t n = (20u << 20) + 7, len = 0;
	uint8_t *data = malloc(n), *got, *out = NULL;
	unit_fill(data, n, 9);
	assert_int_equal(be->ops->put(be, "data/big", data, n), 0);
	assert_int_equal(be->ops->put(be, "data/small", data, 1234), 0);

	/* what we put, aws reads byte for byte */
	snprintf(file, sizeof(file), "%s/big", dir);
	snprintf(cmd, sizeof(cmd),
		 "%s --endpoint-url %s s3 cp --only-show-errors "
		 "s3://%s/%s/aws/data/big %s",
		 aws, ep, bucket, run_id, file);
	assert_int_equal(sh(cmd), 0);
	got = unit_slurp(file, &len);
	assert_non_null(got);
	assert_int_equal(len, n);
	assert_memory_equal(got, data, n);
	free(got);

	/* aws lists what we list */
	snprintf(file, sizeof(file), "%s/count", dir);
	snprintf(cmd, sizeof(cmd),
		 "%s --endpoint-url %s s3api list-objects-v2 --bucket %s "
		 "--prefix %s/aws/ --query 'Contents[].[Key,Size]' --output "
		 "text > %s",
		 aws, ep, bucket, run_id, file);
	assert_int_equal(sh(cmd), 0);
	got = unit_slurp(file, &len);
	assert_non_null(got);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s/aws/data/big\t%zu\n%s/aws/data/small\t1234\n", run_id, n,
		 run_id);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);

	/* what aws puts (its own multipart), we read */
	snprintf(file, sizeof(file), "%s/up", dir);
	FILE *fp = fopen(file, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data + 1, 1, n - 1, fp), n - 1);
	fclose(fp);
	snprintf(cmd, sizeof(cmd),
		 "%s --endpoint-url %s s3 cp --only-show-errors %s "
		 "s3://%s/%s/aws/from-aws",
		 aws, ep, file, bucket, run_id);
	assert_int_equal(sh(cmd), 0);
	assert_int_equal(be->ops->get(be, "from-aws", n, &out, &len), 0);
	assert_int_equal(len, n - 1);
	assert_memory_equal(out, data + 1, n - 1);
	free(out);
	free(data);
	strata_backend_close(be);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xml),
	    cmocka_unit_test(test_put_get),
	    cmocka_unit_test(test_get_limit),
	    cmocka_unit_test(test_multipart),
	    cmocka_unit_test(test_overwrite),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_open),
	    cmocka_unit_test(test_local_dir),
	    cmocka_unit_test(test_virtual_host),
	    cmocka_unit_test(test_endpoint_down),
	    cmocka_unit_test(test_retries),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_aws_cli),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
