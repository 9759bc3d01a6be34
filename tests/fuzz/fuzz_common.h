/*
 * fuzz_common.h - shared by the fuzz targets and the corpus generator: the
 * fixed test secrets, an invariant check that aborts (so libFuzzer keeps
 * the input), and a blob "forger" that seals chosen plaintext the way an
 * attacker holding the data key could, with a fixed nonce so runs repeat.
 * Include it after every system header: store.h pulls in banned.h.
 */
#ifndef STRATA_FUZZ_COMMON_H
#define STRATA_FUZZ_COMMON_H

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n",  \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#define FUZZ_PASSWORD "strata fuzz password"
/* Key objects whose argon2id cost exceeds this are skipped, not parsed:
 * the KDF would dominate the run time. */
#define FUZZ_MAX_T 1u
#define FUZZ_MAX_MEM_KIB 8192u
/* Byte layout of a key object (keys.c): magic, kdf, t, mem, salt, nonce,
 * sealed master, tag. */
#define FUZZ_KEY_OBJ_LEN (8 + 1 + 4 + 4 + 16 + 12 + 64 + 16)

static inline void fuzz_keys(strata_keys *k)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < sizeof(k->master); i++)
		k->master[i] = (uint8_t)(0x5a ^ (i * 29));
	strata_keys_derive(k);
}

static inline void fuzz_keyfile(uint8_t kf[32])
{
	for (size_t i = 0; i < 32; i++)
		kf[i] = (uint8_t)(0xc3 ^ (i * 7));
}

/* Seal p[0..n) as a blob whose header names compression `comp`, without
 * compressing: the plaintext reaches the decoder exactly as given. */
static inline int fuzz_forge_blob(strata_buf *out, strata_aead *a,
				  uint32_t key_id, uint8_t comp,
				  const uint8_t *p, size_t n)
{
	static const uint8_t nonce[STRATA_NONCE_LEN] = "fixed nonce";
	int rc;
	strata_buf_reset(out);
	if ((rc = strata_buf_reserve(out, n + STRATA_BLOB_OVERHEAD)))
		return rc;
	uint8_t *h = out->ptr;
	h[0] = 'S';
	h[1] = 'B';
	h[2] = STRATA_FORMAT_VERSION;
	h[3] = comp;
	strata_le32(h + 4, key_id);
	memcpy(h + STRATA_BLOB_HDR, nonce, STRATA_NONCE_LEN);
	if ((rc = strata_aead_seal(a, h + STRATA_BLOB_HDR + STRATA_NONCE_LEN,
				   nonce, h, STRATA_BLOB_HDR, p, n)))
		return rc;
	out->len = n + STRATA_BLOB_OVERHEAD;
	return 0;
}

#endif
