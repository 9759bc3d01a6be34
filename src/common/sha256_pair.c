/*
 * sha256_pair.c - two SHA-256 streams side by side: a file and each of
 * its chunks in one pass over the bytes (ingest), or many chunks two at
 * a time (restore).
 *
 * Ingest needs both a chunk's hash, for its id, and the file's, for the
 * catalog. One SHA-NI stream is bound by the latency of sha256rnds2
 * (about 1.5 GB/s here), not by its throughput, so two independent chains
 * cost little more than one when their rounds are interleaved. OpenSSL
 * offers no two-stream SHA-256; without SHA-NI (or off x86-64, or with
 * STRATA_NO_SHA_PAIR) each hash is OpenSSL's.
 */
#include "common/common.h"

typedef struct sha_state {
	uint32_t h[8];
	uint64_t len; /* bytes added */
	uint8_t buf[64];
	size_t nbuf;
} sha_state;

struct strata_sha256_pair {
	bool ni;		/* the interleaved SHA-NI path */
	sha_state whole;	/* ni */
	strata_sha256_ctx *ctx; /* !ni: the whole file's, OpenSSL's */
};

static const uint32_t IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static void state_init(sha_state *s)
{
	memcpy(s->h, IV, sizeof(IV));
	s->len = 0;
	s->nbuf = 0;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define NI __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static bool have_ni(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) ||
	    !(c & bit_SSSE3))
		return false;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}

/* One stream's registers: the state as SHA-NI wants it (ABEF, CDGH) and
 * the last four groups of the message schedule. */
typedef struct lane {
	__m128i abef, cdgh, save0, save1, m[4];
	const uint8_t *p;
} lane;

NI static inline __attribute__((always_inline)) void
lane_load(lane *l, const uint32_t h[8])
{
	__m128i dcba = _mm_loadu_si128((const __m128i *)h);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)(h + 4));
	__m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
	__m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);
	l->abef = _mm_alignr_epi8(cdab, efgh, 8);
	l->cdgh = _mm_blend_epi16(efgh, cdab, 0xf0);
}

NI static inline __attribute__((always_inline)) void lane_store(const lane *l,
								uint32_t h[8])
{
	__m128i feba = _mm_shuffle_epi32(l->abef, 0x1b);
	__m128i dchg = _mm_shuffle_epi32(l->cdgh, 0xb1);
	_mm_storeu_si128((__m128i *)h, _mm_blend_epi16(feba, dchg, 0xf0));
	_mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}

/* Rounds 4i..4i+3 of one block, and the schedule for what follows:
 * W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at a time,
 * sha256msg1 adding s0 and sha256msg2 adding s1. */
NI static inline __attribute__((always_inline)) void lane_rounds(lane *l, int i)
{
	const __m128i swap =
	    _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	if (i < 4) {
		l->m[i] = _mm_shuffle_epi8(
		    _mm_loadu_si128((const __m128i *)(l->p + 16 * i)), swap);
		if (!i) {
			l->save0 = l->abef;
			l->save1 = l->cdgh;
		}
	}
	__m128i msg = _mm_add_epi32(
	    l->m[i & 3], _mm_loadu_si128((const __m128i *)(K + 4 * i)));
	l->cdgh = _mm_sha256rnds2_epu32(l->cdgh, l->abef, msg);
	if (i >= 3 && i < 15) { /* group i+1 = W[4i+4 .. 4i+7] */
		__m128i w7 = _mm_alignr_epi8(l->m[i & 3], l->m[(i + 3) & 3], 4);
		__m128i x = _mm_add_epi32(l->m[(i + 1) & 3], w7);
		l->m[(i + 1) & 3] = _mm_sha256msg2_epu32(x, l->m[i & 3]);
	}
	msg = _mm_shuffle_epi32(msg, 0x0e);
	l->abef = _mm_sha256rnds2_epu32(l->abef, l->cdgh, msg);
	if (i >= 1 && i < 13)
		l->m[(i + 3) & 3] =
		    _mm_sha256msg1_epu32(l->m[(i + 3) & 3], l->m[i & 3]);
	if (i == 15) {
		l->abef = _mm_add_epi32(l->abef, l->save0);
		l->cdgh = _mm_add_epi32(l->cdgh, l->save1);
		l->p += 64;
	}
}

/* The 16 groups of rounds of a block, with constant i: unrolled, each
 * lane lives in registers. */
#define ALL16(R)                                                               \
	(R(0), R(1), R(2), R(3), R(4), R(5), R(6), R(7), R(8), R(9), R(10),    \
	 R(11), R(12), R(13), R(14), R(15))

/* n blocks at p into h. */
NI static void blocks1(uint32_t h[8], const uint8_t *p, size_t n)
{
	lane a;
	lane_load(&a, h);
	a.p = p;
	while (n--) {
#define R(i) lane_rounds(&a, i)
		ALL16(R);
#undef R
	}
	lane_store(&a, h);
}

/* n blocks at pa into ha and n at pb into hb, their rounds interleaved. */
NI static void blocks2(uint32_t ha[8], const uint8_t *pa, uint32_t hb[8],
		       const uint8_t *pb, size_t n)
{
	lane a, b;
	lane_load(&a, ha);
	lane_load(&b, hb);
	a.p = pa;
	b.p = pb;
	while (n--) {
#define R(i) (lane_rounds(&a, i), lane_rounds(&b, i))
		ALL16(R);
#undef R
	}
	lane_store(&a, ha);
	lane_store(&b, hb);
}
#else
static bool have_ni(void)
{
	return false;
}

static void blocks1(uint32_t h[8], const uint8_t *p, size_t n)
{
	(void)h, (void)p, (void)n;
	abort(); /* unreachable: have_ni() is false */
}

static void blocks2(uint32_t ha[8], const uint8_t *pa, uint32_t hb[8],
		    const uint8_t *pb, size_t n)
{
	(void)ha, (void)pa, (void)hb, (void)pb, (void)n;
	abort();
}
#endif

/* Whether to run the interleaved SHA-NI code: the CPU is asked once,
 * the environment every time (tests turn it off and on). */
static bool use_ni(void)
{
	static int cpu = -1; /* 0 or 1 once asked */
	int ni = __atomic_load_n(&cpu, __ATOMIC_RELAXED);
	if (ni < 0) {
		ni = have_ni();
		__atomic_store_n(&cpu, ni, __ATOMIC_RELAXED);
	}
	return ni && !getenv("STRATA_NO_SHA_PAIR");
}

/* Tops s's partial block up from p[0, n): the bytes it took. */
static size_t fill(sha_state *s, const uint8_t *p, size_t n)
{
	if (!s->nbuf)
		return 0;
	size_t k = 64 - s->nbuf < n ? 64 - s->nbuf : n;
	memcpy(s->buf + s->nbuf, p, k);
	s->nbuf += k;
	if (s->nbuf == 64) {
		blocks1(s->h, s->buf, 1);
		s->nbuf = 0;
	}
	return k;
}

/* After fill took k of p[0, n) and nb blocks followed: the rest, kept
 * for the next block (unless fill's block is still partial). */
static void keep(sha_state *s, const uint8_t *p, size_t n, size_t k, size_t nb)
{
	size_t at = k + 64 * nb;
	s->len += n;
	if (!s->nbuf && at < n) {
		memcpy(s->buf, p + at, n - at);
		s->nbuf = n - at;
	}
}

static void update1(sha_state *s, const uint8_t *p, size_t n)
{
	size_t k = fill(s, p, n), nb = (n - k) / 64;
	if (nb)
		blocks1(s->h, p + k, nb);
	keep(s, p, n, k, nb);
}

/* p[0, n) added to a and b alike, their whole blocks side by side. */
static void update2(sha_state *a, sha_state *b, const uint8_t *p, size_t n)
{
	size_t ka = fill(a, p, n), kb = fill(b, p, n);
	size_t na = (n - ka) / 64, nb = (n - kb) / 64;
	size_t both = na < nb ? na : nb;
	if (both)
		blocks2(a->h, p + ka, b->h, p + kb, both);
	if (na > both)
		blocks1(a->h, p + ka + 64 * both, na - both);
	if (nb > both)
		blocks1(b->h, p + kb + 64 * both, nb - both);
	keep(a, p, n, ka, na);
	keep(b, p, n, kb, nb);
}

static void finish(sha_state *s, uint8_t out[32])
{
	uint8_t last[128];
	uint64_t bits = s->len * 8;
	size_t n = s->nbuf, total;
	memcpy(last, s->buf, n);
	last[n++] = 0x80;
	total = n <= 56 ? 64 : 128;
	memset(last + n, 0, total - 8 - n);
	for (int i = 0; i < 8; i++)
		last[total - 8 + i] = (uint8_t)(bits >> (56 - 8 * i));
	blocks1(s->h, last, total / 64);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

int strata_sha256_pair_new(strata_sha256_pair **out)
{
	strata_sha256_pair *x = strata_calloc(1, sizeof(*x));
	int rc = 0;
	if (!x)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	x->ni = use_ni();
	if (x->ni)
		state_init(&x->whole);
	else if ((rc = strata_sha256_new(&x->ctx))) {
		strata_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

void strata_sha256_pair_add(strata_sha256_pair *x, const void *p, size_t n,
			    uint8_t chunk[32])
{
	if (!x->ni) {
		strata_sha256_update(x->ctx, p, n);
		if (chunk)
			strata_sha256(chunk, p, n);
		return;
	}
	if (!chunk) {
		update1(&x->whole, p, n);
		return;
	}
	sha_state c;
	state_init(&c);
	update2(&x->whole, &c, p, n);
	finish(&c, chunk);
}

void strata_sha256_pair_final(strata_sha256_pair *x, uint8_t whole[32])
{
	if (!x->ni) {
		strata_sha256_final(x->ctx, whole);
		return;
	}
	finish(&x->whole, whole);
	state_init(&x->whole);
}

void strata_sha256_pair_free(strata_sha256_pair *x)
{
	if (!x)
		return;
	strata_sha256_free(x->ctx);
	strata_wipe(x, sizeof(*x));
	strata_free(x);
}

bool strata_sha256_pair_interleaved(const strata_sha256_pair *x)
{
	return x->ni;
}

/*
 * Two lanes over whole messages, for many messages of uneven lengths
 * (restore checks every chunk it decodes): when one lane's message ends,
 * the caller gives that lane the next one, so nearly every block is
 * hashed beside another. Hashing messages two by two instead left the
 * longer one's tail to a single stream: a third of restore's bytes.
 */
struct strata_sha256_lanes {
	bool ni;
	bool busy[2];
	size_t tag[2];
	const uint8_t *p[2]; /* ni: what is left of the message */
	size_t left[2];
	sha_state s[2];
	uint8_t out[2][32]; /* !ni: hashed by put */
};

int strata_sha256_lanes_new(strata_sha256_lanes **out)
{
	strata_sha256_lanes *l = strata_calloc(1, sizeof(*l));
	if (!l)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	l->ni = use_ni();
	*out = l;
	return 0;
}

void strata_sha256_lanes_free(strata_sha256_lanes *l)
{
	strata_free(l);
}

size_t strata_sha256_lanes_busy(const strata_sha256_lanes *l)
{
	return (size_t)l->busy[0] + l->busy[1];
}

void strata_sha256_lanes_put(strata_sha256_lanes *l, const void *p, size_t n,
			     size_t tag)
{
	int k = l->busy[0];
	assert(!l->busy[k]);
	l->busy[k] = true;
	l->tag[k] = tag;
	if (!l->ni) {
		strata_sha256(l->out[k], p, n);
		return;
	}
	state_init(&l->s[k]);
	l->p[k] = p;
	l->left[k] = n;
}

/* Lane k's message: the rest of it, its hash into out. */
static void lane_finish(strata_sha256_lanes *l, int k, uint8_t out[32])
{
	sha_state *s = &l->s[k];
	size_t nb = l->left[k] / 64;
	if (nb)
		blocks1(s->h, l->p[k], nb);
	s->len += 64 * nb;
	update1(s, l->p[k] + 64 * nb, l->left[k] - 64 * nb);
	finish(s, out);
}

size_t strata_sha256_lanes_next(strata_sha256_lanes *l, uint8_t out[32])
{
	int k = l->busy[0] ? 0 : 1;
	assert(l->busy[k]);
	if (l->ni && l->busy[0] && l->busy[1]) {
		size_t both =
		    (l->left[0] < l->left[1] ? l->left[0] : l->left[1]) / 64;
		if (both)
			blocks2(l->s[0].h, l->p[0], l->s[1].h, l->p[1], both);
		for (int i = 0; i < 2; i++) {
			l->p[i] += 64 * both;
			l->left[i] -= 64 * both;
			l->s[i].len += 64 * both;
		}
		k = l->left[0] < 64 ? 0 : 1; /* one of them has ended */
	}
	if (l->ni)
		lane_finish(l, k, out);
	else
		memcpy(out, l->out[k], 32);
	l->busy[k] = false;
	return l->tag[k];
}
