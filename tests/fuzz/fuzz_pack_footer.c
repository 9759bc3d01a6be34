/*
 * fuzz_pack_footer.c - strata_pack_read_table through an in-memory
 * backend: footer parsing, trailer bounds, decryption and the table
 * parser together. Input: one mode byte, then
 *   mode 0: a whole pack file;
 *   mode 1: u32 body length (taken mod 1 MiB), then table plaintext,
 *           which the target seals under the fixed keys and appends to a
 *           zero-filled body with a valid footer (the key-compromise case).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_BODY (1u << 20)

struct mem_backend {
	strata_backend be; /* first: the ops receive &mem->be */
	const uint8_t *p;
	size_t len;
};

static int mem_get_range(strata_backend *be, const char *name, uint64_t off,
			 size_t len, void *out)
{
	const struct mem_backend *m = (const struct mem_backend *)be;
	if (off > m->len || len > m->len - off)
		return strata_error_set(STRATA_EIO, "'%s': read past the end",
					name);
	if (len)
		memcpy(out, m->p + off, len);
	return 0;
}

static const struct strata_backend_ops mem_ops = {
    .get_range = mem_get_range,
};

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
		fprintf(stderr, "fuzz_pack_footer: setup failed: %s\n",
			strata_error_msg());
		abort();
	}
}

static void read_table(const uint8_t *p, size_t n)
{
	struct mem_backend m = {{&mem_ops, "mem"}, p, n};
	strata_pack_entry *ents = NULL;
	size_t count = 0;
	int rc =
	    strata_pack_read_table(&m.be, codec, "data/fuzz", n, &ents, &count);
	if (rc) {
		FUZZ_CHECK(rc == STRATA_ECORRUPT || rc == STRATA_ENOMEM ||
			   rc == STRATA_EINVAL);
		return;
	}
	uint32_t tlen = strata_get_le32(p + n - STRATA_PACK_FOOTER);
	size_t body = n - STRATA_PACK_FOOTER - tlen;
	for (size_t i = 0; i < count; i++)
		FUZZ_CHECK((uint64_t)ents[i].offset + ents[i].length <= body);
	strata_free(ents);
}

static void forged_pack(const uint8_t *p, size_t n)
{
	strata_buf pack = STRATA_BUF_INIT, sealed = STRATA_BUF_INIT;
	size_t body = strata_get_le32(p) % MAX_BODY;
	FUZZ_CHECK(fuzz_forge_blob(&sealed, aead, keys.key_id, STRATA_COMP_NONE,
				   p + 4, n - 4) == 0);
	FUZZ_CHECK(strata_buf_reserve(&pack, body) == 0);
	memset(pack.ptr, 0, body);
	pack.len = body;
	FUZZ_CHECK(strata_buf_put(&pack, sealed.ptr, sealed.len) == 0);
	FUZZ_CHECK(strata_buf_put_u32(&pack, (uint32_t)sealed.len) == 0);
	FUZZ_CHECK(strata_buf_put(&pack, STRATA_PACK_MAGIC, 8) == 0);
	read_table(pack.ptr, pack.len);
	strata_buf_release(&pack);
	strata_buf_release(&sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	setup();
	if (data[0] == 0)
		read_table(data + 1, size - 1);
	else if (size >= 5)
		forged_pack(data + 1, size - 1);
	return 0;
}
