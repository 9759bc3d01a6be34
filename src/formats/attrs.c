/*
 * attrs.c - the attribute list every format reader fills: typed values
 * under namespaced keys, copied in, UTF-8 checked, last write wins.
 */
#include "common/common.h"
#include "strata/formats.h"

typedef struct entry {
	strata_attr a;
	char *key, *s; /* owned copies behind a.key, a.s */
	uint32_t hash; /* of key: most lookups then skip strcmp */
} entry;

static uint32_t key_hash(const char *k)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 16777619u;
	return h;
}

struct strata_attrs {
	entry *v;
	size_t n, cap;
	/* open addressing over v by key hash: index + 1, 0 empty; a DICOM
	 * header sets a hundred keys, too many for a linear search each */
	uint32_t *ix;
	size_t ixcap; /* a power of two, at least twice n */
};

int strata_attrs_new(strata_attrs **out)
{
	strata_attrs *a = strata_calloc(1, sizeof(*a));
	if (!a)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	*out = a;
	return 0;
}

void strata_attrs_clear(strata_attrs *a)
{
	for (size_t i = 0; i < a->n; i++) {
		strata_free(a->v[i].key);
		strata_free(a->v[i].s);
	}
	a->n = 0;
	if (a->ix)
		memset(a->ix, 0, a->ixcap * sizeof(*a->ix));
}

void strata_attrs_free(strata_attrs *a)
{
	if (!a)
		return;
	strata_attrs_clear(a);
	strata_free(a->v);
	strata_free(a->ix);
	strata_free(a);
}

static bool valid_utf8(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t len = c < 0x80		  ? 1
			     : (c & 0xe0) == 0xc0 ? 2
			     : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4
						  : 0;
		if (!len || len > n - i || c == 0)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		if ((len == 2 && c < 0xc2) ||
		    (len == 3 && c == 0xe0 && p[i + 1] < 0xa0) ||
		    (len == 4 && (c > 0xf4 || (c == 0xf0 && p[i + 1] < 0x90))))
			return false;
		i += len;
	}
	return true;
}

/* The index slot of hash h: where key is, or the empty one it goes to. */
static uint32_t *probe(const strata_attrs *a, uint32_t h, const char *key)
{
	size_t mask = a->ixcap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t *at = &a->ix[i];
		if (!*at)
			return at;
		const entry *e = &a->v[*at - 1];
		if (e->hash == h && !strcmp(e->key, key))
			return at;
	}
}

/* Room for one more entry in the index, rebuilt when it grows. */
static int index_room(strata_attrs *a)
{
	if (2 * (a->n + 1) <= a->ixcap)
		return 0;
	size_t cap = a->ixcap ? 2 * a->ixcap : 64;
	uint32_t *ix = strata_calloc(cap, sizeof(*ix));
	if (!ix)
		return STRATA_ENOMEM;
	strata_free(a->ix);
	a->ix = ix;
	a->ixcap = cap;
	for (size_t i = 0; i < a->n; i++)
		*probe(a, a->v[i].hash, a->v[i].key) = (uint32_t)i + 1;
	return 0;
}

/* The entry for `key`, added (empty) if absent. */
static entry *slot(strata_attrs *a, const char *key)
{
	uint32_t h = key_hash(key);
	if (a->n >= UINT32_MAX - 1 || index_room(a))
		return NULL;
	uint32_t *at = probe(a, h, key);
	if (*at) {
		entry *e = &a->v[*at - 1];
		strata_free(e->s);
		e->s = NULL;
		e->a.s = NULL;
		return e;
	}
	if (strata_grow(&a->v, &a->cap, a->n, sizeof(*a->v)))
		return NULL;
	entry *e = &a->v[a->n];
	memset(e, 0, sizeof(*e));
	if (!(e->key = strata_strdup(key)))
		return NULL;
	e->a.key = e->key;
	e->hash = h;
	*at = (uint32_t)++a->n;
	return e;
}

int strata_attrs_set_str(strata_attrs *a, const char *key, const char *val,
			 size_t len)
{
	if (!valid_utf8((const uint8_t *)val, len))
		return strata_error_set(
		    STRATA_EINVAL, "attribute '%s' is not valid UTF-8", key);
	char *s = strata_strndup(val, len);
	entry *e = s ? slot(a, key) : NULL;
	if (!e) {
		strata_free(s);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	e->s = s;
	e->a.type = STRATA_ATTR_STR;
	e->a.s = s;
	return 0;
}

int strata_attrs_set_int(strata_attrs *a, const char *key, int64_t v)
{
	entry *e = slot(a, key);
	if (!e)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	e->a.type = STRATA_ATTR_INT;
	e->a.i = v;
	return 0;
}

int strata_attrs_set_real(strata_attrs *a, const char *key, double v)
{
	entry *e = slot(a, key);
	if (!e)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	e->a.type = STRATA_ATTR_REAL;
	e->a.d = v;
	return 0;
}

size_t strata_attrs_count(const strata_attrs *a)
{
	return a->n;
}

const strata_attr *strata_attrs_at(const strata_attrs *a, size_t i)
{
	return i < a->n ? &a->v[i].a : NULL;
}

const strata_attr *strata_attrs_find(const strata_attrs *a, const char *key)
{
	if (!a->n)
		return NULL;
	uint32_t at = *probe(a, key_hash(key), key);
	return at ? &a->v[at - 1].a : NULL;
}
