/*
 * blob.c - the blob codec: every stored object (chunk, tree, pack trailer,
 * index, snapshot) is header | nonce | AES-256-GCM(ciphertext) | tag, the
 * header naming the format version, the compression and the key id and
 * authenticated as associated data. Compression is zstd, skipped when a
 * sample of the input does not shrink (gzip, BGZF, CRAM, JPEG 2000...).
 */
#include "store/store.h"

#include <zstd.h>

#define BLOB_MAGIC0 'S'
#define BLOB_MAGIC1 'B'
#define SAMPLE 16384

struct strata_codec {
	strata_aead *aead;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	int zlevel;
	uint32_t key_id;
	strata_buf tmp; /* compressed plaintext */
	uint64_t nonce_ctr;
	uint8_t nonce_base[12];
};

int strata_codec_new(strata_codec **out, const strata_keys *k, int zlevel)
{
	strata_codec *c = strata_calloc(1, sizeof(*c));
	if (!c)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	int rc = strata_aead_new(&c->aead, k->data_key);
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (rc || !c->cctx || !c->dctx) {
		strata_codec_free(c);
		return rc ? rc
			  : strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	c->zlevel = zlevel;
	c->key_id = k->key_id;
	c->tmp.limit = ZSTD_compressBound(STRATA_BLOB_MAX) + 65536;
	/* Random 96-bit nonces per blob would be fine too; a random base plus
	 * a counter per codec is cheaper and never repeats within a process. */
	strata_random(c->nonce_base, sizeof(c->nonce_base));
	*out = c;
	return 0;
}

void strata_codec_free(strata_codec *c)
{
	if (!c)
		return;
	strata_aead_free(c->aead);
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	strata_buf_release(&c->tmp);
	strata_free(c);
}

bool strata_codec_incompressible(strata_codec *c, const uint8_t *p, size_t n)
{
	uint8_t out[SAMPLE + 1024];
	if (n < 64)
		return true;
	if (p[0] == 0x1f && p[1] == 0x8b)
		return true; /* gzip / BGZF member */
	size_t s = n < SAMPLE ? n : SAMPLE;
	const uint8_t *q = p + (n - s) / 2;
	size_t z = ZSTD_compressCCtx(c->cctx, out, sizeof(out), q, s, -1);
	return ZSTD_isError(z) || z > s - s / 16;
}

static void next_nonce(strata_codec *c, uint8_t nonce[12])
{
	uint64_t ctr = ++c->nonce_ctr;
	memcpy(nonce, c->nonce_base, 12);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] ^= (uint8_t)(ctr >> (8 * i));
}

int strata_codec_seal_append(strata_codec *c, strata_buf *out, const uint8_t *p,
			     size_t n, int mode, int *comp)
{
	int rc;
	const uint8_t *src = p;
	size_t srclen = n;
	*comp = STRATA_COMP_NONE;
	if (n > STRATA_BLOB_MAX)
		return strata_error_set(STRATA_EINVAL,
					"blob of %zu bytes is too large", n);
	/* the sample test pays off on large chunks only: a small one is
	 * cheaper to compress once and keep the result if it shrank */
	if (mode == STRATA_SEAL_ZSTD ||
	    (mode == STRATA_SEAL_TRY &&
	     (n <= 4 * SAMPLE || !strata_codec_incompressible(c, p, n)))) {
		size_t bound = ZSTD_compressBound(n);
		strata_buf_reset(&c->tmp);
		if ((rc = strata_buf_reserve(&c->tmp, bound)))
			return rc;
		size_t z = ZSTD_compressCCtx(c->cctx, c->tmp.ptr, bound, p, n,
					     c->zlevel);
		if (!ZSTD_isError(z) && z < n - n / 32) {
			src = c->tmp.ptr;
			srclen = z;
			*comp = STRATA_COMP_ZSTD;
		}
	}
	if ((rc = strata_buf_reserve(out, srclen + STRATA_BLOB_OVERHEAD)))
		return rc;
	uint8_t *h = out->ptr + out->len;
	h[0] = BLOB_MAGIC0;
	h[1] = BLOB_MAGIC1;
	h[2] = STRATA_FORMAT_VERSION;
	h[3] = (uint8_t)*comp;
	strata_le32(h + 4, c->key_id);
	next_nonce(c, h + STRATA_BLOB_HDR);
	rc = strata_aead_seal(c->aead, h + STRATA_BLOB_HDR + STRATA_NONCE_LEN,
			      h + STRATA_BLOB_HDR, h, STRATA_BLOB_HDR, src,
			      srclen);
	if (rc)
		return rc;
	out->len += srclen + STRATA_BLOB_OVERHEAD;
	return 0;
}

int strata_codec_seal(strata_codec *c, strata_buf *out, const uint8_t *p,
		      size_t n, int mode, int *comp)
{
	strata_buf_reset(out);
	return strata_codec_seal_append(c, out, p, n, mode, comp);
}

/* The header of a stored blob: its compression and payload length. */
static int open_header(const strata_codec *c, const uint8_t *blob, size_t n,
		       int *comp, size_t *clen)
{
	if (n < STRATA_BLOB_OVERHEAD || blob[0] != BLOB_MAGIC0 ||
	    blob[1] != BLOB_MAGIC1)
		return strata_error_set(STRATA_ECORRUPT, "not a strata blob");
	if (blob[2] != STRATA_FORMAT_VERSION)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "blob format version %u is not supported "
		    "(this strata reads version %u)",
		    blob[2], STRATA_FORMAT_VERSION);
	if (strata_get_le32(blob + 4) != c->key_id)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "blob is sealed with key %08x, not this "
		    "repository's key",
		    strata_get_le32(blob + 4));
	*comp = blob[3];
	*clen = n - STRATA_BLOB_OVERHEAD;
	if (*comp != STRATA_COMP_NONE && *comp != STRATA_COMP_ZSTD)
		return strata_error_set(STRATA_ECORRUPT,
					"blob names unknown "
					"compression %d",
					*comp);
	if (*clen > STRATA_BLOB_MAX + 65536)
		return strata_error_set(STRATA_ECORRUPT, "blob too large");
	return 0;
}

static int decrypt(strata_codec *c, uint8_t *dst, const uint8_t *blob,
		   size_t clen)
{
	if (strata_aead_open(c->aead, dst, blob + STRATA_BLOB_HDR, blob,
			     STRATA_BLOB_HDR,
			     blob + STRATA_BLOB_HDR + STRATA_NONCE_LEN, clen))
		return strata_error_set(STRATA_ECORRUPT,
					"blob fails authentication (damaged or "
					"altered)");
	return 0;
}

/* The plaintext size a zstd frame of clen bytes in c->tmp declares. */
static int frame_size(strata_codec *c, size_t clen, size_t cap, size_t *sz)
{
	unsigned long long v = ZSTD_getFrameContentSize(c->tmp.ptr, clen);
	if (v == ZSTD_CONTENTSIZE_ERROR || v == ZSTD_CONTENTSIZE_UNKNOWN ||
	    v > cap)
		return strata_error_set(STRATA_ECORRUPT,
					"compressed blob has a bad size");
	*sz = (size_t)v;
	return 0;
}

static int decompress(strata_codec *c, uint8_t *dst, size_t sz, size_t clen)
{
	size_t z = ZSTD_decompressDCtx(c->dctx, dst, sz, c->tmp.ptr, clen);
	if (ZSTD_isError(z) || z != sz)
		return strata_error_set(STRATA_ECORRUPT,
					"compressed blob does not decompress");
	return 0;
}

int strata_codec_open(strata_codec *c, strata_buf *out, const uint8_t *blob,
		      size_t n, size_t raw_len)
{
	int rc, comp = 0;
	size_t clen = 0, sz = 0;
	if (!raw_len)
		raw_len = STRATA_BLOB_MAX;
	if ((rc = open_header(c, blob, n, &comp, &clen)))
		return rc;
	if (comp == STRATA_COMP_NONE && clen > raw_len)
		return strata_error_set(STRATA_ECORRUPT, "blob too large");
	strata_buf *dst = comp == STRATA_COMP_ZSTD ? &c->tmp : out;
	strata_buf_reset(dst);
	if ((rc = strata_buf_reserve(dst, clen)) ||
	    (rc = decrypt(c, dst->ptr, blob, clen)))
		return rc;
	dst->len = clen;
	if (comp == STRATA_COMP_NONE)
		return 0;
	strata_buf_reset(out);
	if ((rc = frame_size(c, clen, raw_len, &sz)) ||
	    (rc = strata_buf_reserve(out, sz)) ||
	    (rc = decompress(c, out->ptr, sz, clen)))
		return rc;
	out->len = sz;
	return 0;
}

int strata_codec_open_into(strata_codec *c, uint8_t *dst, size_t cap,
			   const uint8_t *blob, size_t n, size_t *len)
{
	int rc, comp = 0;
	size_t clen = 0, sz = 0;
	if ((rc = open_header(c, blob, n, &comp, &clen)))
		return rc;
	if (comp == STRATA_COMP_NONE) {
		if (clen > cap)
			return strata_error_set(STRATA_ECORRUPT,
						"blob too large");
		if ((rc = decrypt(c, dst, blob, clen)))
			return rc;
		*len = clen;
		return 0;
	}
	strata_buf_reset(&c->tmp);
	if ((rc = strata_buf_reserve(&c->tmp, clen)) ||
	    (rc = decrypt(c, c->tmp.ptr, blob, clen)) ||
	    (rc = frame_size(c, clen, cap, &sz)) ||
	    (rc = decompress(c, dst, sz, clen)))
		return rc;
	*len = sz;
	return 0;
}
