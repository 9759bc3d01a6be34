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

#endif
