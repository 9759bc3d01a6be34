/*
 * nifti.c - nifti reader (being written).
 */
#include "common/common.h"
#include "strata/formats.h"

int strata_nifti_read(const char *path, strata_attrs *out)
{
	(void)out;
	return strata_error_set(STRATA_ENOTFOUND, "'%s': no nifti reader yet",
				path);
}
