/*
 * audit_int.h - internals shared by the audit log's files: the canonical
 * record line codec (codec.c), checkpoint lines and segment files
 * (files.c), used by the writer (audit.c) and the readers (verify.c).
 */
#ifndef STRATA_AUDIT_INT_H
#define STRATA_AUDIT_INT_H

#include <sodium.h>
#include <sys/file.h>

#include "audit/audit.h"

#define AUDIT_LOCK "lock"
#define AUDIT_CHECKPOINTS "checkpoints"
#define AUDIT_CK_MAX_LINE 512
#define AUDIT_SIG_B64 88 /* base64 of a 64-byte signature, padded */

/* A parsed record line. Strings point into `str`, valid until the next
 * parse into the same audit__line or its release. */
typedef struct audit__line {
	strata_audit_rec rec;
	uint8_t prev[32], hash[32];
	char hashhex[65];
	size_t hashed; /* bytes of the line covered by the hash */
	strata_buf str;
	size_t *soff; /* subject offsets into str */
	size_t soff_cap;
	const char **subj;
	size_t subj_cap;
} audit__line;

/* Encode the middle of a record line ("time":... through "detail":...). */
int audit__encode_body(strata_buf *b, const strata_audit_rec *r,
		       int64_t time_ns);
/* Append {"seq":N,<body>,"prev":"<hex>","hash":"<hex>"}\n to out; hash
 * gets the new record's hash. */
int audit__encode_line(strata_buf *out, strata_sha256_ctx *sha, uint64_t seq,
		       const char *body, size_t bodylen, const uint8_t prev[32],
		       uint8_t hash[32]);
/* Parse one line (without its '\n'). On failure returns STRATA_ECORRUPT
 * with *why set to a static description. */
int audit__parse(audit__line *l, const char *p, size_t n, const char **why);
void audit__line_release(audit__line *l);

/* The message a checkpoint signs. out holds at least origin + 128 bytes. */
int audit__ck_message(strata_buf *out, const char *origin, uint64_t seq,
		      const char *hexhash);
/* Parse "seq hexhash base64sig" (without '\n'). */
int audit__ck_parse(const char *p, size_t n, uint64_t *seq, char hexhash[65],
		    uint8_t sig[64]);

/* Segment numbers present in dir (log-NNNNNN.jsonl), ascending. */
int audit__segments(const char *dir, uint32_t **out, size_t *n);
int audit__path(char *out, size_t outlen, const char *dir, const char *name);
int audit__seg_path(char *out, size_t outlen, const char *dir, uint32_t seg);

#endif
