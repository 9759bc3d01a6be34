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
	struct catalog_stage *stage; /* strata_catalog_stage_begin */
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

/* Binds the stored form of an attribute's value to parameters iv (v)
 * and iv + 1 (enc) of st: a sealed key's MAC and sealed text, else the
 * plain value and NULL. enc must live until the statement has run. */
int catalog__bind_value(strata_catalog *c, sqlite3_stmt *st, int iv,
			strata_buf *enc, const char *key, int type,
			const char *s, double n);
/* The HMAC naming the group of a[0, n)'s shared attributes, from their
 * serialised form left in b; b->len == 0 if the file has none. inst:
 * NULL, or strata_catalog_key_instance of each key, known already. */
int catalog__group_mac(strata_catalog *c, const strata_cat_attr *a, size_t n,
		       const bool *inst, strata_buf *b, uint8_t mac[32]);
void catalog__stage_free(strata_catalog *c);

#endif
