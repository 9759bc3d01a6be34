/*
 * hts_deid.h - scrub identifiers from genomic file headers (SAM/BAM/CRAM,
 * VCF/BCF) and FASTQ read names, keeping record bodies. The rules per
 * format are in docs/deid-genomics.md; the caller supplies the pseudonyms.
 */
#ifndef STRATA_DEID_HTS_H
#define STRATA_DEID_HTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/strata.h"

/* @RG tags to replace or remove besides SM (which is always replaced). */
#define STRATA_RG_SM 0x001u /* sample: pseudonym(value) */
#define STRATA_RG_DT 0x002u /* run date: removed */
#define STRATA_RG_CN 0x004u /* centre: pseudonym("CN:" value) */
#define STRATA_RG_PU 0x008u /* platform unit: pseudonym("PU:" value) */
#define STRATA_RG_LB 0x010u /* library: pseudonym("LB:" value) */
#define STRATA_RG_DS 0x020u /* description: pseudonym("DS:" value) */
#define STRATA_RG_PI 0x040u /* predicted insert size: removed */
#define STRATA_RG_PM 0x080u /* platform model: pseudonym("PM:" value) */
#define STRATA_RG_BC 0x100u /* barcode: pseudonym("BC:" value) */
#define STRATA_RG_ID 0x200u /* always rename ID (else only when needed) */
#define STRATA_RG_DEFAULT                                                      \
	(STRATA_RG_SM | STRATA_RG_DT | STRATA_RG_CN | STRATA_RG_PU |           \
	 STRATA_RG_LB)

typedef struct strata_hts_deid_opts {
	/*
	 * Pseudonym for an identifier: write a NUL-terminated value of at
	 * most outlen bytes (NUL included) to out. Required. It must be a
	 * function of the identifier alone (same identifier -> same
	 * pseudonym, across files) and print as 1..outlen-1 bytes of
	 * 0x21..0x7e. Sample names (@RG SM, VCF sample columns) are passed
	 * as they are; other @RG values as "<TAG>:<value>" ("LB:lib7",
	 * "ID:run3") so the caller can tell the namespaces apart.
	 */
	void (*pseudonym)(const char *identifier, char *out, size_t outlen,
			  void *payload);
	void *payload;
	/* STRATA_RG_* bits; 0 means STRATA_RG_DEFAULT. SM is implied. */
	unsigned rg_tags;
	/* keep @CO lines (default false: dropped) */
	bool keep_comments;
	/* FASTQ: strip instrument, run and flowcell from Illumina names */
	bool fastq_strip_names;
	/*
	 * CRAM only: a local FASTA (with or without .fai) to decode the input
	 * and encode the output with. NULL: each @SQ's M5 must resolve under
	 * a local REF_PATH/REF_CACHE, or its UR must name a local file.
	 * Never fetched over the network.
	 */
	const char *reference;
} strata_hts_deid_opts;

typedef struct strata_hts_deid_report {
	unsigned samples_renamed;    /* @RG SM values, VCF sample columns */
	unsigned rg_fields_replaced; /* other @RG tags replaced or removed */
	unsigned rg_ids_renamed;     /* @RG IDs renamed (RG:Z rewritten) */
	unsigned pg_cl_scrubbed;     /* @PG CL changed; also @PG DS removed */
	unsigned comments_dropped;   /* @CO lines */
	unsigned sq_ur_removed;	     /* @SQ UR local paths */
	unsigned meta_lines_removed; /* VCF meta lines; SAM unknown types */
	unsigned meta_lines_trimmed; /* VCF ##reference/##source cut */
	unsigned read_names_stripped;
	uint64_t records; /* records (reads, variants) copied */
	/* original first sample identifier, for the caller's subject
	 * linkage; never written to the output */
	char first_sample[128];
} strata_hts_deid_report;

/*
 * strata_hts_deid - scrub `in_path` into `out_path`, same format: SAM,
 * BAM, CRAM, VCF, VCF.gz (BGZF), BCF, FASTQ, FASTQ.gz. The header is
 * replaced; records are copied one by one through htslib (VCF text lines
 * verbatim), so their content stays as it is. The output is written to a
 * temporary file beside out_path and renamed at the end: on failure
 * out_path is untouched. `rep` (may be NULL) is filled on success.
 *
 * Returns 0; STRATA_EINVAL for bad options, an unsupported format, a
 * pseudonym collision or an identifier the rules cannot remove, and for a
 * CRAM whose reference is not available locally; STRATA_ECORRUPT on
 * damaged or truncated input; STRATA_EIO on read/write failure;
 * STRATA_ENOMEM.
 */
int strata_hts_deid(const char *in_path, const char *out_path,
		    const strata_hts_deid_opts *o, strata_hts_deid_report *rep);

/* ---- internal (hts_deid.c, fastq_deid.c) ---- */

/* Strip one FASTQ name line (without the newline) into out; returns
 * true if it changed. Exposed for the unit tests. */
bool strata_deid__fastq_name(const char *line, size_t len, char *out,
			     size_t outlen, size_t *outl);
/* Copy FASTQ in_fd to out_fd (gzip if `gz`), stripping names if asked. */
int strata_deid__fastq(int in_fd, int out_fd, bool gz, const char *path,
		       const strata_hts_deid_opts *o,
		       strata_hts_deid_report *rep);

#endif
