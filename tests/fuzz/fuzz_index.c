/*
 * fuzz_index.c - strata_index_decode on index object plaintext. An
 * accepted index must list every pack its header announces, and
 * re-encode to one that decodes to the same table: same packs, same
 * entries, each findable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static void same_table(const strata_index *a, const strata_index *b)
{
	FUZZ_CHECK(a->npacks == b->npacks && a->count == b->count);
	if (a->npacks)
		FUZZ_CHECK(!memcmp(a->packs, b->packs, a->npacks * 32));
	size_t seen = 0;
	for (size_t i = 0; i <= a->mask; i++) {
		const strata_index_ent *s = &a->slots[i];
		if (s->pack == UINT32_MAX)
			continue;
		seen++;
		FUZZ_CHECK(strata_index_find(a, s->id) == s);
		const strata_index_ent *t = strata_index_find(b, s->id);
		FUZZ_CHECK(t != NULL);
		FUZZ_CHECK(t->pack == s->pack && t->offset == s->offset &&
			   t->length == s->length && t->raw_len == s->raw_len &&
			   t->type == s->type);
	}
	FUZZ_CHECK(seen == a->count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_index ix, again;
	strata_buf enc = STRATA_BUF_INIT;
	if (strata_index_init(&ix))
		return 0;
	int rc = strata_index_decode(&ix, data, size);
	if (rc) {
		FUZZ_CHECK(rc == STRATA_ECORRUPT || rc == STRATA_ENOMEM);
		strata_index_release(&ix);
		return 0;
	}
	/* every pack the header announces was read: none silently dropped */
	FUZZ_CHECK(size >= 12 && ix.npacks == strata_get_le32(data + 8));
	FUZZ_CHECK(strata_index_encode(&ix, 0, &enc) == 0);
	FUZZ_CHECK(strata_index_init(&again) == 0);
	FUZZ_CHECK(strata_index_decode(&again, enc.ptr, enc.len) == 0);
	same_table(&ix, &again);
	same_table(&again, &ix);
	strata_index_release(&again);
	strata_index_release(&ix);
	strata_buf_release(&enc);
	return 0;
}
