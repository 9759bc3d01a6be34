/*
 * test_attrs.c - unit tests for the attribute list every format reader
 * fills (src/formats/attrs.c): last write wins, order of first write is
 * kept, lookups stay right across index growth and clearing.
 */
#include "unit.h"

#include "strata/formats.h"

static void test_many_keys(void **state)
{
	(void)state;
	strata_attrs *a = NULL;
	char key[32], val[32];
	assert_int_equal(strata_attrs_new(&a), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(key, sizeof(key), "k.%d", i);
			assert_int_equal(strata_attrs_set_int(a, key, i), 0);
		}
		/* overwrite every third: same count, new values */
		for (int i = 0; i < 1000; i += 3) {
			snprintf(key, sizeof(key), "k.%d", i);
			snprintf(val, sizeof(val), "v%d", i);
			assert_int_equal(
			    strata_attrs_set_str(a, key, val, strlen(val)), 0);
		}
		assert_int_equal(strata_attrs_count(a), 1000);
		for (int i = 0; i < 1000; i++) {
			snprintf(key, sizeof(key), "k.%d", i);
			const strata_attr *x = strata_attrs_find(a, key);
			assert_non_null(x);
			assert_ptr_equal(x, strata_attrs_at(a, (size_t)i));
			assert_string_equal(x->key, key);
			if (i % 3 == 0) {
				snprintf(val, sizeof(val), "v%d", i);
				assert_int_equal(x->type, STRATA_ATTR_STR);
				assert_string_equal(x->s, val);
			} else {
				assert_int_equal(x->type, STRATA_ATTR_INT);
				assert_int_equal(x->i, i);
			}
		}
		assert_null(strata_attrs_find(a, "k.1000"));
		assert_null(strata_attrs_find(a, "k"));
		strata_attrs_clear(a);
		assert_int_equal(strata_attrs_count(a), 0);
		assert_null(strata_attrs_find(a, "k.1"));
	}
	strata_attrs_free(a);
}

static void test_bad_utf8(void **state)
{
	(void)state;
	strata_attrs *a = NULL;
	assert_int_equal(strata_attrs_new(&a), 0);
	assert_int_equal(strata_attrs_set_str(a, "x", "ok", 2), 0);
	assert_int_not_equal(strata_attrs_set_str(a, "x", "\xc3", 1), 0);
	assert_string_equal(strata_attrs_find(a, "x")->s, "ok");
	strata_attrs_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_bad_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
