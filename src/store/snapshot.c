/*
 * snapshot.c - snapshot objects: a tagged list of fields (u16 tag, u32
 * length, bytes), so later versions can add fields that older readers
 * skip. A snapshot is written last in an ingest, after everything it
 * references is durable; its presence is what makes a version exist.
 */
#include "store/store.h"

#define SNAP_MAGIC "STRSNP01"
#define MAX_FIELD (1u << 20)

#define F_END 0xffff /* last field, empty: a cut snapshot is detected */

enum {
	F_DATASET = 1,
	F_VERSION,
	F_LAYER,
	F_CLASS,
	F_MESSAGE,
	F_AUTHOR,
	F_TIME,
	F_ROOT,
	F_PARENT,
	F_FILES,
	F_DIRS,
	F_BYTES,
	F_ZONE,
	F_SOURCES, /* n * 32 bytes */
	F_RECIPE,
	F_META /* n * 32 bytes: blobs of the files' extracted metadata */
};

static int put_field(strata_buf *b, uint16_t tag, const void *p, size_t n)
{
	int rc;
	if ((rc = strata_buf_put_u16(b, tag)) ||
	    (rc = strata_buf_put_u32(b, (uint32_t)n)) ||
	    (rc = strata_buf_put(b, p, n)))
		return rc;
	return 0;
}

static int put_str(strata_buf *b, uint16_t tag, const char *s)
{
	return s ? put_field(b, tag, s, strlen(s)) : 0;
}

static int put_u64(strata_buf *b, uint16_t tag, uint64_t v)
{
	uint8_t p[8];
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return put_field(b, tag, p, 8);
}

int strata_snapshot_encode(const strata_snapshot *s, strata_buf *out)
{
	int rc;
	if ((rc = strata_buf_put(out, SNAP_MAGIC, 8)) ||
	    (rc = put_str(out, F_DATASET, s->dataset)) ||
	    (rc = put_u64(out, F_VERSION, s->version)) ||
	    (rc = put_str(out, F_LAYER, s->layer)) ||
	    (rc = put_str(out, F_CLASS, s->klass)) ||
	    (rc = put_str(out, F_MESSAGE, s->message)) ||
	    (rc = put_str(out, F_AUTHOR, s->author)) ||
	    (rc = put_u64(out, F_TIME, (uint64_t)s->time_ns)) ||
	    (rc = put_field(out, F_ROOT, s->root, 32)) ||
	    (s->has_parent && (rc = put_field(out, F_PARENT, s->parent, 32))) ||
	    (rc = put_u64(out, F_FILES, s->files)) ||
	    (rc = put_u64(out, F_DIRS, s->dirs)) ||
	    (rc = put_u64(out, F_BYTES, s->bytes)) ||
	    (rc = put_str(out, F_ZONE, s->zone)) ||
	    (s->nsources && (rc = put_field(out, F_SOURCES, s->sources,
					    (size_t)s->nsources * 32))) ||
	    (rc = put_str(out, F_RECIPE, s->recipe)) ||
	    (s->nmeta &&
	     (rc = put_field(out, F_META, s->meta, (size_t)s->nmeta * 32))) ||
	    (rc = put_field(out, F_END, "", 0)))
		return rc;
	return 0;
}

static int get_str(char **dst, const uint8_t *p, uint32_t n)
{
	if (memchr(p, 0, n))
		return strata_error_set(STRATA_ECORRUPT,
					"snapshot text field holds a NUL");
	strata_free(*dst);
	if (!(*dst = strata_strndup((const char *)p, n)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	return 0;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int field(strata_snapshot *s, uint16_t tag, const uint8_t *p, uint32_t n,
		 unsigned *seen)
{
	bool is64 = tag == F_VERSION || tag == F_TIME || tag == F_FILES ||
		    tag == F_DIRS || tag == F_BYTES;
	if ((is64 && n != 8) || ((tag == F_ROOT || tag == F_PARENT) && n != 32))
		return strata_error_set(
		    STRATA_ECORRUPT, "snapshot field %u has length %u", tag, n);
	if (tag < 32)
		*seen |= 1u << tag;
	switch (tag) {
	case F_DATASET:
		return get_str(&s->dataset, p, n);
	case F_LAYER:
		return get_str(&s->layer, p, n);
	case F_CLASS:
		return get_str(&s->klass, p, n);
	case F_MESSAGE:
		return get_str(&s->message, p, n);
	case F_AUTHOR:
		return get_str(&s->author, p, n);
	case F_ZONE:
		return get_str(&s->zone, p, n);
	case F_RECIPE:
		return get_str(&s->recipe, p, n);
	case F_META:
		if (n % 32)
			return strata_error_set(STRATA_ECORRUPT,
						"snapshot metadata field has "
						"length %u",
						n);
		strata_free(s->meta);
		s->meta = NULL;
		s->nmeta = n / 32;
		if (n && !(s->meta = strata_malloc(n)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		if (n)
			memcpy(s->meta, p, n);
		return 0;
	case F_SOURCES:
		if (n % 32)
			return strata_error_set(STRATA_ECORRUPT,
						"snapshot sources field has "
						"length %u",
						n);
		strata_free(s->sources);
		s->sources = NULL;
		s->nsources = n / 32;
		if (n && !(s->sources = strata_malloc(n)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		if (n)
			memcpy(s->sources, p, n);
		return 0;
	case F_VERSION:
		if (le64(p) == 0 || le64(p) > UINT32_MAX)
			return strata_error_set(
			    STRATA_ECORRUPT, "snapshot version out of range");
		s->version = (uint32_t)le64(p);
		return 0;
	case F_TIME:
		s->time_ns = (int64_t)le64(p);
		return 0;
	case F_FILES:
		s->files = le64(p);
		return 0;
	case F_DIRS:
		s->dirs = le64(p);
		return 0;
	case F_BYTES:
		s->bytes = le64(p);
		return 0;
	case F_ROOT:
		memcpy(s->root, p, 32);
		return 0;
	case F_PARENT:
		memcpy(s->parent, p, 32);
		s->has_parent = true;
		return 0;
	default:
		return 0; /* a field from a newer writer: skip */
	}
}

int strata_snapshot_decode(strata_snapshot *s, const uint8_t *p, size_t n)
{
	strata_rd r;
	unsigned seen = 0;
	int rc = 0;
	memset(s, 0, sizeof(*s));
	strata_rd_init(&r, p, n);
	const uint8_t *m = strata_rd_bytes(&r, 8);
	if (!m || memcmp(m, SNAP_MAGIC, 8))
		return strata_error_set(STRATA_ECORRUPT,
					"snapshot has a bad magic");
	bool end = false;
	while (!rc && !end) {
		uint16_t tag = strata_rd_u16(&r);
		uint32_t len = strata_rd_u32(&r);
		const uint8_t *v =
		    len <= MAX_FIELD ? strata_rd_bytes(&r, len) : NULL;
		if (!v || r.err) {
			rc = strata_error_set(STRATA_ECORRUPT,
					      "snapshot is truncated");
			break;
		}
		if (tag == F_END)
			end = true;
		else
			rc = field(s, tag, v, len, &seen);
	}
	if (!rc && strata_rd_left(&r))
		rc = strata_error_set(STRATA_ECORRUPT,
				      "snapshot has bytes after its end");
	unsigned need = 1u << F_DATASET | 1u << F_VERSION | 1u << F_ROOT |
			1u << F_LAYER | 1u << F_CLASS;
	if (!rc && (seen & need) != need)
		rc = strata_error_set(STRATA_ECORRUPT,
				      "snapshot lacks a required field");
	if (rc)
		strata_snapshot_release(s);
	return rc;
}

void strata_snapshot_release(strata_snapshot *s)
{
	strata_free(s->dataset);
	strata_free(s->layer);
	strata_free(s->klass);
	strata_free(s->message);
	strata_free(s->author);
	strata_free(s->zone);
	strata_free(s->sources);
	strata_free(s->meta);
	strata_free(s->recipe);
	memset(s, 0, sizeof(*s));
}
