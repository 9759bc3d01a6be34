/*
 * deid.h - DICOM de-identification (PS3.15 Annex E Basic Application
 * Level Confidentiality Profile and its options) of one Part 10 file held
 * in memory. The action table is generated from the vendored Table E.1-1;
 * docs/deid.md says what each action does here and what is held back.
 */
#ifndef STRATA_DEID_H
#define STRATA_DEID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/strata.h"

struct strata_buf;

/* Options of PS3.15 E.3, as bit flags. */
enum strata_deid_option {
	STRATA_DEID_RETAIN_SAFE_PRIVATE = 1u << 0,
	STRATA_DEID_RETAIN_UIDS = 1u << 1,
	STRATA_DEID_RETAIN_DEVICE_ID = 1u << 2,
	STRATA_DEID_RETAIN_INSTITUTION_ID = 1u << 3,
	STRATA_DEID_RETAIN_PATIENT_CHARS = 1u << 4,
	STRATA_DEID_RETAIN_LONG_FULL_DATES = 1u << 5,
	STRATA_DEID_RETAIN_LONG_MODIFIED_DATES = 1u << 6,
	STRATA_DEID_CLEAN_DESCRIPTORS = 1u << 7,
	STRATA_DEID_CLEAN_STRUCTURED_CONTENT = 1u << 8,
	STRATA_DEID_CLEAN_GRAPHICS = 1u << 9,
	STRATA_DEID_CLEAN_PIXEL_DATA = 1u << 10, /* marker only: another tool
						    cleaned the pixels */
	STRATA_DEID_CLEAN_VISUAL_FEATURES = 1u << 11, /* marker only */
};

#define STRATA_DEID_ALL_OPTIONS ((1u << 12) - 1)

/*
 * strata_deid_parse_options - turn a comma-separated list of option names
 * ("retain-safe-private,clean-descriptors"; "" or NULL = none) into flags.
 * Names: retain-safe-private, retain-uids, retain-device-id,
 * retain-institution-id, retain-patient-chars, retain-long-full-dates,
 * retain-long-modified-dates, clean-descriptors, clean-structured-content,
 * clean-graphics, clean-pixel-data, clean-visual-features.
 * Returns 0, or STRATA_EINVAL naming an unknown option or the two date
 * options together (*flags untouched then).
 */
int strata_deid_parse_options(const char *list, unsigned *flags);

/*
 * strata_deid_option_name - the name of one flag ("retain-uids"), or NULL
 * for a value that is not exactly one known flag.
 */
const char *strata_deid_option_name(unsigned flag);

typedef struct strata_deid_opts {
	unsigned options;   /* enum strata_deid_option flags */
	const uint8_t *key; /* secret PRF key (never leaves the repository) */
	size_t keylen;	    /* at least 16 bytes */
	const char *domain; /* pseudonymisation domain: different domains
			       give unrelated UIDs, pseudonyms and shifts;
			       NULL = "" */
	const char *patient_pseudonym; /* written as PatientID and
					  PatientName (at most 64 bytes);
					  NULL: derived from the key and
					  the original PatientID */
} strata_deid_opts;

typedef struct strata_deid_report {
	bool held_back;		/* may carry burned-in text: not de-identified
				   output, needs review */
	char reason[256];	/* why held back */
	unsigned removed;	/* elements removed (X) */
	unsigned emptied;	/* elements given a zero-length value (Z) */
	unsigned replaced;	/* dummy, pseudonym, shifted date, cleaned */
	unsigned kept;		/* copied unchanged (not counting sequences) */
	unsigned uids_remapped; /* UID values replaced */
	unsigned private_removed; /* private elements removed */
	unsigned swept; /* elements not in Table E.1-1 removed or emptied by
			   their VR (also counted in removed/emptied) */
	uint64_t pixel_offset;	 /* offset of the top-level Pixel Data value in
				    the OUTPUT, 0 if none */
	uint64_t pixel_length;	 /* its length (encapsulated: items through
				    the sequence delimiter) */
	int32_t date_shift_days; /* applied with modified dates, else 0 */
	char subject_id[128];	 /* the original PatientID (for the caller's
				    subject linkage; never written out) */
	char pseudonym[72];	 /* what was written as PatientID */
} strata_deid_report;

/*
 * strata_deid_dicom - de-identify one DICOM file held in memory (Part 10,
 * or a bare dataset without File Meta). On success returns 0 and *out
 * holds the new Part 10 file (caller owns: strata_buf_release); the
 * report says what was done. A file that may carry burned-in text also
 * returns 0, with rep->held_back and rep->reason set and out empty.
 * Malformed input returns STRATA_ECORRUPT naming the element and offset;
 * bad options or key STRATA_EINVAL. On failure *out is untouched.
 */
int strata_deid_dicom(const uint8_t *in, size_t n, const strata_deid_opts *o,
		      struct strata_buf *out, strata_deid_report *rep);

/*
 * strata_deid_date_shift - the whole-day shift applied to a subject's
 * dates with retain-long-modified-dates: 1 to 10 years back, from
 * HMAC(key, domain || patient_id). For the pseudonym vault's lookup.
 */
int32_t strata_deid_date_shift(const uint8_t *key, size_t keylen,
			       const char *domain, const char *patient_id);

/* The standard's revision the action table was generated from ("2024b"). */
const char *strata_deid_revision(void);

/* The implementation class UID strata writes in (0002,0012). */
#define STRATA_DEID_IMPL_UID "2.25.190823504913296436726393937146520128061"
#define STRATA_DEID_IMPL_VERSION "STRATA_" STRATA_VERSION

#endif
