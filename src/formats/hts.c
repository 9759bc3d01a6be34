/*
 * hts.c - hts reader (being written).
 */
#include "common/common.h"
#include "strata/formats.h"

int strata_hts_read(const char *path, strata_attrs *out)
{
	(void)out;
	return strata_error_set(STRATA_ENOTFOUND, "'%s': no hts reader yet",
				path);
}
