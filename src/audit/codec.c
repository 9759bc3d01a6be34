/*
 * codec.c - the canonical record line of the audit log: one JSON object
 * per line with a fixed key order, written by the encoder and read back by
 * a strict parser that treats every byte as hostile (files may have been
 * edited). Any byte survives: invalid UTF-8 is escaped as \udcXX
 * (surrogateescape) and decoded back to the raw byte.
 */
#include "audit/audit_int.h"

static int put_str(strata_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (!s)
		return strata_buf_put(b, "null", 4);
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	int rc = strata_buf_reserve(b, n + 2);
	if (rc)
		return rc;
	b->ptr[b->len++] = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t l = 1;
		char e[7] = {'\\', 'u', '0', '0', 0, 0, 0};
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			/* the common case: copy a run of plain ASCII */
			size_t j = i;
			while (j < n && p[j] >= 0x20 && p[j] < 0x7f &&
			       p[j] != '"' && p[j] != '\\')
				j++;
			rc = strata_buf_put(b, p + i, j - i);
			i = j;
		} else if (c == '"' || c == '\\') {
			e[1] = (char)c;
			rc = strata_buf_put(b, e, 2);
			i++;
		} else if (c == '\n' || c == '\t') {
			e[1] = c == '\n' ? 'n' : 't';
			rc = strata_buf_put(b, e, 2);
			i++;
		} else if (c < 0x80) { /* other controls and DEL */
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			rc = strata_buf_put(b, e, 6);
			i++;
		} else if ((l = strata_utf8_len(p + i, n - i)) != 0) {
			rc = strata_buf_put(b, p + i, l);
			i += l;
		} else { /* a byte that is not UTF-8: \udcXX */
			e[2] = 'd';
			e[3] = 'c';
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			rc = strata_buf_put(b, e, 6);
			i++;
		}
		if (rc)
			return rc;
	}
	return strata_buf_put_u8(b, '"');
}

static int put_key_str(strata_buf *b, const char *key, const char *s)
{
	int rc = strata_buf_puts(b, key);
	return rc ? rc : put_str(b, s);
}

int audit__encode_body(strata_buf *b, const strata_audit_rec *r,
		       int64_t time_ns)
{
	int rc = strata_buf_printf(b, "\"time\":%" PRId64, time_ns);
	rc = rc ? rc : put_key_str(b, ",\"actor\":", r->actor);
	rc = rc ? rc : put_key_str(b, ",\"role\":", r->role);
	rc = rc ? rc : put_key_str(b, ",\"action\":", r->action);
	rc = rc ? rc : put_key_str(b, ",\"object\":", r->object);
	rc = rc ? rc : strata_buf_puts(b, ",\"subjects\":[");
	for (size_t i = 0; !rc && i < r->nsubjects; i++) {
		if (i)
			rc = strata_buf_put_u8(b, ',');
		rc = rc ? rc : put_str(b, r->subjects[i]);
	}
	rc = rc ? rc : strata_buf_put_u8(b, ']');
	rc = rc ? rc : put_key_str(b, ",\"purpose\":", r->purpose);
	rc = rc ? rc : put_key_str(b, ",\"decision\":", r->decision);
	rc = rc ? rc : put_key_str(b, ",\"reasons\":", r->reasons);
	rc = rc ? rc : put_key_str(b, ",\"outcome\":", r->outcome);
	rc = rc ? rc : strata_buf_printf(b, ",\"bytes\":%" PRIu64, r->bytes);
	rc = rc ? rc : put_key_str(b, ",\"detail\":", r->detail);
	return rc;
}

int audit__encode_line(strata_buf *out, strata_sha256_ctx *sha, uint64_t seq,
		       const char *body, size_t bodylen, const uint8_t prev[32],
		       uint8_t hash[32])
{
	char hex[65];
	size_t start = out->len;
	strata_hex(hex, prev, 32);
	int rc = strata_buf_printf(out, "{\"seq\":%" PRIu64 ",", seq);
	rc = rc ? rc : strata_buf_put(out, body, bodylen);
	rc = rc ? rc : strata_buf_printf(out, ",\"prev\":\"%s\"", hex);
	if (rc)
		return rc;
	strata_sha256_update(sha, out->ptr + start, out->len - start);
	strata_sha256_final(sha, hash);
	strata_hex(hex, hash, 32);
	return strata_buf_printf(out, ",\"hash\":\"%s\"}\n", hex);
}

/* ---- parser ---- */

typedef struct cur {
	const char *p;
	size_t n, i;
	const char *why;
} cur;

static int fail(cur *c, const char *why)
{
	if (!c->why)
		c->why = why;
	return STRATA_ECORRUPT;
}

static int lit(cur *c, const char *s)
{
	size_t k = strlen(s);
	if (c->n - c->i < k || memcmp(c->p + c->i, s, k) != 0)
		return fail(c, "unexpected text");
	c->i += k;
	return 0;
}

static int get_u64(cur *c, uint64_t *out)
{
	uint64_t v = 0;
	size_t start = c->i;
	while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
		if (__builtin_mul_overflow(v, 10u, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(c->p[c->i] - '0'), &v))
			return fail(c, "number too large");
		c->i++;
	}
	if (c->i == start)
		return fail(c, "number expected");
	if (c->i - start > 1 && c->p[start] == '0')
		return fail(c, "number with a leading zero");
	*out = v;
	return 0;
}

static int get_i64(cur *c, int64_t *out)
{
	bool neg = c->i < c->n && c->p[c->i] == '-';
	uint64_t v;
	c->i += neg;
	if (get_u64(c, &v))
		return STRATA_ECORRUPT;
	if (v > (uint64_t)INT64_MAX + neg)
		return fail(c, "number too large");
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int get_u4(cur *c, uint32_t *out)
{
	uint32_t v = 0;
	if (c->n - c->i < 4)
		return fail(c, "short \\u escape");
	for (int k = 0; k < 4; k++) {
		int h = hexval(c->p[c->i + (size_t)k]);
		if (h < 0)
			return fail(c, "bad \\u escape");
		v = v << 4 | (uint32_t)h;
	}
	c->i += 4;
	*out = v;
	return 0;
}

static int put_utf8(strata_buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t k;
	if (cp < 0x80)
		u[0] = (uint8_t)cp, k = 1;
	else if (cp < 0x800)
		u[0] = (uint8_t)(0xc0 | cp >> 6),
		u[1] = (uint8_t)(0x80 | (cp & 0x3f)), k = 2;
	else if (cp < 0x10000)
		u[0] = (uint8_t)(0xe0 | cp >> 12),
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
		u[2] = (uint8_t)(0x80 | (cp & 0x3f)), k = 3;
	else
		u[0] = (uint8_t)(0xf0 | cp >> 18),
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f)),
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
		u[3] = (uint8_t)(0x80 | (cp & 0x3f)), k = 4;
	return strata_buf_put(b, u, k);
}

/* One \uXXXX escape (the "\u" already consumed), possibly a pair. */
static int get_escape_u(cur *c, strata_buf *b)
{
	uint32_t u, lo;
	if (get_u4(c, &u))
		return STRATA_ECORRUPT;
	if (u == 0)
		return fail(c, "NUL in a string");
	if (u >= 0xdc80 && u <= 0xdcff) /* surrogateescape: a raw byte */
		return strata_buf_put_u8(b, (uint8_t)(u & 0xff));
	if (u >= 0xdc00 && u <= 0xdfff)
		return fail(c, "lone low surrogate");
	if (u >= 0xd800 && u <= 0xdbff) {
		if (lit(c, "\\u") || get_u4(c, &lo) || lo < 0xdc00 ||
		    lo > 0xdfff)
			return fail(c, "lone high surrogate");
		u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
	}
	return put_utf8(b, u);
}

/* A string or null into l->str; *off = its offset, SIZE_MAX for null. */
static int get_str(cur *c, strata_buf *b, size_t *off)
{
	if (c->n - c->i >= 4 && memcmp(c->p + c->i, "null", 4) == 0) {
		c->i += 4;
		*off = SIZE_MAX;
		return 0;
	}
	if (lit(c, "\""))
		return fail(c, "string expected");
	*off = b->len;
	for (;;) {
		size_t j = c->i;
		while (j < c->n && c->p[j] != '"' && c->p[j] != '\\' &&
		       (uint8_t)c->p[j] >= 0x20)
			j++;
		if (strata_buf_put(b, c->p + c->i, j - c->i))
			return fail(c, "string too long");
		c->i = j;
		if (j == c->n)
			return fail(c, "unterminated string");
		char ch = c->p[c->i++];
		if (ch == '"')
			break;
		if ((uint8_t)ch < 0x20)
			return fail(c, "control byte in a string");
		if (c->i == c->n)
			return fail(c, "unterminated escape");
		char e = c->p[c->i++];
		static const char from[] = "\"\\/bfnrt",
				  to[] = "\"\\/\b\f\n\r\t";
		const char *k = e ? strchr(from, e) : NULL;
		int rc;
		if (k)
			rc = strata_buf_put_u8(b, (uint8_t)to[k - from]);
		else if (e == 'u')
			rc = get_escape_u(c, b);
		else
			return fail(c, "bad escape");
		if (rc)
			return fail(c, "bad string");
	}
	if (strata_buf_put_u8(b, 0))
		return fail(c, "string too long");
	return 0;
}

/* Lowercase hex only: the canonical form has no other spelling. */
static int lowhex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static int get_rawhash(cur *c, uint8_t out[32])
{
	if (c->n - c->i < 64)
		return fail(c, "hash expected");
	for (size_t k = 0; k < 32; k++) {
		int hi = lowhex(c->p[c->i + 2 * k]);
		int lo = lowhex(c->p[c->i + 2 * k + 1]);
		if (hi < 0 || lo < 0)
			return fail(c, "bad hash");
		out[k] = (uint8_t)(hi << 4 | lo);
	}
	c->i += 64;
	return 0;
}

static int get_hash(cur *c, uint8_t out[32])
{
	if (lit(c, "\"") || get_rawhash(c, out) || lit(c, "\""))
		return fail(c, "hash expected");
	return 0;
}

static int get_subjects(cur *c, audit__line *l, size_t *ns)
{
	size_t n = 0;
	if (lit(c, "["))
		return STRATA_ECORRUPT;
	if (c->i < c->n && c->p[c->i] == ']') {
		c->i++;
		*ns = 0;
		return 0;
	}
	for (;;) {
		size_t off;
		if (get_str(c, &l->str, &off))
			return STRATA_ECORRUPT;
		if (off == SIZE_MAX)
			return fail(c, "null subject");
		if (strata_grow(&l->soff, &l->soff_cap, n, sizeof(size_t)))
			return fail(c, "out of memory");
		l->soff[n++] = off;
		if (c->i < c->n && c->p[c->i] == ']')
			break;
		if (lit(c, ","))
			return STRATA_ECORRUPT;
	}
	c->i++;
	*ns = n;
	return 0;
}

enum {
	F_ACTOR,
	F_ROLE,
	F_ACTION,
	F_OBJECT,
	F_PURPOSE,
	F_DECISION,
	F_REASONS,
	F_OUTCOME,
	F_DETAIL,
	F_COUNT
};

static int parse_fields(cur *c, audit__line *l, size_t off[F_COUNT], size_t *ns)
{
	strata_audit_rec *r = &l->rec;
	if (lit(c, "{\"seq\":") || get_u64(c, &r->seq) ||
	    lit(c, ",\"time\":") || get_i64(c, &r->time_ns) ||
	    lit(c, ",\"actor\":") || get_str(c, &l->str, &off[F_ACTOR]) ||
	    lit(c, ",\"role\":") || get_str(c, &l->str, &off[F_ROLE]) ||
	    lit(c, ",\"action\":") || get_str(c, &l->str, &off[F_ACTION]) ||
	    lit(c, ",\"object\":") || get_str(c, &l->str, &off[F_OBJECT]) ||
	    lit(c, ",\"subjects\":") || get_subjects(c, l, ns) ||
	    lit(c, ",\"purpose\":") || get_str(c, &l->str, &off[F_PURPOSE]) ||
	    lit(c, ",\"decision\":") || get_str(c, &l->str, &off[F_DECISION]) ||
	    lit(c, ",\"reasons\":") || get_str(c, &l->str, &off[F_REASONS]) ||
	    lit(c, ",\"outcome\":") || get_str(c, &l->str, &off[F_OUTCOME]) ||
	    lit(c, ",\"bytes\":") || get_u64(c, &r->bytes) ||
	    lit(c, ",\"detail\":") || get_str(c, &l->str, &off[F_DETAIL]) ||
	    lit(c, ",\"prev\":") || get_hash(c, l->prev))
		return STRATA_ECORRUPT;
	l->hashed = c->i;
	if (lit(c, ",\"hash\":") || get_hash(c, l->hash) || lit(c, "}"))
		return STRATA_ECORRUPT;
	if (c->i != c->n)
		return fail(c, "text after the record");
	return 0;
}

int audit__parse(audit__line *l, const char *p, size_t n, const char **why)
{
	cur c = {p, n, 0, NULL};
	size_t off[F_COUNT], ns = 0;
	strata_buf_reset(&l->str);
	l->str.limit = STRATA_AUDIT_MAX_LINE;
	memset(&l->rec, 0, sizeof(l->rec));
	if (parse_fields(&c, l, off, &ns)) {
		*why = c.why ? c.why : "malformed";
		return STRATA_ECORRUPT;
	}
	if (off[F_ACTOR] == SIZE_MAX || off[F_ACTION] == SIZE_MAX) {
		*why = "actor or action is null";
		return STRATA_ECORRUPT;
	}
	if (ns &&
	    strata_grow(&l->subj, &l->subj_cap, ns - 1, sizeof(const char *))) {
		*why = "out of memory";
		return STRATA_ENOMEM;
	}
	/* offsets become pointers only now: str may have moved while growing */
	const char *base = (const char *)l->str.ptr;
	const char *s[F_COUNT];
	for (int k = 0; k < F_COUNT; k++)
		s[k] = off[k] == SIZE_MAX ? NULL : base + off[k];
	for (size_t k = 0; k < ns; k++)
		l->subj[k] = base + l->soff[k];
	strata_audit_rec *r = &l->rec;
	r->actor = s[F_ACTOR];
	r->role = s[F_ROLE];
	r->action = s[F_ACTION];
	r->object = s[F_OBJECT];
	r->subjects = ns ? l->subj : NULL;
	r->nsubjects = ns;
	r->purpose = s[F_PURPOSE];
	r->decision = s[F_DECISION];
	r->reasons = s[F_REASONS];
	r->outcome = s[F_OUTCOME];
	r->detail = s[F_DETAIL];
	strata_hex(l->hashhex, l->hash, 32);
	r->hash = l->hashhex;
	return 0;
}

void audit__line_release(audit__line *l)
{
	strata_buf_release(&l->str);
	strata_free(l->soff);
	strata_free(l->subj);
	memset(l, 0, sizeof(*l));
}

/* ---- checkpoints ---- */

int audit__ck_parse(const char *p, size_t n, uint64_t *seq, char hexhash[65],
		    uint8_t sig[64])
{
	cur c = {p, n, 0, NULL};
	uint8_t h[32];
	if (get_u64(&c, seq) || *seq == 0 || lit(&c, " ") ||
	    get_rawhash(&c, h) || lit(&c, " "))
		return STRATA_ECORRUPT;
	strata_hex(hexhash, h, 32);
	size_t siglen = 0;
	if (c.n - c.i != AUDIT_SIG_B64 ||
	    sodium_base642bin(sig, 64, c.p + c.i, AUDIT_SIG_B64, NULL, &siglen,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    siglen != 64)
		return STRATA_ECORRUPT;
	return 0;
}
