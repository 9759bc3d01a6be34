/*
 * genome_build.h - reference build detection shared by the SAM/BAM/CRAM
 * and VCF/BCF readers (hts.c): from a contig dictionary and the assembly
 * names a header declares, the genome.* attributes (build, evidence,
 * naming style, decoy/alt/HLA markers, dictionary fingerprint).
 */
#ifndef STRATA_GENOME_BUILD_H
#define STRATA_GENOME_BUILD_H

#include "strata/formats.h"

typedef struct strata_contig {
	const char *name; /* borrowed, NUL-terminated */
	int64_t len;	  /* -1 when the header gives no length */
	const char *md5;  /* borrowed, or NULL */
} strata_contig;

/*
 * strata_genome__attrs - set genome.contigs, genome.total_length,
 * genome.build, genome.build_flavour, genome.build_evidence,
 * genome.naming, genome.has_decoy, genome.has_alt, genome.has_hla and
 * genome.dict_fingerprint from `n` contigs and `nhints` declared assembly
 * strings ("@SQ AS:NCBI37", "##reference=...", used only when no primary
 * chromosome has a length). Returns 0 or STRATA_ENOMEM.
 */
int strata_genome__attrs(strata_attrs *out, const strata_contig *c, size_t n,
			 const char *const *hints, size_t nhints);

/* Set a string attribute from untrusted header text: non-UTF-8 bytes and
 * control characters become '?', text past 4 KiB is cut and ends in "…". */
int strata_genome__set_str(strata_attrs *out, const char *key, const char *s,
			   size_t n);

#endif
