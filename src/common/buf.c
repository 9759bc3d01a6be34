/*
 * buf.c - the capped growable buffer and the bounds-checked reader that
 * every parser of stored or user-supplied bytes goes through.
 */
#include "common/common.h"

int strata_buf_reserve(strata_buf *b, size_t extra)
{
	size_t need, limit = b->limit ? b->limit : STRATA_BUF_DEFAULT_LIMIT;
	/* one byte more than asked is kept for strata_buf_cstr's NUL */
	if (strata_size_add(&need, b->len, extra) || need > limit ||
	    strata_size_add(&need, need, 1))
		return strata_error_set(
		    STRATA_EINVAL, "buffer limit of %zu bytes exceeded", limit);
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = strata_realloc(b->ptr, cap);
	if (!p)
		return strata_error_set(STRATA_ENOMEM,
					"out of memory (%zu bytes)", cap);
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int strata_buf_put(strata_buf *b, const void *p, size_t n)
{
	int rc = strata_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	return 0;
}

int strata_buf_puts(strata_buf *b, const char *s)
{
	return strata_buf_put(b, s, strlen(s));
}

int strata_buf_printf(strata_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return strata_error_set(STRATA_EINVAL, "bad format");
	int rc = strata_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int strata_buf_put_u8(strata_buf *b, uint8_t v)
{
	return strata_buf_put(b, &v, 1);
}

int strata_buf_put_u16(strata_buf *b, uint16_t v)
{
	uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	return strata_buf_put(b, p, 2);
}

int strata_buf_put_u32(strata_buf *b, uint32_t v)
{
	uint8_t p[4];
	strata_le32(p, v);
	return strata_buf_put(b, p, 4);
}

int strata_buf_put_u64(strata_buf *b, uint64_t v)
{
	uint8_t p[8];
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return strata_buf_put(b, p, 8);
}

int strata_buf_cstr(strata_buf *b)
{
	int rc = strata_buf_reserve(b, 0);
	if (rc)
		return rc;
	b->ptr[b->len] = 0;
	return 0;
}

void strata_buf_reset(strata_buf *b)
{
	b->len = 0;
}

void strata_buf_release(strata_buf *b)
{
	strata_free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

void strata_rd_init(strata_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->err = 0;
}

const uint8_t *strata_rd_bytes(strata_rd *r, size_t n)
{
	if (r->err || n > r->len - r->pos) {
		r->err = 1;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

uint8_t strata_rd_u8(strata_rd *r)
{
	const uint8_t *p = strata_rd_bytes(r, 1);
	return p ? p[0] : 0;
}

uint16_t strata_rd_u16(strata_rd *r)
{
	const uint8_t *p = strata_rd_bytes(r, 2);
	return p ? (uint16_t)(p[0] | (unsigned)p[1] << 8) : 0;
}

uint32_t strata_rd_u32(strata_rd *r)
{
	const uint8_t *p = strata_rd_bytes(r, 4);
	return p ? strata_get_le32(p) : 0;
}

uint64_t strata_rd_u64(strata_rd *r)
{
	const uint8_t *p = strata_rd_bytes(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 7; i >= 0; i--)
			v = v << 8 | p[i];
	return v;
}
