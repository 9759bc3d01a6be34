/*
 * dicom_int.h - shared by the DICOM reader's two files: dicom.c (the
 * parser) and dicom_dict.c (its tables of attributes, transfer syntaxes
 * and character sets).
 */
#ifndef STRATA_DICOM_INT_H
#define STRATA_DICOM_INT_H

#include "common/common.h"

typedef struct dicom__tag {
	uint32_t tag;
	char vr[3];
	const char *keyword;
} dicom__tag;

/* The curated attribute with this tag, or NULL. */
const dicom__tag *dicom__dict_find(uint32_t tag);
/* A transfer syntax's name ("Explicit VR Little Endian"), or NULL. */
const char *dicom__ts_name(const char *uid);
/* A Specific Character Set term: its CS_* kind, and for single-byte sets
 * the Unicode code points of bytes 0xA0-0xFF. */
int dicom__charset(const char *term, const uint16_t **table);

/* Shared with the de-identifier (src/deid): byte order, and whether an
 * explicit VR has the long (4-byte) length form. */
static inline uint16_t dicom__get16(const uint8_t *p, bool big)
{
	unsigned hi = big ? p[0] : p[1], lo = big ? p[1] : p[0];
	return (uint16_t)(hi << 8 | lo);
}

static inline uint32_t dicom__get32(const uint8_t *p, bool big)
{
	return big ? (uint32_t)dicom__get16(p, true) << 16 |
			 dicom__get16(p + 2, true)
		   : (uint32_t)dicom__get16(p + 2, false) << 16 |
			 dicom__get16(p, false);
}

bool dicom__long_vr(const char *vr);

#endif
