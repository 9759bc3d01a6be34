/*
 * formats.h - metadata extraction from biomedical file formats. Each
 * reader fills a list of typed, namespaced attributes (docs/metadata.md)
 * from one file, reading headers only, and never trusts a length from the
 * file without a bound. Readers are independent of the store and the
 * catalog and can be used and tested alone.
 */
#ifndef STRATA_FORMATS_H
#define STRATA_FORMATS_H

#include <stdbool.h>
#include "strata/strata.h"

typedef enum strata_attr_type {
	STRATA_ATTR_STR = 1, /* UTF-8 text */
	STRATA_ATTR_INT = 2,
	STRATA_ATTR_REAL = 3
} strata_attr_type;

typedef struct strata_attr {
	const char *key; /* "dicom.Modality", "genome.build", ... */
	strata_attr_type type;
	const char *s; /* STRATA_ATTR_STR: NUL-terminated UTF-8 */
	int64_t i;
	double d;
} strata_attr;

typedef struct strata_attrs strata_attrs;

int strata_attrs_new(strata_attrs **out);
void strata_attrs_free(strata_attrs *a);
void strata_attrs_clear(strata_attrs *a);
/* Keys and values are copied. A string that is not valid UTF-8 is
 * rejected with STRATA_EINVAL (readers convert first). Adding a key that
 * is present replaces the value. */
int strata_attrs_set_str(strata_attrs *a, const char *key, const char *val,
			 size_t len);
int strata_attrs_set_int(strata_attrs *a, const char *key, int64_t v);
int strata_attrs_set_real(strata_attrs *a, const char *key, double v);
size_t strata_attrs_count(const strata_attrs *a);
/* Borrowed: valid until the list changes or is freed. */
const strata_attr *strata_attrs_at(const strata_attrs *a, size_t i);
const strata_attr *strata_attrs_find(const strata_attrs *a, const char *key);

typedef enum strata_format {
	STRATA_FMT_UNKNOWN = 0,
	STRATA_FMT_DICOM,
	STRATA_FMT_FASTQ, /* plain or gzip/BGZF-compressed */
	STRATA_FMT_SAM,
	STRATA_FMT_BAM,
	STRATA_FMT_CRAM,
	STRATA_FMT_VCF, /* plain or BGZF-compressed */
	STRATA_FMT_BCF,
	STRATA_FMT_NIFTI, /* NIfTI-1 or -2, plain or gzip */
	STRATA_FMT_TIFF	  /* TIFF, BigTIFF, SVS, OME-TIFF */
} strata_format;

/* Guess the format from the first bytes of a file (at least 512 when the
 * file has them) and its name. Cheap: no I/O. */
strata_format strata_format_sniff(const uint8_t *head, size_t n,
				  const char *name);
const char *strata_format_name(strata_format f); /* "dicom", "bam", ... */

/* Where a file's content changes kind, so the chunker can cut there: the
 * start of DICOM Pixel Data, BGZF block boundaries. Offsets ascending. */
typedef struct strata_cuts {
	uint64_t *off;
	size_t n, cap;
} strata_cuts;

/*
 * strata_format_extract - read the metadata of the file at `path`, known
 * (by sniffing) to be of format `f`, into `out` (cleared first). Also sets
 * `format.name`. Optional `cuts` receives format-aware cut points.
 * Returns 0, or an error with a message naming the file and the problem
 * (a damaged or unsupported file): callers store such a file as opaque
 * bytes and go on.
 */
/* Whether a REF_PATH/REF_CACHE entry could reach the network (empty,
 * a URL, http or ftp): CRAM references are only ever read locally. */
bool strata_ref_is_remote(const char *v);

int strata_format_extract(strata_format f, const char *path, strata_attrs *out,
			  strata_cuts *cuts);

/* Process-wide set-up the readers need (htslib must never fetch CRAM
 * references over the network: REF_PATH/REF_CACHE are pinned to local
 * values). Call before starting threads; readers also call it. */
void strata_formats_init(void);

/* The same for a whole file in memory (`name` for messages), for the
 * formats that can (DICOM); STRATA_ENOTFOUND, with no message, for the
 * others. */
int strata_format_extract_mem(strata_format f, const char *name,
			      const uint8_t *p, size_t n, strata_attrs *out,
			      strata_cuts *cuts);
/* The readers, for use alone (same contract as strata_format_extract). */
int strata_dicom_read(const char *path, strata_attrs *out, strata_cuts *cuts);
/* The same, from a whole file in memory; `name` is for messages. */
int strata_dicom_read_mem(const char *name, const uint8_t *p, size_t n,
			  strata_attrs *out, strata_cuts *cuts);
int strata_fastq_read(const char *path, strata_attrs *out);
int strata_hts_read(const char *path,
		    strata_attrs *out); /* SAM/BAM/CRAM/VCF/BCF */
int strata_nifti_read(const char *path, strata_attrs *out);
int strata_tiff_read(const char *path, strata_attrs *out);

#endif
