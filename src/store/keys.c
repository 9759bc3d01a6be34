/*
 * keys.c - the repository master secret, the sub-keys derived from it, and
 * key objects (keys/<id>) that wrap it under a passphrase (Argon2id) or a
 * key file. A wrong secret fails the AES-GCM tag, which is how every
 * command tells a wrong password from a damaged repository.
 */
#include "store/store.h"

#define KEY_MAGIC "STRKEY01"
enum { KDF_ARGON2ID = 1, KDF_KEYFILE = 2 };
#define KEY_HDR (8 + 1 + 4 + 4 + 16)
#define KEY_OBJ_LEN (KEY_HDR + 12 + 64 + 16)

static void sub(uint8_t out[32], const uint8_t master[64], const char *label)
{
	strata_hmac_once(out, master, 64, label, strlen(label));
}

void strata_blob_id_of_sha(strata_hmac *h, uint8_t id[32],
			   const uint8_t sha[32])
{
	strata_hmac_calc(h, id, sha, 32);
}

void strata_blob_id(strata_hmac *h, uint8_t id[32], const void *p, size_t n)
{
	uint8_t sha[32];
	strata_sha256(sha, p, n);
	strata_hmac_calc(h, id, sha, 32);
}

void strata_keys_derive(strata_keys *k)
{
	uint8_t id[32];
	sub(k->data_key, k->master, "strata/v1/data");
	sub(k->id_key, k->master, "strata/v1/id");
	sub(k->gear_key, k->master, "strata/v1/gear");
	sub(k->catalog_key, k->master, "strata/v1/catalog");
	sub(k->catalog_mac, k->master, "strata/v1/catalog-mac");
	sub(k->subject_key, k->master, "strata/v1/subjects");
	sub(k->audit_seed, k->master, "strata/v1/audit-sign");
	sub(k->deid_key, k->master, "strata/v1/deid");
	sub(id, k->master, "strata/v1/key-id");
	k->key_id = strata_get_le32(id);
}

static int kek(uint8_t out[32], int kdf, const uint8_t *salt, uint32_t t,
	       uint32_t mem, const char *pass, size_t passlen,
	       const uint8_t *keyfile)
{
	if (kdf == KDF_ARGON2ID) {
		if (!pass)
			return strata_error_set(STRATA_EAUTH,
						"this repository key needs a "
						"password: set STRATA_PASSWORD "
						"or use --password-file");
		if (t < 1 || t > 64 || mem < 8 || mem > (4u << 20))
			return strata_error_set(STRATA_ECORRUPT,
						"key object has implausible "
						"argon2id parameters");
		return strata_argon2id(out, pass, passlen, salt, t, mem);
	}
	if (kdf == KDF_KEYFILE) {
		if (!keyfile)
			return strata_error_set(STRATA_EAUTH,
						"this repository key needs a "
						"key file: use --key-file");
		strata_hmac_once(out, keyfile, 32, salt, 16);
		return 0;
	}
	return strata_error_set(STRATA_ECORRUPT, "key object: unknown kdf %d",
				kdf);
}

int strata_keys_wrap(strata_buf *out, const strata_keys *k, const char *pass,
		     size_t passlen, const uint8_t *keyfile,
		     const strata_kdf_params *kdf)
{
	uint8_t salt[16], nonce[12], kk[32], sealed[64 + 16];
	int type = pass ? KDF_ARGON2ID : KDF_KEYFILE;
	strata_aead *a = NULL;
	strata_random(salt, sizeof(salt));
	strata_random(nonce, sizeof(nonce));
	int rc =
	    kek(kk, type, salt, kdf->t, kdf->mem_kib, pass, passlen, keyfile);
	if (rc)
		return rc;
	strata_buf_reset(out);
	if ((rc = strata_buf_put(out, KEY_MAGIC, 8)) ||
	    (rc = strata_buf_put_u8(out, (uint8_t)type)) ||
	    (rc = strata_buf_put_u32(out, kdf->t)) ||
	    (rc = strata_buf_put_u32(out, kdf->mem_kib)) ||
	    (rc = strata_buf_put(out, salt, 16)) ||
	    (rc = strata_aead_new(&a, kk)) ||
	    (rc = strata_aead_seal(a, sealed, nonce, out->ptr, KEY_HDR,
				   k->master, 64)) ||
	    (rc = strata_buf_put(out, nonce, 12)) ||
	    (rc = strata_buf_put(out, sealed, sizeof(sealed))))
		goto out;
out:
	strata_aead_free(a);
	strata_wipe(kk, sizeof(kk));
	return rc;
}

int strata_keys_unwrap(strata_keys *k, const uint8_t *obj, size_t len,
		       const char *pass, size_t passlen, const uint8_t *keyfile)
{
	strata_rd r;
	uint8_t kk[32];
	strata_aead *a = NULL;
	if (len != KEY_OBJ_LEN || memcmp(obj, KEY_MAGIC, 8))
		return strata_error_set(STRATA_ECORRUPT,
					"key object is not a strata key "
					"(%zu bytes)",
					len);
	strata_rd_init(&r, obj + 8, len - 8);
	int type = strata_rd_u8(&r);
	uint32_t t = strata_rd_u32(&r), mem = strata_rd_u32(&r);
	int rc = kek(kk, type, obj + 17, t, mem, pass, passlen, keyfile);
	if (rc)
		return rc;
	uint8_t master[64];
	if ((rc = strata_aead_new(&a, kk)))
		goto out;
	if (strata_aead_open(a, master, obj + KEY_HDR, obj, KEY_HDR,
			     obj + KEY_HDR + 12, 64)) {
		rc = STRATA_EAUTH;
		goto out;
	}
	memcpy(k->master, master, 64); /* only once verified */
	strata_keys_derive(k);
out:
	strata_wipe(master, sizeof(master));
	strata_aead_free(a);
	strata_wipe(kk, sizeof(kk));
	return rc;
}
