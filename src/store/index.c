/*
 * index.c - the chunk index: an open-addressing hash table from blob id to
 * (pack, offset, length), 48 bytes per blob, and the index objects that
 * persist it (one per ingest, listing the packs that ingest wrote).
 */
#include "store/store.h"

#define INDEX_MAGIC "STRIDX01"
#define EMPTY UINT32_MAX

int strata_index_init(strata_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->mask = 1023;
	ix->slots = strata_malloc((ix->mask + 1) * sizeof(*ix->slots));
	if (!ix->slots)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (size_t i = 0; i <= ix->mask; i++)
		ix->slots[i].pack = EMPTY;
	pthread_mutex_init(&ix->lock, NULL);
	return 0;
}

void strata_index_release(strata_index *ix)
{
	strata_free(ix->slots);
	strata_free(ix->packs);
	pthread_mutex_destroy(&ix->lock);
	memset(ix, 0, sizeof(*ix));
}

int strata_index_pack(strata_index *ix, const uint8_t pack_id[32],
		      uint32_t *out)
{
	/* No search: a pack is listed by exactly one index object, and a
	 * duplicate number for the same pack would be harmless anyway. */
	int rc = strata_grow(&ix->packs, &ix->packcap, ix->npacks, 32);
	if (rc)
		return rc;
	memcpy(ix->packs[ix->npacks], pack_id, 32);
	*out = (uint32_t)ix->npacks++;
	return 0;
}

static size_t slot_of(const strata_index *ix, const uint8_t id[32])
{
	uint64_t h;
	memcpy(&h, id, 8); /* ids are keyed hashes: uniformly distributed */
	size_t i = (size_t)h & ix->mask;
	while (ix->slots[i].pack != EMPTY && memcmp(ix->slots[i].id, id, 32))
		i = (i + 1) & ix->mask;
	return i;
}

static int grow(strata_index *ix)
{
	size_t n = (ix->mask + 1) * 2;
	strata_index_ent *old = ix->slots;
	size_t oldn = ix->mask + 1;
	strata_index_ent *s = strata_malloc(n * sizeof(*s));
	if (!s)
		return strata_error_set(STRATA_ENOMEM,
					"out of memory for the index");
	for (size_t i = 0; i < n; i++)
		s[i].pack = EMPTY;
	ix->slots = s;
	ix->mask = n - 1;
	for (size_t i = 0; i < oldn; i++)
		if (old[i].pack != EMPTY)
			ix->slots[slot_of(ix, old[i].id)] = old[i];
	strata_free(old);
	return 0;
}

int strata_index_add(strata_index *ix, const strata_pack_entry *e,
		     uint32_t pack)
{
	int rc;
	if ((ix->count + 1) * 4 > (ix->mask + 1) * 3 && (rc = grow(ix)))
		return rc;
	size_t i = slot_of(ix, e->id);
	if (ix->slots[i].pack != EMPTY)
		return 0; /* first location wins; duplicates are harmless */
	strata_index_ent *s = &ix->slots[i];
	memcpy(s->id, e->id, 32);
	s->pack = pack;
	s->offset = e->offset;
	s->length = e->length;
	s->raw_len = e->raw_len & 0x7fffffff;
	s->type = e->type ? 1u : 0u;
	ix->count++;
	return 0;
}

const strata_index_ent *strata_index_find(const strata_index *ix,
					  const uint8_t id[32])
{
	size_t i = slot_of(ix, id);
	return ix->slots[i].pack == EMPTY ? NULL : &ix->slots[i];
}

static int by_pack(const void *a, const void *b)
{
	const strata_index_ent *x = *(const strata_index_ent *const *)a;
	const strata_index_ent *y = *(const strata_index_ent *const *)b;
	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int strata_index_encode(const strata_index *ix, uint32_t first_pack,
			strata_buf *out)
{
	int rc = 0;
	size_t n = 0;
	const strata_index_ent **v =
	    strata_malloc((ix->count ? ix->count : 1) * sizeof(*v));
	if (!v)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (size_t i = 0; i <= ix->mask; i++)
		if (ix->slots[i].pack >= first_pack &&
		    ix->slots[i].pack < ix->npacks) /* not empty, not pending */
			v[n++] = &ix->slots[i];
	if (n > 1)
		qsort(v, n, sizeof(*v), by_pack);
	if ((rc = strata_buf_put(out, INDEX_MAGIC, 8)) ||
	    (rc = strata_buf_put_u32(out, (uint32_t)(ix->npacks - first_pack))))
		goto out;
	size_t k = 0;
	for (uint32_t p = first_pack; p < ix->npacks; p++) {
		size_t start = k;
		while (k < n && v[k]->pack == p)
			k++;
		if ((rc = strata_buf_put(out, ix->packs[p], 32)) ||
		    (rc = strata_buf_put_u32(out, (uint32_t)(k - start))))
			goto out;
		for (size_t i = start; i < k; i++) {
			const strata_index_ent *s = v[i];
			if ((rc = strata_buf_put(out, s->id, 32)) ||
			    (rc = strata_buf_put_u8(out, (uint8_t)s->type)) ||
			    (rc = strata_buf_put_u32(out, s->offset)) ||
			    (rc = strata_buf_put_u32(out, s->length)) ||
			    (rc = strata_buf_put_u32(out, s->raw_len)))
				goto out;
		}
	}
out:
	strata_free(v);
	return rc;
}

int strata_index_decode(strata_index *ix, const uint8_t *p, size_t n)
{
	strata_rd r;
	int rc;
	strata_rd_init(&r, p, n);
	const uint8_t *m = strata_rd_bytes(&r, 8);
	if (!m || memcmp(m, INDEX_MAGIC, 8))
		return strata_error_set(STRATA_ECORRUPT,
					"index has a bad magic");
	uint32_t np = strata_rd_u32(&r);
	for (uint32_t k = 0; k < np && !r.err; k++) {
		const uint8_t *pid = strata_rd_bytes(&r, 32);
		uint32_t cnt = strata_rd_u32(&r), pack = 0;
		if (r.err ||
		    (size_t)cnt * STRATA_PACK_ENTRY_SIZE > strata_rd_left(&r))
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "index is truncated (pack %u of %u)", k, np);
		if ((rc = strata_index_pack(ix, pid, &pack)))
			return rc;
		for (uint32_t i = 0; i < cnt; i++) {
			strata_pack_entry e;
			memcpy(e.id, strata_rd_bytes(&r, 32), 32);
			e.type = strata_rd_u8(&r);
			e.offset = strata_rd_u32(&r);
			e.length = strata_rd_u32(&r);
			e.raw_len = strata_rd_u32(&r);
			if (e.type > 1 || e.raw_len > STRATA_BLOB_MAX ||
			    e.length < STRATA_BLOB_OVERHEAD)
				return strata_error_set(
				    STRATA_ECORRUPT,
				    "index entry out of range");
			if ((rc = strata_index_add(ix, &e, pack)))
				return rc;
		}
	}
	if (r.err || strata_rd_left(&r))
		return strata_error_set(STRATA_ECORRUPT,
					"index is truncated or "
					"has trailing bytes");
	return 0;
}
