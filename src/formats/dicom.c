/*
 * dicom.c - dicom reader (being written).
 */
#include "common/common.h"
#include "strata/formats.h"

int strata_dicom_read(const char *path, strata_attrs *out, strata_cuts *cuts)
{
	(void)out;
	(void)cuts;
	return strata_error_set(STRATA_ENOTFOUND, "'%s': no dicom reader yet",
				path);
}
