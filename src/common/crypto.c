/*
 * crypto.c - thin wrappers over OpenSSL libcrypto (SHA-256 with SHA-NI,
 * AES-256-GCM with AES-NI) and libsodium (Argon2id, randomness). Contexts
 * are created once per thread and reused: per-call setup would dominate
 * on small files.
 */
#include "common/common.h"

#include <openssl/evp.h>
#include <sodium.h>

struct strata_sha256_ctx {
	EVP_MD_CTX *md;
};

/* OpenSSL 3 looks an algorithm up on every init given md_sha256();
 * fetching it once makes per-file hashing cheap. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

static const EVP_MD *md_sha256(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	return sha256_md ? sha256_md : EVP_sha256();
}

void strata_sha256(uint8_t out[32], const void *p, size_t n)
{
	unsigned int len = 32;
	EVP_Digest(p, n, out, &len, md_sha256(), NULL);
}

int strata_sha256_new(strata_sha256_ctx **out)
{
	strata_sha256_ctx *c = strata_calloc(1, sizeof(*c));
	if (!c || !(c->md = EVP_MD_CTX_new())) {
		strata_free(c);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	EVP_DigestInit_ex(c->md, md_sha256(), NULL);
	*out = c;
	return 0;
}

void strata_sha256_update(strata_sha256_ctx *c, const void *p, size_t n)
{
	EVP_DigestUpdate(c->md, p, n);
}

/* Finalises and re-initialises, so the context can hash the next input. */
void strata_sha256_final(strata_sha256_ctx *c, uint8_t out[32])
{
	unsigned int len = 32;
	EVP_DigestFinal_ex(c->md, out, &len);
	EVP_DigestInit_ex(c->md, md_sha256(), NULL);
}

void strata_sha256_free(strata_sha256_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	strata_free(c);
}

/* HMAC (RFC 2104) over SHA-256, with the padded-key states hashed once. */
struct strata_hmac {
	EVP_MD_CTX *inner, *outer, *work;
};

int strata_hmac_new(strata_hmac **out, const uint8_t *key, size_t keylen)
{
	uint8_t k[64] = {0}, pad[64];
	strata_hmac *h = strata_calloc(1, sizeof(*h));
	if (!h)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	h->inner = EVP_MD_CTX_new();
	h->outer = EVP_MD_CTX_new();
	h->work = EVP_MD_CTX_new();
	if (!h->inner || !h->outer || !h->work) {
		strata_hmac_free(h);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	if (keylen > 64)
		strata_sha256(k, key, keylen);
	else
		memcpy(k, key, keylen);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	EVP_DigestInit_ex(h->inner, md_sha256(), NULL);
	EVP_DigestUpdate(h->inner, pad, 64);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	EVP_DigestInit_ex(h->outer, md_sha256(), NULL);
	EVP_DigestUpdate(h->outer, pad, 64);
	strata_wipe(k, sizeof(k));
	strata_wipe(pad, sizeof(pad));
	*out = h;
	return 0;
}

void strata_hmac_free(strata_hmac *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->inner);
	EVP_MD_CTX_free(h->outer);
	EVP_MD_CTX_free(h->work);
	strata_free(h);
}

void strata_hmac_calc(strata_hmac *h, uint8_t out[32], const void *p, size_t n)
{
	uint8_t ih[32];
	unsigned int len = 32;
	EVP_MD_CTX_copy_ex(h->work, h->inner);
	EVP_DigestUpdate(h->work, p, n);
	EVP_DigestFinal_ex(h->work, ih, &len);
	EVP_MD_CTX_copy_ex(h->work, h->outer);
	EVP_DigestUpdate(h->work, ih, 32);
	EVP_DigestFinal_ex(h->work, out, &len);
}

void strata_hmac_once(uint8_t out[32], const uint8_t *key, size_t keylen,
		      const void *p, size_t n)
{
	strata_hmac *h;
	if (strata_hmac_new(&h, key, keylen)) {
		abort(); /* out of memory for a 200-byte object: nothing sane
			    left */
	}
	strata_hmac_calc(h, out, p, n);
	strata_hmac_free(h);
}

struct strata_aead {
	EVP_CIPHER_CTX *enc, *dec;
};

int strata_aead_new(strata_aead **out, const uint8_t key[32])
{
	strata_aead *a = strata_calloc(1, sizeof(*a));
	if (!a)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	a->enc = EVP_CIPHER_CTX_new();
	a->dec = EVP_CIPHER_CTX_new();
	if (!a->enc || !a->dec ||
	    !EVP_EncryptInit_ex(a->enc, EVP_aes_256_gcm(), NULL, key, NULL) ||
	    !EVP_DecryptInit_ex(a->dec, EVP_aes_256_gcm(), NULL, key, NULL)) {
		strata_aead_free(a);
		return strata_error_set(STRATA_ENOMEM,
					"cannot set up AES-256-GCM");
	}
	*out = a;
	return 0;
}

void strata_aead_free(strata_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->enc);
	EVP_CIPHER_CTX_free(a->dec);
	strata_free(a);
}

/* OpenSSL takes int lengths; blobs are bounded far below INT_MAX. */
int strata_aead_seal(strata_aead *a, uint8_t *out, const uint8_t nonce[12],
		     const void *aad, size_t aadlen, const void *p, size_t n)
{
	int len;
	assert(n < INT_MAX && aadlen < INT_MAX);
	if (!EVP_EncryptInit_ex(a->enc, NULL, NULL, NULL, nonce) ||
	    (aadlen &&
	     !EVP_EncryptUpdate(a->enc, NULL, &len, aad, (int)aadlen)) ||
	    !EVP_EncryptUpdate(a->enc, out, &len, p, (int)n) ||
	    !EVP_EncryptFinal_ex(a->enc, out + len, &len) ||
	    !EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_GCM_GET_TAG, 16, out + n))
		return strata_error_set(STRATA_EIO,
					"AES-256-GCM encryption failed");
	return 0;
}

int strata_aead_open(strata_aead *a, uint8_t *out, const uint8_t nonce[12],
		     const void *aad, size_t aadlen, const uint8_t *in,
		     size_t n)
{
	int len;
	assert(n < INT_MAX && aadlen < INT_MAX);
	if (!EVP_DecryptInit_ex(a->dec, NULL, NULL, NULL, nonce) ||
	    (aadlen &&
	     !EVP_DecryptUpdate(a->dec, NULL, &len, aad, (int)aadlen)) ||
	    !EVP_DecryptUpdate(a->dec, out, &len, in, (int)n) ||
	    !EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_GCM_SET_TAG, 16,
				 (void *)(in + n)) ||
	    EVP_DecryptFinal_ex(a->dec, out + len, &len) <= 0)
		return STRATA_ECORRUPT; /* caller names the object */
	return 0;
}

void strata_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

int strata_argon2id(uint8_t out[32], const char *pass, size_t passlen,
		    const uint8_t salt[16], uint32_t t, uint32_t mem_kib)
{
	if (sodium_init() < 0)
		return strata_error_set(STRATA_EIO,
					"libsodium failed to start");
	if (crypto_pwhash(out, 32, pass, passlen, salt, t,
			  (size_t)mem_kib * 1024, crypto_pwhash_ALG_ARGON2ID13))
		return strata_error_set(
		    STRATA_ENOMEM, "argon2id needs %u KiB of memory", mem_kib);
	return 0;
}

int strata_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void strata_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}
