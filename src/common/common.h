/*
 * common.h - what every strata source file uses: the system headers, the
 * allocation wrapper, the capped growable buffer, overflow-checked sizes,
 * crypto primitives, hex, time and a small JSON writer. It includes
 * banned.h last, so a banned call anywhere after it fails to compile.
 */
#ifndef STRATA_COMMON_H
#define STRATA_COMMON_H

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "strata/strata.h"

/* ---- allocation: one wrapper so tests can fail the Nth allocation ---- */
void *strata_malloc(size_t n);
void *strata_calloc(size_t count, size_t size);
void *strata_realloc(void *p, size_t n);
char *strata_strdup(const char *s);
char *strata_strndup(const char *s, size_t n);
void strata_free(void *p);
/* Whether a file system (statfs) is a local disk one, where O_DIRECT
 * pays: ext4, XFS, Btrfs, F2FS. On NFS or FUSE it can make every I/O a
 * round trip, and on tmpfs it is only a copy. */
struct statfs;
bool strata_fs_local_disk(const struct statfs *sf);
/* Hint that the large buffer p[0..n) be backed by huge pages. */
void strata_advise_huge(void *p, size_t n);
/* Make room for element `n` of the growable array *pp of `*cap` elements
 * of `elem` bytes (doubling); on failure *pp is untouched. */
int strata_grow(void *pp, size_t *cap, size_t n, size_t elem);
/* Fail the nth allocation from now on (1 = the next one); 0 disables. */
void strata_alloc_fail_after(long n);

/* ---- overflow-checked size arithmetic ---- */
static inline int strata_size_mul(size_t *out, size_t a, size_t b)
{
	return __builtin_mul_overflow(a, b, out) ? STRATA_EINVAL : 0;
}
static inline int strata_size_add(size_t *out, size_t a, size_t b)
{
	return __builtin_add_overflow(a, b, out) ? STRATA_EINVAL : 0;
}

/* ---- growable buffer with a hard cap (all untrusted input uses it) ---- */
typedef struct strata_buf {
	uint8_t *ptr;
	size_t len;
	size_t cap;   /* allocated */
	size_t limit; /* hard cap on len; 0 = STRATA_BUF_DEFAULT_LIMIT */
} strata_buf;
/* Make b an empty buffer of capacity n, 2 MiB-aligned, its first `huge`
 * bytes advised huge: a pack buffer, which O_DIRECT can then write
 * without a bounce copy. */
int strata_buf_alloc_huge(strata_buf *b, size_t n, size_t huge);

#define STRATA_BUF_DEFAULT_LIMIT ((size_t)1 << 30)
#define STRATA_BUF_INIT                                                        \
	{                                                                      \
		NULL, 0, 0, 0                                                  \
	}

int strata_buf_reserve(strata_buf *b, size_t extra);
int strata_buf_put(strata_buf *b, const void *p, size_t n);
int strata_buf_puts(strata_buf *b, const char *s);
int strata_buf_printf(strata_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int strata_buf_put_u8(strata_buf *b, uint8_t v);
int strata_buf_put_u16(strata_buf *b, uint16_t v);
int strata_buf_put_u32(strata_buf *b, uint32_t v);
int strata_buf_put_u64(strata_buf *b, uint64_t v);
/* NUL-terminate without counting the NUL in len. */
int strata_buf_cstr(strata_buf *b);
void strata_buf_reset(strata_buf *b);
void strata_buf_release(strata_buf *b);

/* Bounds-checked little-endian reader over untrusted bytes. */
typedef struct strata_rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	int err; /* sticky: set on the first out-of-bounds read */
} strata_rd;

void strata_rd_init(strata_rd *r, const void *p, size_t len);
uint8_t strata_rd_u8(strata_rd *r);
uint16_t strata_rd_u16(strata_rd *r);
uint32_t strata_rd_u32(strata_rd *r);
uint64_t strata_rd_u64(strata_rd *r);
/* Returns a pointer into the input, or NULL (and sets err) past the end. */
const uint8_t *strata_rd_bytes(strata_rd *r, size_t n);
static inline size_t strata_rd_left(const strata_rd *r)
{
	return r->len - r->pos;
}

static inline void strata_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t strata_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- crypto (OpenSSL libcrypto, libsodium) ---- */
#define STRATA_HASH_LEN 32
#define STRATA_KEY_LEN 32
#define STRATA_NONCE_LEN 12
#define STRATA_TAG_LEN 16

void strata_sha256(uint8_t out[32], const void *p, size_t n);

typedef struct strata_sha256_ctx strata_sha256_ctx;
int strata_sha256_new(strata_sha256_ctx **out);
void strata_sha256_update(strata_sha256_ctx *c, const void *p, size_t n);
void strata_sha256_final(strata_sha256_ctx *c, uint8_t out[32]);
void strata_sha256_free(strata_sha256_ctx *c);

/* The SHA-256 of a whole input and of pieces of it, in one pass where the
 * CPU has SHA-NI (sha256_pair.c). add() adds p[0, n) to the whole and,
 * given chunk, puts p[0, n)'s own hash there; final() resets for the next
 * input. STRATA_NO_SHA_PAIR: OpenSSL's hash, twice. */
typedef struct strata_sha256_pair strata_sha256_pair;
int strata_sha256_pair_new(strata_sha256_pair **out);
void strata_sha256_pair_add(strata_sha256_pair *x, const void *p, size_t n,
			    uint8_t chunk[32]);
void strata_sha256_pair_final(strata_sha256_pair *x, uint8_t whole[32]);
void strata_sha256_pair_free(strata_sha256_pair *x);
bool strata_sha256_pair_interleaved(const strata_sha256_pair *x);
/* Two SHA-256 lanes fed whole messages one after another (many messages
 * of uneven lengths). put() gives an idle lane (busy() < 2) p[0, n),
 * which must stay readable until next() returns its tag; next() (busy()
 * > 0) hashes until a message ends, puts its hash in out and returns its
 * tag. Side by side where the CPU allows it. */
typedef struct strata_sha256_lanes strata_sha256_lanes;
int strata_sha256_lanes_new(strata_sha256_lanes **out);
void strata_sha256_lanes_free(strata_sha256_lanes *l);
size_t strata_sha256_lanes_busy(const strata_sha256_lanes *l);
void strata_sha256_lanes_put(strata_sha256_lanes *l, const void *p, size_t n,
			     size_t tag);
size_t strata_sha256_lanes_next(strata_sha256_lanes *l, uint8_t out[32]);

/* HMAC-SHA-256 with precomputed pads; one per thread (not thread-safe). */
typedef struct strata_hmac strata_hmac;
int strata_hmac_new(strata_hmac **out, const uint8_t *key, size_t keylen);
void strata_hmac_free(strata_hmac *h);
void strata_hmac_calc(strata_hmac *h, uint8_t out[32], const void *p, size_t n);
/* One-shot HMAC for infrequent use (key derivation, catalog MACs). */
void strata_hmac_once(uint8_t out[32], const uint8_t *key, size_t keylen,
		      const void *p, size_t n);

/* AES-256-GCM with a context bound to one key; one per thread. */
typedef struct strata_aead strata_aead;
int strata_aead_new(strata_aead **out, const uint8_t key[32]);
void strata_aead_free(strata_aead *a);
/* out must hold n + 16 bytes (ciphertext then tag). */
int strata_aead_seal(strata_aead *a, uint8_t *out, const uint8_t nonce[12],
		     const void *aad, size_t aadlen, const void *p, size_t n);
/* in holds n bytes of ciphertext followed by the 16-byte tag. */
int strata_aead_open(strata_aead *a, uint8_t *out, const uint8_t nonce[12],
		     const void *aad, size_t aadlen, const uint8_t *in,
		     size_t n);

void strata_random(void *p, size_t n);
/* Argon2id (libsodium) key derivation; mem in KiB. */
int strata_argon2id(uint8_t out[32], const char *pass, size_t passlen,
		    const uint8_t salt[16], uint32_t t, uint32_t mem_kib);
int strata_ct_equal(const void *a, const void *b, size_t n);
void strata_wipe(void *p, size_t n);

/* ---- hex, names, time, misc ---- */
void strata_hex(char *out, const uint8_t *p, size_t n); /* out: 2n+1 */
int strata_unhex(uint8_t *out, size_t n, const char *hex);
int strata_parse_u64(const char *s, uint64_t *out);
uint64_t strata_now_ns(void);
double strata_mono(void);
/* A condition variable timed on CLOCK_MONOTONIC, and a wait on it of at
 * most ms milliseconds (a wake-up may be spurious: callers re-check). */
void strata_cond_init_mono(pthread_cond_t *c);
void strata_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, long ms);
/* STRATA_TRACE=1: "trace: PHASE SECONDS" (since t0) on stderr. */
void strata_trace(const char *phase, double t0);
/* ISO 8601 UTC with seconds: out holds 32 bytes. */
void strata_iso_time(char *out, size_t outlen, int64_t ns);
int strata_mkdir_p(const char *path, mode_t mode);
/* All n bytes to fd (at offset `at` for the p- form), through short
 * writes and EINTR: 0, or -1 with errno set (ENOSPC if nothing more
 * would go). */
int strata_write_all(int fd, const void *p, size_t n);
int strata_pwrite_all(int fd, const void *p, size_t n, uint64_t at);
int strata_errno_code(int e);

/* ---- JSON writer: pretty enough, always valid ---- */
typedef struct strata_json {
	FILE *f;
	int depth;
	bool first[32];
	bool key_pending;
} strata_json;

void strata_json_init(strata_json *j, FILE *f);
/* Length of the valid UTF-8 sequence at p (n bytes left, n >= 1), or 0
 * for a byte that does not start one (overlong forms and surrogates
 * included). */
size_t strata_utf8_len(const uint8_t *p, size_t n);
void strata_json_obj_begin(strata_json *j);
void strata_json_obj_end(strata_json *j);
void strata_json_arr_begin(strata_json *j);
void strata_json_arr_end(strata_json *j);
void strata_json_key(strata_json *j, const char *k);
void strata_json_str(strata_json *j, const char *s);
void strata_json_strn(strata_json *j, const char *s, size_t n);
void strata_json_u64(strata_json *j, uint64_t v);
void strata_json_i64(strata_json *j, int64_t v);
void strata_json_dbl(strata_json *j, double v);
void strata_json_bool(strata_json *j, bool v);
void strata_json_null(strata_json *j);
void strata_json_end(strata_json *j); /* final newline */

/* ---- logging and progress ---- */
extern int strata_quiet;
void strata_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A thread count from environment variable `var`: 1 to max, else `def`
 * (with a warning when it is set to something else). */
int strata_env_threads(const char *var, int max, int def);
/* Progress line on a terminal: redraws at most 5 times a second. */
typedef struct strata_progress {
	bool enabled;
	double last;
	double start;
	int width;
} strata_progress;
void strata_progress_init(strata_progress *p);
bool strata_progress_due(strata_progress *p);
void strata_progress_show(strata_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void strata_progress_done(strata_progress *p);

#include "common/banned.h"
#endif
