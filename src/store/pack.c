/*
 * pack.c - pack objects: blobs appended one after another, then an
 * encrypted table of them, then a 12-byte footer (trailer length, magic).
 * A pack is named by the SHA-256 of its bytes, so `check --read-data`
 * can verify a pack before decrypting anything in it.
 */
#include "store/store.h"

#define TABLE_MAGIC "STRTBL01"
#define MAX_TABLE (64u << 20)

/* The table entry of the blob just appended at data[at, len). */
static int record(strata_pack_writer *w, const uint8_t id[32], uint8_t type,
		  size_t at, uint32_t raw_len)
{
	if (w->data.len > UINT32_MAX) {
		w->data.len = at;
		return strata_error_set(STRATA_EINVAL, "pack too large");
	}
	strata_pack_entry *e = &w->ents[w->n++];
	memcpy(e->id, id, 32);
	e->type = type;
	e->offset = (uint32_t)at;
	e->length = (uint32_t)(w->data.len - at);
	e->raw_len = raw_len;
	return 0;
}

int strata_pack_add(strata_pack_writer *w, const uint8_t id[32], uint8_t type,
		    const uint8_t *blob, size_t len, uint32_t raw_len)
{
	size_t at = w->data.len;
	int rc;
	if (strata_grow(&w->ents, &w->cap, w->n, sizeof(*w->ents)))
		return STRATA_ENOMEM;
	if ((rc = strata_buf_put(&w->data, blob, len)))
		return rc;
	return record(w, id, type, at, raw_len);
}

int strata_pack_seal(strata_pack_writer *w, strata_codec *c,
		     const uint8_t id[32], uint8_t type, const uint8_t *p,
		     size_t n, int mode)
{
	size_t at = w->data.len;
	int comp, rc;
	if (strata_grow(&w->ents, &w->cap, w->n, sizeof(*w->ents)))
		return STRATA_ENOMEM;
	if ((rc = strata_codec_seal_append(c, &w->data, p, n, mode, &comp)))
		return rc;
	return record(w, id, type, at, (uint32_t)n);
}

/* The trailer alone: unique (a random nonce), and it names every blob's id
 * and place, each blob authenticating itself, so a pass over the blobs
 * would add nothing but time (FORMAT.md section 6). */
bool strata_pack_name_hash(uint8_t out[32], const uint8_t *p, size_t n)
{
	if (n < 12)
		return false;
	uint32_t tlen = strata_get_le32(p + n - 12);
	if (memcmp(p + n - 8, STRATA_PACK_MAGIC, 8) || tlen > n - 12)
		return false;
	strata_sha256(out, p + n - 12 - tlen, (size_t)tlen + 12);
	return true;
}

bool strata_pack_name_matches(const uint8_t id[32], const uint8_t *p, size_t n)
{
	uint8_t h[32];
	if (strata_pack_name_hash(h, p, n) && !memcmp(h, id, 32))
		return true;
	/* packs written before 2026-11-26 are named by all their bytes */
	strata_sha256(h, p, n);
	return !memcmp(h, id, 32);
}

int strata_pack_finish(strata_pack_writer *w, strata_codec *c,
		       uint8_t pack_id[32])
{
	strata_buf table = STRATA_BUF_INIT, sealed = STRATA_BUF_INIT;
	int comp, rc;
	table.limit = MAX_TABLE;
	if ((rc = strata_buf_put(&table, TABLE_MAGIC, 8)) ||
	    (rc = strata_buf_put_u32(&table, (uint32_t)w->n)))
		goto out;
	for (size_t i = 0; i < w->n; i++) {
		const strata_pack_entry *e = &w->ents[i];
		if ((rc = strata_buf_put(&table, e->id, 32)) ||
		    (rc = strata_buf_put_u8(&table, e->type)) ||
		    (rc = strata_buf_put_u32(&table, e->offset)) ||
		    (rc = strata_buf_put_u32(&table, e->length)) ||
		    (rc = strata_buf_put_u32(&table, e->raw_len)))
			goto out;
	}
	if ((rc = strata_codec_seal(c, &sealed, table.ptr, table.len, true,
				    &comp)) ||
	    (rc = strata_buf_put(&w->data, sealed.ptr, sealed.len)) ||
	    (rc = strata_buf_put_u32(&w->data, (uint32_t)sealed.len)) ||
	    (rc = strata_buf_put(&w->data, STRATA_PACK_MAGIC, 8)))
		goto out;
	strata_pack_name_hash(pack_id, w->data.ptr, w->data.len);
out:
	strata_buf_release(&table);
	strata_buf_release(&sealed);
	return rc;
}

void strata_pack_writer_reset(strata_pack_writer *w)
{
	strata_buf_reset(&w->data);
	w->n = 0;
}

void strata_pack_writer_release(strata_pack_writer *w)
{
	strata_buf_release(&w->data);
	strata_free(w->ents);
	memset(w, 0, sizeof(*w));
}

int strata_pack_parse_table(const uint8_t *p, size_t n, size_t pack_len,
			    strata_pack_entry **out, size_t *count)
{
	strata_rd r;
	strata_rd_init(&r, p, n);
	const uint8_t *m = strata_rd_bytes(&r, 8);
	uint32_t cnt = strata_rd_u32(&r);
	if (!m || r.err || memcmp(m, TABLE_MAGIC, 8))
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "pack table is truncated or has a bad magic");
	if ((size_t)cnt * STRATA_PACK_ENTRY_SIZE != strata_rd_left(&r))
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "pack table says %u entries but holds %zu "
		    "bytes",
		    cnt, strata_rd_left(&r));
	strata_pack_entry *e = strata_calloc(cnt ? cnt : 1, sizeof(*e));
	if (!e)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < cnt; i++) {
		memcpy(e[i].id, strata_rd_bytes(&r, 32), 32);
		e[i].type = strata_rd_u8(&r);
		e[i].offset = strata_rd_u32(&r);
		e[i].length = strata_rd_u32(&r);
		e[i].raw_len = strata_rd_u32(&r);
		if (e[i].type > STRATA_BLOB_TREE ||
		    (uint64_t)e[i].offset + e[i].length > pack_len ||
		    e[i].length < STRATA_BLOB_OVERHEAD ||
		    e[i].raw_len > STRATA_BLOB_MAX) {
			strata_free(e);
			return strata_error_set(STRATA_ECORRUPT,
						"pack table entry %u is out of "
						"bounds",
						i);
		}
	}
	*out = e;
	*count = cnt;
	return 0;
}

void strata_pack_name(char *out, size_t n, const uint8_t id[32])
{
	char hex[65];
	strata_hex(hex, id, 32);
	snprintf(out, n, "data/%.2s/%s", hex, hex);
}

/* The sealed table's length from a pack's footer, checked against the
 * pack's size. */
static int table_len(const char *name, uint64_t size,
		     const uint8_t foot[STRATA_PACK_FOOTER], uint32_t *tlen)
{
	*tlen = strata_get_le32(foot);
	if (memcmp(foot + 4, STRATA_PACK_MAGIC, 8) ||
	    *tlen > size - STRATA_PACK_FOOTER || *tlen > MAX_TABLE)
		return strata_error_set(STRATA_ECORRUPT,
					"pack '%s' has a damaged footer", name);
	return 0;
}

/* Decrypt and parse the sealed table found at toff. */
static int open_table(strata_codec *c, const char *name, const uint8_t *sealed,
		      uint32_t tlen, uint64_t toff, strata_pack_entry **out,
		      size_t *count)
{
	strata_buf plain = STRATA_BUF_INIT;
	plain.limit = MAX_TABLE;
	int rc = strata_codec_open(c, &plain, sealed, tlen, MAX_TABLE);
	if (rc)
		strata_error_prefix(rc, "pack '%s' table: ", name);
	else if ((rc = strata_pack_parse_table(plain.ptr, plain.len, toff, out,
					       count)))
		strata_error_prefix(rc, "pack '%s': ", name);
	strata_buf_release(&plain);
	return rc;
}

static int too_short(const char *name, uint64_t size)
{
	if (size >= STRATA_PACK_FOOTER + STRATA_BLOB_OVERHEAD)
		return 0;
	return strata_error_set(STRATA_ECORRUPT,
				"pack '%s' is too short (%" PRIu64 " bytes)",
				name, size);
}

int strata_pack_read_table(strata_backend *be, strata_codec *c,
			   const char *name, uint64_t size,
			   strata_pack_entry **out, size_t *count)
{
	uint8_t foot[STRATA_PACK_FOOTER];
	uint8_t *sealed = NULL;
	uint32_t tlen;
	int rc;
	if ((rc = too_short(name, size)) ||
	    (rc = be->ops->get_range(be, name, size - STRATA_PACK_FOOTER,
				     STRATA_PACK_FOOTER, foot)) ||
	    (rc = table_len(name, size, foot, &tlen)))
		return rc;
	if (!(sealed = strata_malloc(tlen)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	uint64_t toff = size - STRATA_PACK_FOOTER - tlen;
	if (!(rc = be->ops->get_range(be, name, toff, tlen, sealed)))
		rc = open_table(c, name, sealed, tlen, toff, out, count);
	strata_free(sealed);
	return rc;
}

int strata_pack_table_of(strata_codec *c, const char *name, const uint8_t *p,
			 size_t len, strata_pack_entry **out, size_t *count)
{
	uint32_t tlen;
	int rc;
	if ((rc = too_short(name, len)) ||
	    (rc = table_len(name, len, p + len - STRATA_PACK_FOOTER, &tlen)))
		return rc;
	uint64_t toff = len - STRATA_PACK_FOOTER - tlen;
	return open_table(c, name, p + toff, tlen, toff, out, count);
}
