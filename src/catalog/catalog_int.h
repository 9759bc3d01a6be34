/*
 * catalog_int.h - internals shared by the catalog's files: the open
 * catalog, sealing and MACs of sensitive values, and SQLite error
 * mapping.
 */
#ifndef STRATA_CATALOG_INT_H
#define STRATA_CATALOG_INT_H

#include <sqlite3.h>

#include "catalog/catalog.h"

struct strata_catalog {
	sqlite3 *db;
	strata_aead *aead;
	strata_hmac *hmac;
	uint8_t mac[32];
	uint8_t
	    nonce_base[12]; /* random per open; a counter makes each unique */
	uint64_t nonce_ctr;
	sqlite3_stmt *ins_file, *ins_file_like;
	sqlite3_stmt *find_grp, *ins_grp, *set_grp;
	sqlite3_stmt *find_like; /* strata_catalog_file_like */
	uint8_t like_snap[32];
	int64_t like_snap_row;
	bool like_snap_ok;
	sqlite3_stmt *ins_attr;
};

/* Map the last SQLite error to a strata code and message. */
int catalog__db_err(strata_catalog *c, const char *what);
int catalog__exec(strata_catalog *c, const char *sql);
/* nonce | AES-256-GCM(value) | tag, with the column name as AAD. */
int catalog__seal(strata_catalog *c, strata_buf *out, const char *col,
		  const void *p, size_t n);
/* *out: NUL-terminated plaintext (caller frees). */
int catalog__unseal(strata_catalog *c, char **out, size_t *outlen,
		    const char *col, const void *blob, int n);
/* HMAC of (col, value) for equality lookups on sealed values. */
void catalog__mac(strata_catalog *c, uint8_t out[32], const char *col,
		  const void *p, size_t n);

#endif
