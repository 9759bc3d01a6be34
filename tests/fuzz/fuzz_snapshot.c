/*
 * fuzz_snapshot.c - strata_snapshot_decode on snapshot plaintext. An
 * accepted snapshot must survive encode -> decode with every field equal,
 * and its encoding must then be stable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static bool same_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

static void same(const strata_snapshot *a, const strata_snapshot *b)
{
	FUZZ_CHECK(same_str(a->dataset, b->dataset));
	FUZZ_CHECK(same_str(a->layer, b->layer));
	FUZZ_CHECK(same_str(a->klass, b->klass));
	FUZZ_CHECK(same_str(a->message, b->message));
	FUZZ_CHECK(same_str(a->author, b->author));
	FUZZ_CHECK(same_str(a->zone, b->zone));
	FUZZ_CHECK(a->version == b->version && a->time_ns == b->time_ns);
	FUZZ_CHECK(!memcmp(a->root, b->root, 32));
	FUZZ_CHECK(a->has_parent == b->has_parent);
	FUZZ_CHECK(!a->has_parent || !memcmp(a->parent, b->parent, 32));
	FUZZ_CHECK(a->files == b->files && a->dirs == b->dirs &&
		   a->bytes == b->bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_snapshot s, s2;
	strata_buf e1 = STRATA_BUF_INIT, e2 = STRATA_BUF_INIT;
	int rc = strata_snapshot_decode(&s, data, size);
	if (rc) {
		FUZZ_CHECK(rc == STRATA_ECORRUPT || rc == STRATA_ENOMEM);
		return 0;
	}
	FUZZ_CHECK(s.dataset && s.layer && s.klass && s.version);
	FUZZ_CHECK(strata_snapshot_encode(&s, &e1) == 0);
	FUZZ_CHECK(strata_snapshot_decode(&s2, e1.ptr, e1.len) == 0);
	same(&s, &s2);
	FUZZ_CHECK(strata_snapshot_encode(&s2, &e2) == 0);
	FUZZ_CHECK(e1.len == e2.len && !memcmp(e1.ptr, e2.ptr, e1.len));
	strata_snapshot_release(&s2);
	strata_snapshot_release(&s);
	strata_buf_release(&e1);
	strata_buf_release(&e2);
	return 0;
}
