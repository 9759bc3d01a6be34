/*
 * fuzz_fmt_hts.c - fuzz target for the SAM/BAM/CRAM/VCF/BCF header reader
 * (src/formats/hts.c): each input is written to one per-process file under
 * /dev/shm (rewritten in place) and read with strata_hts_read, which must
 * return 0 or an error, never crash, hang or allocate without bound.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/formats.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_attrs *a = NULL;
	const char *path = fuzz_input_file("input.bam", data, size);
	if (strata_attrs_new(&a) != 0)
		return 0;
	(void)strata_hts_read(path, a);
	strata_attrs_free(a);
	return 0;
}
