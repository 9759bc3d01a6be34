/*
 * fmt_test.h - helpers shared by the format readers' cmocka tests: where
 * the sample files are, and exact-value assertions on an attribute list.
 * Include after <cmocka.h> and "strata/formats.h".
 */
#ifndef STRATA_FMT_TEST_H
#define STRATA_FMT_TEST_H

/* $STRATA_TESTDATA/SUBDIR/NAME (default ../shared/testdata). Borrowed:
 * valid until the next call. */
static const char *sample_path(const char *subdir, const char *name)
{
	static char buf[1024];
	const char *dir = getenv("STRATA_TESTDATA");
	snprintf(buf, sizeof(buf), "%s/%s/%s",
		 dir && *dir ? dir : "../shared/testdata", subdir, name);
	return buf;
}

static void eq_int(strata_attrs *a, const char *key, int64_t v)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_INT);
	if (x->i != v)
		fail_msg("%s: %" PRId64 " != %" PRId64, key, x->i, v);
}

static void eq_str(strata_attrs *a, const char *key, const char *v)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_STR);
	assert_string_equal(x->s, v);
}

static void absent(strata_attrs *a, const char *key)
{
	if (strata_attrs_find(a, key))
		fail_msg("unexpected %s", key);
}

#endif
