/*
 * repo.h - the repository: open one, ingest paths into a dataset version,
 * list, compare, read and restore versions, and verify the whole store.
 * This is the API the CLI (and later the HTTP, FUSE and Python frontends)
 * is built on.
 */
#ifndef STRATA_REPO_H
#define STRATA_REPO_H

#include <stdbool.h>
#include "strata/strata.h"

typedef struct strata_repo strata_repo;

/* How to unlock a repository: a passphrase, or a 32-byte key file. */
typedef struct strata_auth {
	const char *password; /* NULL if none */
	size_t password_len;
	const uint8_t *keyfile; /* 32 bytes, or NULL */
} strata_auth;

typedef struct strata_repo_config {
	const char *zone;  /* default "onprem" */
	const char *allow; /* classes the zone may hold; NULL: all */
	uint32_t chunk_min, chunk_avg,
	    chunk_max;		     /* 0: 256 KiB / 1 MiB / 4 MiB */
	uint32_t pack_size;	     /* 0: 32 MiB */
	int zstd_level;		     /* 0: STRATA_ZSTD_DEFAULT */
	uint32_t kdf_t, kdf_mem_kib; /* 0: 3 passes, 64 MiB */
} strata_repo_config;

/* zstd levels a repository may use; negative ones are zstd's "fast" levels */
#define STRATA_ZSTD_MIN -7
#define STRATA_ZSTD_MAX 19
#define STRATA_ZSTD_DEFAULT 1

/* Create a repository at `path` (absent or an empty directory). */
int strata_repo_init(const char *path, const strata_repo_config *cfg,
		     const strata_auth *auth);

/* Open; STRATA_EAUTH on a wrong password or key file. Release with
 * strata_repo_close(). */
int strata_repo_open(strata_repo **out, const char *path,
		     const strata_auth *auth);
void strata_repo_close(strata_repo *r);
/* Borrowed strings valid until close. */
const char *strata_repo_zone(const strata_repo *r);
const char *strata_repo_id(const strata_repo *r);

/* ---- ingest ---- */
typedef struct strata_ingest_opts {
	const char *dataset;
	const char *layer; /* raw | curated | model-ready */
	const char *klass; /* phi | limited | deid | aggregate | public */
	const char *message;
	bool update; /* add to / replace in the previous version */
	int threads; /* 0: number of CPUs */
	bool progress;
	const char *const *from; /* lineage: source versions "NAME@vN" */
	size_t nfrom;
	const char *recipe;   /* "tool=...,version=...,params=..." */
	const char *subjects; /* "path,subject" CSV, or NULL */
} strata_ingest_opts;

typedef struct strata_ingest_stats {
	uint32_t version;
	char snapshot[65];
	uint64_t files, dirs, symlinks, files_unchanged;
	uint64_t bytes_total;	    /* bytes of all files in the version */
	uint64_t bytes_read;	    /* bytes read from disk */
	uint64_t bytes_read_direct; /* of those, read with O_DIRECT */
	uint64_t bytes_new;    /* plaintext bytes of chunks not stored before */
	uint64_t bytes_stored; /* bytes written to the backend */
	uint64_t errors, skipped;
	uint64_t files_with_metadata; /* a format reader described them */
	double seconds;
} strata_ingest_stats;

/* Returns 0, STRATA_EPARTIAL (a version was made but some files failed,
 * each reported as a warning), or an error (no version made). */
int strata_repo_ingest(strata_repo *r, const char *const *paths, size_t n,
		       const strata_ingest_opts *o, strata_ingest_stats *st);

/* Stat the files below paths in a thread, ahead of an ingest of them
 * into the repository at repo (call it before opening the repository:
 * the walk then finds the inodes cached while the key was derived); stop
 * it once the ingest returned. Given a local repo, it also asks the disk
 * for the first bytes of large files changed since its newest version
 * (repo NULL: no such read-ahead). NULL when no thread could start, which
 * only costs that head start. */
typedef struct strata_prewalk strata_prewalk;
strata_prewalk *strata_ingest_prewalk(const char *const *paths, size_t n,
				      const char *repo);
void strata_ingest_prewalk_stop(strata_prewalk *p);

/* ---- reading ---- */
typedef struct strata_dataset_info {
	const char *name;
	uint32_t versions, latest;
	const char *layer, *klass;
} strata_dataset_info;

typedef struct strata_version_info {
	const char *dataset;
	uint32_t version;
	char snapshot[65];
	int64_t time_ns;
	const char *message, *layer, *klass, *author;
	uint64_t files, bytes;
	uint32_t parent_version;
	const char *recipe;	    /* set by strata_repo_version */
	const char *const *sources; /* "NAME@vN", nsources of them */
	size_t nsources;
} strata_version_info;

typedef enum {
	STRATA_ENT_FILE = 1,
	STRATA_ENT_DIR,
	STRATA_ENT_SYMLINK
} strata_ent_type;

typedef struct strata_entry {
	const char *path; /* relative to the version's root; raw bytes */
	size_t path_len;
	strata_ent_type type;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns;
	const uint8_t *sha256; /* files */
	const char *target;    /* symlinks */
} strata_entry;

typedef int (*strata_dataset_cb)(const strata_dataset_info *d, void *payload);
typedef int (*strata_version_cb)(const strata_version_info *v, void *payload);
typedef int (*strata_entry_cb)(const strata_entry *e, void *payload);

int strata_repo_datasets(strata_repo *r, strata_dataset_cb cb, void *payload);
int strata_repo_log(strata_repo *r, const char *dataset, strata_version_cb cb,
		    void *payload);
/* spec: "name" (latest) or "name@vN". */
int strata_repo_resolve(strata_repo *r, const char *spec, char **dataset,
			uint32_t *version);
/* Every entry below `path` ("" or NULL: all), depth first, sorted. */
int strata_repo_ls(strata_repo *r, const char *spec, const char *path,
		   strata_entry_cb cb, void *payload);
/* Write a file's bytes to fd. */
int strata_repo_cat(strata_repo *r, const char *spec, const char *path, int fd);

typedef enum {
	STRATA_DIFF_ADDED = 1,
	STRATA_DIFF_REMOVED,
	STRATA_DIFF_MODIFIED,
	STRATA_DIFF_TYPE
} strata_diff_kind;
typedef int (*strata_diff_cb)(const char *path, size_t len, strata_diff_kind k,
			      void *payload);
int strata_repo_diff(strata_repo *r, const char *a, const char *b,
		     strata_diff_cb cb, void *payload);

typedef struct strata_restore_stats {
	uint64_t files, dirs, symlinks, bytes, errors;
	uint64_t bytes_direct; /* of `bytes`, written with O_DIRECT */
	uint64_t verified;     /* files read back and matched (--verify) */
	double seconds;
} strata_restore_stats;

enum {
	STRATA_RESTORE_PROGRESS = 1, /* a progress line on a terminal */
	/* read every file back before it gets its name, and keep it only if
	 * its SHA-256 is the version's */
	STRATA_RESTORE_VERIFY = 2
};

int strata_repo_restore(strata_repo *r, const char *spec, const char *dest,
			const char *include_glob, unsigned flags,
			strata_restore_stats *st);

/* ---- metadata, queries, lineage (meta.c) ---- */
typedef struct strata_hit {
	const char *dataset;
	uint32_t version;
	const char *path; /* raw bytes */
	size_t path_len;
	uint64_t size;
} strata_hit;
typedef int (*strata_hit_cb)(const strata_hit *h, void *payload);
/* Files matching a query (docs/strata-find.md): latest versions only
 * unless `all_versions`; only in `dataset` if not NULL. */
int strata_repo_find(strata_repo *r, const char *query, const char *dataset,
		     bool all_versions, strata_hit_cb cb, void *payload);

/* One metadata value: type 1 text (s), 2 integer, 3 real (n). */
typedef int (*strata_meta_cb)(const char *key, int type, const char *s,
			      double n, void *payload);
/* Every extracted attribute of file `path` of version `spec`. */
int strata_repo_file_meta(strata_repo *r, const char *spec, const char *path,
			  strata_meta_cb cb, void *payload);
/* Value counts of `key` over a version's files (s = value, n = count). */
int strata_repo_summary(strata_repo *r, const char *spec, const char *key,
			strata_meta_cb cb, void *payload);
/* Full details of a version. Strings borrowed for the call. */
int strata_repo_version(strata_repo *r, const char *spec, strata_version_cb cb,
			void *payload);

/* Lineage edges reachable from `spec`, breadth first: `up` toward its
 * sources, else down to what was made from it. */
typedef struct strata_edge {
	const char *from_dataset; /* the derived version */
	uint32_t from_version;
	const char *to_dataset; /* its source */
	uint32_t to_version;
	const char *recipe;
	int depth;
} strata_edge;
typedef int (*strata_edge_cb)(const strata_edge *e, void *payload);
int strata_repo_lineage(strata_repo *r, const char *spec, bool up,
			strata_edge_cb cb, void *payload);

/* Benchmarks only: a version of `nfiles` synthetic files with realistic
 * attributes, in the catalog alone (no content in the store). */
int strata_repo_debug_synth(strata_repo *r, const char *dataset,
			    uint64_t nfiles, uint64_t seed);

/* ---- verification ---- */
typedef struct strata_check_report {
	uint64_t packs, blobs, snapshots, trees, indexes;
	uint64_t errors;
	uint64_t bytes_read;
} strata_check_report;

/* Called for each problem: `what` describes it; dataset/path are set when
 * a damaged object affects a file of a version. */
typedef int (*strata_check_cb)(const char *what, const char *dataset,
			       uint32_t version, const char *path,
			       void *payload);
int strata_repo_check(strata_repo *r, bool read_data, bool progress,
		      strata_check_cb cb, void *payload,
		      strata_check_report *rep);

/* In-memory throughput of chunk + HMAC + compress + encrypt over buf,
 * with `threads` threads: bytes per second. */
int strata_repo_speed(strata_repo *r, const uint8_t *buf, size_t len,
		      int threads, double *bytes_per_sec);
/* The same without a repository: random keys, the default chunk bounds,
 * zstd at `zstd_level` (0: STRATA_ZSTD_DEFAULT). */
int strata_speed(const uint8_t *buf, size_t len, int threads, int zstd_level,
		 double *bytes_per_sec);

/* ---- governance (govapi.c; docs/governance.md) ----
 * The actor is STRATA_USER, or the OS user. Every call below is decided
 * by the repository's gate and lands in its audit log. */
const char *strata_repo_actor(const strata_repo *r);
/* The actor's role, or NULL when they have none. */
const char *strata_repo_role(const strata_repo *r);
/* Whether the actor may see attribute `key` (PHI attributes are hidden
 * from roles that may not read PHI). */
bool strata_repo_may_see(strata_repo *r, const char *key);
/* The purpose of this session's requests (DUO purpose syntax,
 * docs/consent.md); NULL: the user's default purpose. */
int strata_repo_set_purpose(strata_repo *r, const char *purpose);

typedef struct strata_user_info {
	const char *name, *role, *purpose;
} strata_user_info;
typedef int (*strata_user_cb)(const strata_user_info *u, void *payload);
int strata_repo_user_add(strata_repo *r, const char *name, const char *role,
			 const char *purpose);
int strata_repo_user_rm(strata_repo *r, const char *name);
int strata_repo_users(strata_repo *r, strata_user_cb cb, void *payload);

typedef struct strata_role_info {
	const char *name, *grants;
	bool builtin;
} strata_role_info;
typedef int (*strata_role_cb)(const strata_role_info *ri, void *payload);
int strata_repo_role_add(strata_repo *r, const char *name, const char *grants);
int strata_repo_roles(strata_repo *r, strata_role_cb cb, void *payload);

/* The zone's name and the classes it allows ("phi,deid" or "all"). */
int strata_repo_zone_get(strata_repo *r, const char **name, char *allows,
			 size_t n);
int strata_repo_zone_set(strata_repo *r, const char *allow);

typedef struct strata_consent_info {
	const char *target; /* dataset, or subject pseudonym */
	const char *codes;
	const char *by;
	int64_t time_ns;
	bool subject, withdrawn;
} strata_consent_info;
typedef int (*strata_consent_cb)(const strata_consent_info *ci, void *payload);
/* target: a dataset name, a subject pseudonym ("sub-..."), or a subject
 * identifier (turned into its pseudonym; never stored). */
int strata_repo_consent_set(strata_repo *r, const char *target,
			    const char *codes);
int strata_repo_consent_withdraw(strata_repo *r, const char *subject);
int strata_repo_consents(strata_repo *r, strata_consent_cb cb, void *payload);
/* The pseudonym of a subject given as pseudonym or identifier. */
int strata_repo_subject(strata_repo *r, const char *subject, char out[24]);

typedef struct strata_impact_info {
	const char *dataset;
	uint32_t version;
	const char *path; /* a file of the subject; NULL: the whole version,
			     derived from their data (via) */
	size_t path_len;
	const char *via;
} strata_impact_info;
typedef int (*strata_impact_cb)(const strata_impact_info *ii, void *payload);
int strata_repo_impact(strata_repo *r, const char *subject, strata_impact_cb cb,
		       void *payload);

typedef struct strata_subject_info {
	const char *pseudonym, *identifier;
} strata_subject_info;
typedef int (*strata_subject_cb)(const strata_subject_info *si, void *payload);
/* The identifier <-> pseudonym table (stewards: action reidentify). */
int strata_repo_subjects(strata_repo *r, strata_subject_cb cb, void *payload);

/* The guardrail policy file (docs/policy.md); an empty text removes it. */
int strata_repo_policy_set(strata_repo *r, const char *text, size_t len);
/* *text: borrowed, NULL when there is none. */
int strata_repo_policy_get(strata_repo *r, const char **text);

/* Audit log (docs/audit.md). */
struct strata_audit_rec;
struct strata_audit_filter;
struct strata_audit_report;
int strata_repo_audit_scan(strata_repo *r, const struct strata_audit_filter *f,
			   int (*cb)(const struct strata_audit_rec *rec,
				     void *payload),
			   void *payload);
int strata_repo_audit_verify(strata_repo *r, struct strata_audit_report *rep);
/* The directory of the audit log. */
const char *strata_repo_audit_dir(strata_repo *r);

/* ---- hybrid: remotes, push and pull, replicas, egress (push.c) ----
 * A remote is another strata repository (a directory or s3://bucket/
 * prefix) with its own keys and zone. Push and pull pass the gates of
 * both sides, move only the chunks the destination lacks, sealed again
 * under its keys, and make the version visible last. */
typedef struct strata_remote_info {
	const char *name, *url, *zone;
} strata_remote_info;
typedef int (*strata_remote_cb)(const strata_remote_info *ri, void *payload);
int strata_repo_remote_add(strata_repo *r, const char *name, const char *url,
			   const char *zone);
int strata_repo_remote_rm(strata_repo *r, const char *name);
int strata_repo_remotes(strata_repo *r, strata_remote_cb cb, void *payload);

typedef struct strata_xfer_opts {
	const char *project; /* egress is attributed to it; NULL: "default" */
	bool progress;
} strata_xfer_opts;
typedef struct strata_xfer_stats {
	char dataset[256];
	uint32_t src_version, dst_version;
	bool already; /* the remote holds it already: nothing sent */
	uint64_t files, bytes_total, chunks, chunks_sent;
	uint64_t bytes_sent; /* bytes written to the destination's store */
	double seconds;
} strata_xfer_stats;
/* remote_auth unlocks the remote repository. */
int strata_repo_push(strata_repo *r, const char *spec, const char *remote,
		     const strata_auth *remote_auth, const strata_xfer_opts *o,
		     strata_xfer_stats *st);
int strata_repo_pull(strata_repo *r, const char *spec, const char *remote,
		     const strata_auth *remote_auth, const strata_xfer_opts *o,
		     strata_xfer_stats *st);

typedef struct strata_replica_info {
	const char *dataset;
	uint32_t version;
	const char *remote;
	uint32_t remote_version;
	const char *url;
	int64_t time_ns;
} strata_replica_info;
typedef int (*strata_replica_cb)(const strata_replica_info *ri, void *payload);
/* Which versions (of `dataset`, or all) exist on which remote. */
int strata_repo_replicas(strata_repo *r, const char *dataset,
			 strata_replica_cb cb, void *payload);

typedef struct strata_egress_info {
	const char *key; /* project, dataset or remote */
	uint64_t bytes, pushes;
	double usd;
	double budget_usd; /* monthly budget of a project, or -1 */
} strata_egress_info;
typedef int (*strata_egress_cb)(const strata_egress_info *ei, void *payload);
/* by: "project" (default), "dataset" or "remote"; since_ns 0: all. */
int strata_repo_egress(strata_repo *r, const char *by, int64_t since_ns,
		       strata_egress_cb cb, void *payload);
/* USD per GiB sent to a remote (by name) or a zone. */
int strata_repo_egress_price(strata_repo *r, const char *target, double usd);
/* A project's monthly egress budget in USD: a push that would exceed it
 * is refused before anything is sent. */
int strata_repo_egress_budget(strata_repo *r, const char *project, double usd);

/* ---- de-identification (deid.c; docs/deid.md) ---- */
typedef struct strata_deid_run_opts {
	const char *dataset; /* the new, curated dataset */
	const char *profile; /* "basic" (default) */
	const char *options; /* "retain-safe-private,clean-descriptors" */
	const char *domain;  /* pseudonymisation domain; NULL: "default" */
	const char *message;
	const char *reference; /* CRAM: a local FASTA, or NULL */
	bool fastq_strip_names;
	bool progress;
	int threads; /* 0: number of CPUs */
} strata_deid_run_opts;
typedef struct strata_deid_stats {
	uint64_t files, dicom, genomic, held_back, skipped, uids_remapped;
	char recipe[1024];
	strata_ingest_stats ingest; /* the new version */
} strata_deid_stats;
typedef struct strata_deid_file {
	const char *path;
	const char *what; /* "deid", "held" (for review), "skipped" */
	const char *why;  /* NULL for "deid" */
} strata_deid_file;
typedef int (*strata_deid_cb)(const strata_deid_file *f, void *payload);
/* De-identify version `spec` into a new curated, class deid version of
 * o->dataset with lineage and recipe. Files that may carry burned-in
 * text, or have no de-identifier, are held back and reported to cb. */
int strata_repo_deid(strata_repo *r, const char *spec,
		     const strata_deid_run_opts *o, strata_deid_stats *st,
		     strata_deid_cb cb, void *payload);
/* The vault: a subject's identifier, pseudonym and the date shift its
 * files get in `domain` with retain-long-modified-dates. A steward's
 * action (reidentify), audited. */
typedef struct strata_deid_lookup_info {
	char pseudonym[24], identifier[256], domain[128];
	int32_t date_shift_days;
} strata_deid_lookup_info;
int strata_repo_deid_lookup(strata_repo *r, const char *subject,
			    const char *domain, strata_deid_lookup_info *out);

#endif
