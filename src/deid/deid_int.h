/*
 * deid_int.h - shared by the DICOM de-identifier's files: the rule tables
 * generated at build time from the vendored PS3.15 Table E.1-1 and the
 * PS3.6 data dictionary (gen_annexe.c writes annexe_table.c), and the
 * helpers dicom_deid.c and dicom_write.c share.
 */
#ifndef STRATA_DEID_INT_H
#define STRATA_DEID_INT_H

#include "common/common.h"
#include "deid/deid.h"

/* Action codes of Table E.1-1a, compound codes kept as written. */
enum deid__code {
	DEID_NONE = 0, /* empty cell: no override */
	DEID_D,
	DEID_Z,
	DEID_X,
	DEID_K,
	DEID_C,
	DEID_U,
	DEID_ZD,
	DEID_XZ,
	DEID_XD,
	DEID_XZD,
	DEID_XZU
};

/* Columns of the table after basicProfile, in the table's order. */
enum deid__col {
	DEID_COL_BASIC,
	DEID_COL_SAFE_PRIVATE,
	DEID_COL_UIDS,
	DEID_COL_DEVICE,
	DEID_COL_INSTITUTION,
	DEID_COL_PATIENT_CHARS,
	DEID_COL_FULL_DATES,
	DEID_COL_MODIF_DATES,
	DEID_COL_CLEAN_DESC,
	DEID_COL_CLEAN_STRUCT,
	DEID_COL_CLEAN_GRAPH,
	DEID_NCOLS
};

/* One row of Table E.1-1: (tag & mask) == tag matches. */
typedef struct deid__rule {
	uint32_t tag, mask;
	uint8_t code[DEID_NCOLS];
} deid__rule;

/* A data dictionary entry: the tags g in [glo,ghi] with (g-glo) % gstep
 * == 0 and e in [elo,ehi]; vr is "" when the dictionary has none. */
typedef struct deid__vrent {
	uint16_t glo, ghi, gstep, elo, ehi;
	char vr[3];
} deid__vrent;

extern const char deid__revision[];
extern const deid__rule deid__rules[]; /* exact tags, sorted */
extern const size_t deid__nrules;
extern const deid__rule deid__wild_rules[]; /* (50XX,XXXX), (60XX,3000) */
extern const size_t deid__nwild_rules;
extern const deid__rule deid__private_rule; /* (GGGG,EEEE) GGGG odd */
extern const deid__vrent deid__vrs[];	    /* single tags, sorted */
extern const size_t deid__nvrs;
extern const deid__vrent deid__vr_ranges[]; /* repeating groups, ranges */
extern const size_t deid__nvr_ranges;

/* The Table E.1-1 row for a standard tag, or NULL. */
const deid__rule *deid__rule_find(uint32_t tag);
/* The PS3.6 VR of a standard tag ("" when unknown or ambiguous). */
const char *deid__vr_find(uint32_t tag);

/* ---- the rewriter's state (dicom_deid.c sets it up, dicom_walk.c
 * walks the dataset) ---- */

#define DEID_MAX_DEPTH 32	/* nested sequences */
#define DEID_MAX_ELEMS 4000000u /* element headers per file */
#define DEID_UNDEF 0xffffffffu
#define DEID_MAX_INSERTS 16

typedef struct deid__syntax {
	bool explicit_vr, big;
} deid__syntax;

/* An attribute strata writes at the top level (markers, pseudonyms),
 * replacing an input element with the same tag. */
typedef struct deid__insert {
	uint32_t tag;
	bool done;
} deid__insert;

typedef struct deid__ctx {
	const uint8_t *p; /* the dataset stream (inflated when deflated) */
	size_t n;
	uint64_t base; /* file offset of p[0], for messages */
	bool inflated; /* offsets in messages are in the inflated stream */
	deid__syntax out_sx;
	strata_buf *o; /* the output dataset */
	unsigned flags;
	strata_hmac *h;
	const uint8_t *key; /* the caller's, for the date shift */
	size_t keylen;
	const char *domain;
	strata_deid_report *rep;
	int32_t shift; /* days, with modified dates */
	char pseudonym[72];
	unsigned elems;
	strata_buf scratch; /* a value being built */
	strata_buf macbuf;  /* HMAC input */
	bool have_pixel;
	deid__insert ins[DEID_MAX_INSERTS];
	int nins;
	char sop_uid[68];   /* as written in (0008,0018) */
	char sop_class[68]; /* from File Meta when the dataset has none */
	bool have_sop_uid;
} deid__ctx;

/* Top-level values read before rewriting (trimmed, NUL-terminated). */
typedef struct deid__top {
	char patient_id[128];
	char modality[20];
	char sop_class[68];
	char bia[20];
	bool have_bia;
	bool have_sop_uid; /* (0008,0018) present */
} deid__top;

/* Read the top-level values the decisions need, without writing. */
int deid__scan(deid__ctx *c, deid__syntax sx, deid__top *top);
/* Walk the dataset p[pos..n) at the top level, writing the output. */
int deid__walk(deid__ctx *c, deid__syntax sx);
/* The new UID for `uid` (NUL-terminated, trimmed); out holds 68 bytes. */
int deid__uid(deid__ctx *c, const char *uid, size_t len, char *out);
/* Write the top-level inserts with a tag below `tag` (all: UINT32_MAX);
 * `present` is the input element with that tag, if any, so that its
 * value can be appended to (De-identification Method). */
int deid__flush_inserts(deid__ctx *c, uint32_t tag);
/* Write one top-level insert; old/oldlen is the replaced value. */
int deid__write_insert(deid__ctx *c, uint32_t tag, const uint8_t *old,
		       size_t oldlen);
/* Write the items of De-identification Method Code Sequence (0012,0064). */
int deid__write_method_items(deid__ctx *c);

/* Element writers in the output syntax. */
int deid__put_header(deid__ctx *c, uint32_t tag, const char *vr, uint32_t len);
int deid__put_str(deid__ctx *c, uint32_t tag, const char *vr, const char *s,
		  size_t len);

/* Private attributes kept by Retain Safe Private (deid_tables.c). */
bool deid__safe_private(const char *creator, uint16_t group, uint8_t elem);
bool deid__safe_creator(const char *creator);
/* Non-table text attributes known to carry no identity (technical). */
bool deid__technical_text(uint32_t tag);
/* UI attributes that name a class or syntax, never an instance. */
bool deid__structural_uid(uint32_t tag);

#endif
