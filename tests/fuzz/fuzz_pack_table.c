/*
 * fuzz_pack_table.c - strata_pack_parse_table on decrypted trailer
 * plaintext. Input: u32 pack_len (little-endian, the bytes before the
 * trailer) then the table plaintext. A table the parser accepts must
 * describe only in-bounds, well-formed entries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static void parse(const uint8_t *p, size_t n, size_t pack_len)
{
	strata_pack_entry *ents = NULL;
	size_t count = 0;
	int rc = strata_pack_parse_table(p, n, pack_len, &ents, &count);
	if (rc) {
		FUZZ_CHECK(rc == STRATA_ECORRUPT || rc == STRATA_ENOMEM);
		return;
	}
	FUZZ_CHECK(ents != NULL);
	FUZZ_CHECK(n == 12 + count * STRATA_PACK_ENTRY_SIZE);
	for (size_t i = 0; i < count; i++) {
		const strata_pack_entry *e = &ents[i];
		FUZZ_CHECK(e->type == STRATA_BLOB_DATA ||
			   e->type == STRATA_BLOB_TREE);
		FUZZ_CHECK((uint64_t)e->offset + e->length <= pack_len);
		FUZZ_CHECK(e->length >= STRATA_BLOB_OVERHEAD);
		FUZZ_CHECK(e->raw_len <= STRATA_BLOB_MAX);
	}
	strata_free(ents);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	parse(data + 4, size - 4, strata_get_le32(data));
	parse(data + 4, size - 4, SIZE_MAX); /* no bound but the entry's own */
	return 0;
}
