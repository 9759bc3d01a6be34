/*
 * fastq.c - fastq reader (being written).
 */
#include "common/common.h"
#include "strata/formats.h"

int strata_fastq_read(const char *path, strata_attrs *out)
{
	(void)out;
	return strata_error_set(STRATA_ENOTFOUND, "'%s': no fastq reader yet",
				path);
}
