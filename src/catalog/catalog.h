/*
 * catalog.h - the catalog: a SQLite (WAL) index over the store's snapshots
 * for fast listings and, later, queries. Names, paths, messages and file
 * checksums are stored sealed with AES-256-GCM under a key derived from the
 * repository master key, with HMAC columns for equality lookups; see
 * docs/SECURITY.md. The store stays authoritative: a lost or stale catalog
 * is rebuilt from snapshot objects.
 */
#ifndef STRATA_CATALOG_H
#define STRATA_CATALOG_H

#include "common/common.h"

typedef struct strata_catalog strata_catalog;

typedef struct strata_cat_snap {
	uint8_t id[32]; /* snapshot object id */
	char *dataset;
	uint32_t version;
	int64_t time_ns;
	char *message;
	char layer[16];
	char klass[16];
	uint64_t files, bytes;
	uint32_t parent_version; /* 0: none */
} strata_cat_snap;

typedef struct strata_cat_dataset {
	char *name;
	uint32_t versions, latest;
	char layer[16];
	char klass[16];
} strata_cat_dataset;

typedef int (*strata_cat_snap_cb)(const strata_cat_snap *s, void *payload);
typedef int (*strata_cat_dataset_cb)(const strata_cat_dataset *d,
				     void *payload);

/* Open or create the catalog at `path`. STRATA_EAUTH if it was made
 * under another key (the caller rebuilds it). */
int strata_catalog_open(strata_catalog **out, const char *path,
			const uint8_t key[32], const uint8_t mac[32]);
void strata_catalog_close(strata_catalog *c);

/* A write transaction; BEGIN IMMEDIATE, so it is also the lock under
 * which version numbers are assigned. Waits up to 60 s for other
 * writers. */
int strata_catalog_begin(strata_catalog *c);
int strata_catalog_commit(strata_catalog *c);
void strata_catalog_rollback(strata_catalog *c);

int strata_catalog_has_snapshot(strata_catalog *c, const uint8_t id[32]);
/* Latest (version 0) or given version of a dataset: ENOTFOUND if none. */
int strata_catalog_find(strata_catalog *c, const char *dataset,
			uint32_t version, uint8_t id_out[32],
			uint32_t *version_out);
int strata_catalog_add_snapshot(strata_catalog *c, const strata_cat_snap *s,
				int64_t *row);
/* *row (if not NULL): the file's row, for strata_catalog_add_attrs.
 * like: 0, or the row of an earlier file this one is unchanged from (same
 * path, same content): its sealed path and hash are copied, and its
 * attributes shared (nothing may be added to the new row). */
int strata_catalog_add_file(strata_catalog *c, int64_t snap_row,
			    const char *path, size_t pathlen, uint64_t size,
			    const uint8_t sha256[32], const char *layer,
			    const char *klass, int64_t like, int64_t *row);
/* The row of `path` in snapshot `snap_id`, to share its attributes, or
 * STRATA_ENOTFOUND (quietly: no error message is set). */
int strata_catalog_file_like(strata_catalog *c, const uint8_t snap_id[32],
			     const char *path, int64_t *row);
typedef struct strata_cat_attr {
	const char *key;
	int type; /* 1 text (s), else a number (n) */
	const char *s;
	double n;
} strata_cat_attr;
/* All extracted attributes of a file, once: the per-instance ones
 * (strata_catalog_key_instance) on the file, the others in a group
 * shared by every file with the same ones. */
int strata_catalog_add_attrs(strata_catalog *c, int64_t file_row,
			     const strata_cat_attr *a, size_t n);
bool strata_catalog_key_instance(const char *key);
/* One extracted attribute of a row: a file's or (negative) a group's.
 * Identifying keys (patient names and ids, dates, UIDs, sample names:
 * strata_catalog_key_sealed) are stored sealed, with an HMAC for equality
 * queries. */
int strata_catalog_add_attr(strata_catalog *c, int64_t file_row,
			    const char *key, int type, const char *s, double n);
bool strata_catalog_key_sealed(const char *key);
/* Staging: the rows of an ingest's newly read files, prepared (sealed,
 * MACed, grouped) by one thread while the files are still being read, in
 * a private temporary database, and added in bulk when the version
 * commits. Between begin and done nothing else may use the catalog
 * (stage_file takes no lock on the catalog proper). */
int strata_catalog_stage_begin(strata_catalog *c);
/* One file: its path, size, content hash and attributes (may be none). */
int strata_catalog_stage_file(strata_catalog *c, const char *path,
			      size_t pathlen, uint64_t size,
			      const uint8_t sha256[32],
			      const strata_cat_attr *a, size_t n);
/* A file carried unchanged from the previous version: at commit it
 * shares that version's row for its path (as add_file's `like`). */
int strata_catalog_stage_carried(strata_catalog *c, const char *path,
				 size_t pathlen, uint64_t size,
				 const uint8_t sha256[32]);
/* All files are staged: the staging transaction ends. */
int strata_catalog_stage_done(strata_catalog *c);
/* Inside the version's transaction (strata_catalog_begin): every staged
 * file becomes a row of snapshot snap_row, after the rows already added,
 * in the order staged. prev_snap: the previous version's snapshot id
 * (carried files share its rows), or NULL. All or nothing: on an error
 * no staged row was added. */
int strata_catalog_stage_commit(strata_catalog *c, int64_t snap_row,
				const char *layer, const char *klass,
				const uint8_t prev_snap[32]);
/* Inside the version's transaction: the rows of snapshot prev_snap, all
 * of them, become rows of snapshot snap_row (a version whose every file
 * was carried unchanged: nothing to stage). `files` and `bytes` are what
 * the store says that version holds; a catalog whose rows disagree is
 * refused (STRATA_ECORRUPT). All or nothing. */
int strata_catalog_copy_rows(strata_catalog *c, int64_t snap_row,
			     const char *layer, const char *klass,
			     const uint8_t prev_snap[32], uint64_t files,
			     uint64_t bytes);
/* Drops the staged rows, committed or not. */
void strata_catalog_stage_end(strata_catalog *c);
/* Lineage: `child` (a snapshot row) was made from snapshot object
 * `parent` with `recipe` (may be NULL). */
int strata_catalog_add_source(strata_catalog *c, int64_t child,
			      const uint8_t parent[32], const char *recipe);

/* ---- queries (query.c) ---- */
typedef struct strata_cat_hit {
	const char *dataset;
	uint32_t version;
	const char *path;
	size_t path_len;
	uint64_t size;
	int64_t file_row;
} strata_cat_hit;
typedef int (*strata_cat_hit_cb)(const strata_cat_hit *h, void *payload);
/* Files matching `query` (docs/strata-find.md), in the latest version of
 * each dataset (all versions with `all_versions`), optionally only in
 * `dataset`. */
int strata_catalog_query(strata_catalog *c, const char *query,
			 const char *dataset, bool all_versions,
			 strata_cat_hit_cb cb, void *payload);
/* Every attribute of a file row: key, type (1 str, 2 int, 3 real). */
typedef int (*strata_cat_attr_cb)(const char *key, int type, const char *s,
				  double n, void *payload);
int strata_catalog_file_attrs(strata_catalog *c, int64_t file_row,
			      strata_cat_attr_cb cb, void *payload);
/* The file row of `path` in a snapshot object, ENOTFOUND if absent. */
int strata_catalog_file_row(strata_catalog *c, const uint8_t snap_id[32],
			    const char *path, int64_t *row);
/* Counts of the values of `key` over a snapshot's files. */
int strata_catalog_summary(strata_catalog *c, const uint8_t snap_id[32],
			   const char *key, strata_cat_attr_cb cb,
			   void *payload);
/* Distinct values of an unsealed `key` over a snapshot's files, or over
 * one file when file_row is not 0; cb gets type 1 and the text. */
int strata_catalog_values(strata_catalog *c, const uint8_t snap_id[32],
			  int64_t file_row, const char *key,
			  strata_cat_attr_cb cb, void *payload);
/* Lineage edges of a snapshot object: up (its sources) or down (what was
 * made from it). cb gets the other snapshot's object id and recipe. */
typedef int (*strata_cat_edge_cb)(const uint8_t other[32], const char *recipe,
				  void *payload);
int strata_catalog_edges(strata_catalog *c, const uint8_t snap_id[32],
			 bool down, strata_cat_edge_cb cb, void *payload);
/* Dataset name and version of a snapshot object (name: caller frees). */
int strata_catalog_snap_name(strata_catalog *c, const uint8_t snap_id[32],
			     char **dataset, uint32_t *version);
int strata_catalog_datasets(strata_catalog *c, strata_cat_dataset_cb cb,
			    void *payload);
int strata_catalog_log(strata_catalog *c, const char *dataset,
		       strata_cat_snap_cb cb, void *payload);
/* Every snapshot (for check). */
int strata_catalog_all(strata_catalog *c, strata_cat_snap_cb cb, void *payload);
int strata_catalog_snapshot_count(strata_catalog *c, uint64_t *n);

#endif
