/*
 * audit.h - the append-only, hash-chained, Ed25519-checkpointed audit log.
 * Every strata command queues records (who did what to which data, for
 * which subjects and purpose, with which decision and outcome) and commits
 * them at its end; `strata audit verify` proves the log was not edited,
 * reordered or truncated. The on-disk contract is docs/audit.md.
 */
#ifndef STRATA_AUDIT_H
#define STRATA_AUDIT_H

#include "common/common.h"

/* A record line may not exceed this many bytes (append refuses larger). */
#define STRATA_AUDIT_MAX_LINE ((size_t)1 << 20)
/* A commit starts a new segment once the current one holds this much. */
#define STRATA_AUDIT_SEGMENT_SIZE ((uint64_t)64 << 20)

typedef struct strata_audit_rec {
	uint64_t seq;	 /* assigned by commit, 1-based, dense */
	int64_t time_ns; /* 0 at append: now */
	const char *actor, *role;
	const char *action; /* "ingest", "read", "restore", "export",
			       "consent.set", "audit.read", ... */
	const char *object; /* "ct@v3:series1/a.dcm" or "ct@v3"; may be NULL */
	const char *const *subjects; /* pseudonyms, never identifiers */
	size_t nsubjects;	     /* may be 0 */
	const char *purpose;	     /* may be NULL */
	const char *decision;	     /* "allow" or "deny" */
	const char *reasons;	     /* may be NULL */
	const char *outcome;	     /* "ok", "error", "partial", "denied" */
	uint64_t bytes;
	const char *detail; /* free text; may be NULL */
	/* Set by scan (hex SHA-256 of the record line, 64 characters);
	 * ignored by append. */
	const char *hash;
} strata_audit_rec;

typedef struct strata_audit strata_audit;

/*
 * strata_audit_keypair - derive the Ed25519 key pair that signs checkpoints
 * from a 32-byte secret seed (libsodium crypto_sign_seed_keypair).
 */
void strata_audit_keypair(const uint8_t seed[32], uint8_t pk[32],
			  uint8_t sk[64]);

/*
 * strata_audit_open - open the log in directory `dir` (created with mode
 * 0700 if absent). `origin` names the log (the repository id) and is part
 * of what every checkpoint signs; `seed` is the signing seed (copied).
 * No lock is held between calls; the directory is read only by commit.
 * OUT: *out, released with strata_audit_close.
 * Returns 0, STRATA_EINVAL, STRATA_ENOMEM or an I/O code.
 */
int strata_audit_open(strata_audit **out, const char *dir, const char *origin,
		      const uint8_t seed[32]);

/*
 * strata_audit_append - queue a copy of *r in memory: no I/O. r->seq and
 * r->hash are ignored; r->time_ns 0 means now. actor and action are
 * required. Returns 0, STRATA_EINVAL (missing field, or the record would
 * exceed STRATA_AUDIT_MAX_LINE) or STRATA_ENOMEM.
 */
int strata_audit_append(strata_audit *a, const strata_audit_rec *r);

/* strata_audit_pending - number of queued, uncommitted records. */
size_t strata_audit_pending(const strata_audit *a);

/*
 * strata_audit_commit - write every queued record durably. Under an
 * exclusive flock on <dir>/lock: read the tail (last record of the last
 * segment, last checkpoint; a torn line left by a crash is cut off),
 * refuse with STRATA_ECORRUPT if the tail contradicts the last checkpoint,
 * assign seqs, chain, append, fsync, append a signed checkpoint for the
 * new head, fsync, unlock. With nothing queued it does nothing.
 * All or nothing: on any failure (STRATA_ENOSPC, STRATA_EIO, ...) both
 * files are truncated back to their previous length and the records stay
 * queued, so the log stays verifiable and the commit can be retried.
 */
int strata_audit_commit(strata_audit *a);

/* strata_audit_close - release a; drops uncommitted records. NULL is ok. */
void strata_audit_close(strata_audit *a);

/*
 * strata_audit_set_segment_size - rotate segments at `bytes` instead of
 * STRATA_AUDIT_SEGMENT_SIZE (tests and benchmarks).
 */
void strata_audit_set_segment_size(strata_audit *a, uint64_t bytes);

typedef struct strata_audit_report {
	uint64_t records, checkpoints;
	uint64_t first_bad; /* 0 if intact, else the seq (position in the
			       chain) of the first bad record */
	char what[512];	    /* the first problem, "" if intact */
	/* Records after the last checkpoint: a crash between the two fsyncs
	 * of a commit leaves some; they are chained but not yet signed. */
	uint64_t unsigned_records;
	/* Bytes of an interrupted write at the very end (cut by the next
	 * commit); not an error unless a checkpoint covers them. */
	uint64_t torn_bytes;
	uint64_t head_seq;  /* last checkpoint: seq and hex hash, to anchor */
	char head_hash[65]; /* externally (a witness); "" with no checkpoint */
} strata_audit_report;

/*
 * strata_audit_verify - verify the whole chain and every checkpoint
 * signature against `pk` and `origin`. Reads a consistent snapshot (file
 * lengths taken under a shared lock) while commits go on.
 * OUT: *rep (always filled).
 * Returns 0 if intact, STRATA_ECORRUPT on tampering (rep->what, also the
 * error message), STRATA_ENOTFOUND if `dir` is absent, other codes for I/O.
 */
int strata_audit_verify(const char *dir, const char *origin,
			const uint8_t pk[32], strata_audit_report *rep);

typedef struct strata_audit_filter {
	const char *subject; /* records naming this pseudonym, or NULL */
	const char *actor;   /* or NULL */
	const char
	    *action_prefix; /* "read" matches "read", "read.x"; or NULL */
	int64_t since_ns;   /* time_ns >= since_ns; 0: all */
} strata_audit_filter;

/* Called per record; strings are borrowed for the call. Nonzero stops. */
typedef int (*strata_audit_cb)(const strata_audit_rec *r, void *payload);

/*
 * strata_audit_scan - call cb for every committed record matching f (NULL:
 * all), in seq order. Parses but does not verify hashes (that is verify's
 * job). Returns 0, the callback's nonzero value, STRATA_ECORRUPT for an
 * unparsable line, STRATA_ENOTFOUND if `dir` is absent, or an I/O code.
 */
int strata_audit_scan(const char *dir, const strata_audit_filter *f,
		      strata_audit_cb cb, void *payload);

/*
 * strata_audit_fhir - write r as a FHIR R5 AuditEvent JSON object.
 * strata_audit_json - write r as a plain JSON object (`--json`).
 * Both write one value into j (an array element or top-level value).
 */
void strata_audit_fhir(strata_json *j, const strata_audit_rec *r,
		       const char *origin);
void strata_audit_json(strata_json *j, const strata_audit_rec *r);

/*
 * strata_audit_action_code - the FHIR AuditEvent.action for an action
 * name: 'C', 'R', 'U', 'D' or 'E'.
 */
char strata_audit_action_code(const char *action);

#endif
