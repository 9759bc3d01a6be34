/*
 * fuzz_blob.c - the blob codec under fixed keys. Three properties per
 * input: (1) arbitrary bytes given to strata_codec_open never crash and
 * never exceed the size bound; (2) seal -> open returns the input, with
 * and without compression; (3) the input sealed as the plaintext of a
 * blob (as an attacker holding the data key could) is decoded safely:
 * this is what reaches zstd.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static strata_codec *codec;
static strata_aead *aead;
static strata_keys keys;

static void setup(void)
{
	if (codec)
		return;
	fuzz_keys(&keys);
	if (strata_codec_new(&codec, &keys, 3) ||
	    strata_aead_new(&aead, keys.data_key)) {
		fprintf(stderr, "fuzz_blob: setup failed: %s\n",
			strata_error_msg());
		abort();
	}
}

static void open_any(strata_buf *out, const uint8_t *p, size_t n,
		     size_t raw_len)
{
	int rc = strata_codec_open(codec, out, p, n, raw_len);
	if (rc) {
		FUZZ_CHECK(rc == STRATA_ECORRUPT || rc == STRATA_ENOMEM ||
			   rc == STRATA_EINVAL);
		return;
	}
	FUZZ_CHECK(out->len <= (raw_len ? raw_len : STRATA_BLOB_MAX));
}

static void round_trip(strata_buf *sealed, strata_buf *out, const uint8_t *p,
		       size_t n, bool try_comp)
{
	int comp = -1;
	FUZZ_CHECK(strata_codec_seal(codec, sealed, p, n, try_comp, &comp) ==
		   0);
	FUZZ_CHECK(comp == STRATA_COMP_NONE ||
		   (try_comp && comp == STRATA_COMP_ZSTD));
	FUZZ_CHECK(comp != STRATA_COMP_NONE ||
		   sealed->len == n + STRATA_BLOB_OVERHEAD);
	FUZZ_CHECK(strata_codec_open(codec, out, sealed->ptr, sealed->len, n) ==
		   0);
	FUZZ_CHECK(out->len == n && (!n || !memcmp(out->ptr, p, n)));
	/* one flipped bit anywhere must fail authentication */
	size_t at = (n * 131) % sealed->len;
	sealed->ptr[at] ^= 0x10;
	FUZZ_CHECK(strata_codec_open(codec, out, sealed->ptr, sealed->len, n) !=
		   0);
}

static void forged(strata_buf *blob, strata_buf *out, const uint8_t *p,
		   size_t n)
{
	for (uint8_t comp = 0; comp <= 2; comp++) {
		FUZZ_CHECK(
		    fuzz_forge_blob(blob, aead, keys.key_id, comp, p, n) == 0);
		open_any(out, blob->ptr, blob->len, 0);
		open_any(out, blob->ptr, blob->len, 4096);
		int rc = strata_codec_open(codec, out, blob->ptr, blob->len, n);
		if (comp == STRATA_COMP_NONE)
			FUZZ_CHECK(rc == 0 && out->len == n &&
				   (!n || !memcmp(out->ptr, p, n)));
		else if (comp > STRATA_COMP_ZSTD)
			FUZZ_CHECK(rc == STRATA_ECORRUPT);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_buf out = STRATA_BUF_INIT, sealed = STRATA_BUF_INIT;
	setup();
	open_any(&out, data, size, 0);
	open_any(&out, data, size, 64);
	round_trip(&sealed, &out, data, size, false);
	round_trip(&sealed, &out, data, size, true);
	forged(&sealed, &out, data, size);
	strata_buf_release(&out);
	strata_buf_release(&sealed);
	return 0;
}
