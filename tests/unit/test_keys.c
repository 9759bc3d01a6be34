/*
 * test_keys.c - unit tests for key derivation and key objects
 * (src/store/keys.c): wrap/unwrap under a password and under a key file,
 * wrong secrets, and damaged key objects, which must never unlock.
 */
#include "unit.h"

#include "store/store.h"

static const strata_kdf_params kdf = {1, 8192};
#define PASS "correct horse battery staple"

static strata_keys keys_from(uint64_t seed)
{
	strata_keys k;
	memset(&k, 0, sizeof(k));
	unit_fill(k.master, sizeof(k.master), seed);
	strata_keys_derive(&k);
	return k;
}

static void keys_equal(const strata_keys *a, const strata_keys *b)
{
	assert_memory_equal(a->master, b->master, 64);
	assert_memory_equal(a->data_key, b->data_key, 32);
	assert_memory_equal(a->id_key, b->id_key, 32);
	assert_memory_equal(a->gear_key, b->gear_key, 32);
	assert_memory_equal(a->catalog_key, b->catalog_key, 32);
	assert_memory_equal(a->catalog_mac, b->catalog_mac, 32);
	assert_int_equal(a->key_id, b->key_id);
}

static void test_derive(void **state)
{
	(void)state;
	strata_keys a = keys_from(1), b = keys_from(1), c = keys_from(2);
	keys_equal(&a, &b);
	assert_memory_not_equal(a.data_key, c.data_key, 32);
	assert_int_not_equal(a.key_id, c.key_id);
	/* sub-keys are independent of each other */
	const uint8_t *sub[] = {a.data_key, a.id_key, a.gear_key, a.catalog_key,
				a.catalog_mac};
	for (size_t i = 0; i < 5; i++)
		for (size_t j = i + 1; j < 5; j++)
			assert_memory_not_equal(sub[i], sub[j], 32);
}

static void test_password_roundtrip(void **state)
{
	(void)state;
	strata_keys k = keys_from(3), back;
	strata_buf obj = STRATA_BUF_INIT, obj2 = STRATA_BUF_INIT;
	assert_int_equal(
	    strata_keys_wrap(&obj, &k, PASS, strlen(PASS), NULL, &kdf), 0);
	assert_memory_equal(obj.ptr, "STRKEY01", 8);
	/* the master key does not appear in the object */
	assert_null(memmem(obj.ptr, obj.len, k.master, 16));
	memset(&back, 0, sizeof(back));
	uint8_t *q = unit_dup(obj.ptr, obj.len);
	assert_int_equal(
	    strata_keys_unwrap(&back, q, obj.len, PASS, strlen(PASS), NULL), 0);
	keys_equal(&k, &back);
	/* a second wrap uses a fresh salt and nonce */
	assert_int_equal(
	    strata_keys_wrap(&obj2, &k, PASS, strlen(PASS), NULL, &kdf), 0);
	assert_int_equal(obj2.len, obj.len);
	assert_memory_not_equal(obj2.ptr, obj.ptr, obj.len);
	memset(&back, 0, sizeof(back));
	assert_int_equal(strata_keys_unwrap(&back, obj2.ptr, obj2.len, PASS,
					    strlen(PASS), NULL),
			 0);
	keys_equal(&k, &back);
	/* the password is bytes with a length, not a C string */
	strata_buf_reset(&obj2);
	assert_int_equal(strata_keys_wrap(&obj2, &k, "a\0b", 3, NULL, &kdf), 0);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj2.ptr, obj2.len, "a\0b", 3, NULL), 0);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj2.ptr, obj2.len, "a\0c", 3, NULL),
	    STRATA_EAUTH);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj2.ptr, obj2.len, "a", 1, NULL),
	    STRATA_EAUTH);
	free(q);
	strata_buf_release(&obj);
	strata_buf_release(&obj2);
}

static void test_wrong_password(void **state)
{
	(void)state;
	strata_keys k = keys_from(4), back;
	strata_buf obj = STRATA_BUF_INIT;
	uint8_t keyfile[32];
	unit_fill(keyfile, 32, 5);
	assert_int_equal(
	    strata_keys_wrap(&obj, &k, PASS, strlen(PASS), NULL, &kdf), 0);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, "wrong", 5, NULL),
	    STRATA_EAUTH);
	assert_int_equal(strata_keys_unwrap(&back, obj.ptr, obj.len, PASS,
					    strlen(PASS) - 1, NULL),
			 STRATA_EAUTH);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, "", 0, NULL),
	    STRATA_EAUTH);
	/* no password at all, or only a key file, for a password key */
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, NULL, 0, NULL),
	    STRATA_EAUTH);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, NULL, 0, keyfile),
	    STRATA_EAUTH);
	strata_buf_release(&obj);
}

/* STYLE.md: on failure, outputs are untouched. */
static void test_failure_leaves_keys(void **state)
{
	(void)state;
	strata_keys k = keys_from(6), back, before;
	strata_buf obj = STRATA_BUF_INIT;
	assert_int_equal(
	    strata_keys_wrap(&obj, &k, PASS, strlen(PASS), NULL, &kdf), 0);
	memset(&back, 0xa5, sizeof(back));
	before = back;
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, "wrong", 5, NULL),
	    STRATA_EAUTH);
	assert_memory_equal(&back, &before, sizeof(back));
	strata_buf_release(&obj);
}

static void test_keyfile(void **state)
{
	(void)state;
	strata_keys k = keys_from(7), back;
	strata_buf obj = STRATA_BUF_INIT;
	uint8_t kf[32], other[32];
	unit_fill(kf, 32, 8);
	memcpy(other, kf, 32);
	other[31] ^= 1;
	assert_int_equal(strata_keys_wrap(&obj, &k, NULL, 0, kf, &kdf), 0);
	assert_null(memmem(obj.ptr, obj.len, kf, 16));
	memset(&back, 0, sizeof(back));
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, NULL, 0, kf), 0);
	keys_equal(&k, &back);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, NULL, 0, other),
	    STRATA_EAUTH);
	assert_int_equal(
	    strata_keys_unwrap(&back, obj.ptr, obj.len, NULL, 0, NULL),
	    STRATA_EAUTH);
	assert_int_equal(strata_keys_unwrap(&back, obj.ptr, obj.len, PASS,
					    strlen(PASS), NULL),
			 STRATA_EAUTH);
	strata_buf_release(&obj);
}

/* Every damaged byte, truncation and extension fails, and never with 0. */
static void damage_all(const strata_buf *obj, const char *pass,
		       const uint8_t *kf, const uint8_t *masks, size_t nmasks)
{
	strata_keys back;
	for (size_t i = 0; i < obj->len; i++) {
		for (size_t m = 0; m < nmasks; m++) {
			uint8_t *q = unit_dup(obj->ptr, obj->len);
			q[i] ^= masks[m];
			int rc =
			    strata_keys_unwrap(&back, q, obj->len, pass,
					       pass ? strlen(pass) : 0, kf);
			if (rc != STRATA_ECORRUPT && rc != STRATA_EAUTH)
				fail_msg(
				    "byte %zu ^ 0x%02x: unwrap returned %d", i,
				    masks[m], rc);
			free(q);
		}
	}
	for (size_t l = 0; l < obj->len; l++) {
		uint8_t *q = unit_dup(obj->ptr, l);
		assert_int_equal(strata_keys_unwrap(&back, q, l, pass,
						    pass ? strlen(pass) : 0,
						    kf),
				 STRATA_ECORRUPT);
		free(q);
	}
	uint8_t *q = malloc(obj->len + 1);
	assert_non_null(q);
	memcpy(q, obj->ptr, obj->len);
	q[obj->len] = 0;
	assert_int_equal(strata_keys_unwrap(&back, q, obj->len + 1, pass,
					    pass ? strlen(pass) : 0, kf),
			 STRATA_ECORRUPT);
	free(q);
}

static void test_damaged(void **state)
{
	(void)state;
	strata_keys k = keys_from(9);
	strata_buf obj = STRATA_BUF_INIT;
	uint8_t kf[32];
	unit_fill(kf, 32, 10);
	static const uint8_t all[] = {0x01, 0x80, 0xff}, low[] = {0x01};

	assert_int_equal(strata_keys_wrap(&obj, &k, NULL, 0, kf, &kdf), 0);
	damage_all(&obj, NULL, kf, all, sizeof(all));

	/* one Argon2 run per damaged byte: keep to a single bit each */
	assert_int_equal(
	    strata_keys_wrap(&obj, &k, PASS, strlen(PASS), NULL, &kdf), 0);
	damage_all(&obj, PASS, NULL, low, sizeof(low));
	/* an implausible cost in a damaged object is refused, not run */
	uint8_t *q = unit_dup(obj.ptr, obj.len);
	strata_keys back;
	strata_le32(q + 9, 1000);
	assert_int_equal(
	    strata_keys_unwrap(&back, q, obj.len, PASS, strlen(PASS), NULL),
	    STRATA_ECORRUPT);
	memcpy(q, obj.ptr, obj.len);
	strata_le32(q + 13, UINT32_MAX);
	assert_int_equal(
	    strata_keys_unwrap(&back, q, obj.len, PASS, strlen(PASS), NULL),
	    STRATA_ECORRUPT);
	free(q);
	strata_buf_release(&obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_derive),
	    cmocka_unit_test(test_password_roundtrip),
	    cmocka_unit_test(test_wrong_password),
	    cmocka_unit_test(test_failure_leaves_keys),
	    cmocka_unit_test(test_keyfile),
	    cmocka_unit_test(test_damaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
