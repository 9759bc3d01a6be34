/*
 * fuzz_tree.c - strata_tree_decode on tree plaintext. Tree ids are hashes
 * of the encoding, so the encoding must be canonical: any tree the decoder
 * accepts re-encodes to exactly the input bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_tree t;
	strata_buf enc = STRATA_BUF_INIT;
	int rc = strata_tree_decode(&t, data, size);
	if (rc) {
		FUZZ_CHECK(rc == STRATA_ECORRUPT || rc == STRATA_ENOMEM);
		FUZZ_CHECK(t.nodes == NULL && t.n == 0);
		return 0;
	}
	for (size_t i = 0; i < t.n; i++) {
		const strata_node *n = &t.nodes[i];
		FUZZ_CHECK(n->name && strlen(n->name) == n->name_len);
		FUZZ_CHECK(!memchr(n->name, '/', n->name_len));
		FUZZ_CHECK(n->type != STRATA_NODE_SYMLINK || n->target);
		FUZZ_CHECK(!n->nchunks || n->chunks);
	}
	FUZZ_CHECK(strata_tree_encode(&t, &enc) == 0);
	if (enc.len != size || (size && memcmp(enc.ptr, data, size))) {
		fprintf(stderr,
			"tree encoding is not canonical: %zu bytes in, "
			"%zu bytes out\n",
			size, enc.len);
		abort();
	}
	strata_buf_release(&enc);
	strata_tree_release(&t);
	return 0;
}
