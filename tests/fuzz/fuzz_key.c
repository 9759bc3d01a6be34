/*
 * fuzz_key.c - strata_keys_unwrap on key objects, with the fixed test
 * password and key file. Unwrapping succeeds only for a genuine wrap of
 * the fixed master (the corpus seeds); anything else that unwraps is a
 * forgery. Objects asking for a costlier argon2id than t=1, 8 MiB are
 * skipped so the KDF does not eat the run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_keys k, want;
	uint8_t keyfile[32];
	if (size == FUZZ_KEY_OBJ_LEN && data[8] == 1 /* argon2id */ &&
	    (strata_get_le32(data + 9) > FUZZ_MAX_T ||
	     strata_get_le32(data + 13) > FUZZ_MAX_MEM_KIB))
		return 0;
	fuzz_keys(&want);
	fuzz_keyfile(keyfile);
	memset(&k, 0, sizeof(k));
	int rc = strata_keys_unwrap(&k, data, size, FUZZ_PASSWORD,
				    strlen(FUZZ_PASSWORD), keyfile);
	if (rc) {
		FUZZ_CHECK(rc == STRATA_ECORRUPT || rc == STRATA_EAUTH ||
			   rc == STRATA_ENOMEM);
		return 0;
	}
	FUZZ_CHECK(size == FUZZ_KEY_OBJ_LEN);
	FUZZ_CHECK(!memcmp(&k, &want, sizeof(k)));
	/* without the secret its kdf needs, the same object must not open */
	rc = strata_keys_unwrap(&k, data, size, NULL, 0, NULL);
	FUZZ_CHECK(rc == STRATA_EAUTH);
	strata_wipe(&k, sizeof(k));
	return 0;
}
