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
int strata_catalog_add_file(strata_catalog *c, int64_t snap_row,
			    const char *path, size_t pathlen, uint64_t size,
			    const uint8_t sha256[32], const char *layer,
			    const char *klass);
int strata_catalog_datasets(strata_catalog *c, strata_cat_dataset_cb cb,
			    void *payload);
int strata_catalog_log(strata_catalog *c, const char *dataset,
		       strata_cat_snap_cb cb, void *payload);
/* Every snapshot (for check). */
int strata_catalog_all(strata_catalog *c, strata_cat_snap_cb cb, void *payload);
int strata_catalog_snapshot_count(strata_catalog *c, uint64_t *n);

#endif
