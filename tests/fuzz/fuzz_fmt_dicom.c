/*
 * fuzz_fmt_dicom.c - libFuzzer target for the DICOM reader: the input is
 * written to a per-process file under /dev/shm (the reader takes a path)
 * and read with strata_dicom_read; any result is fine but a crash, and a
 * reported cut must lie inside the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common.h"
#include "strata/formats.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_attrs *a;
	strata_cuts cuts = {0};
	const char *path = fuzz_input_file("input.dcm", data, size);
	if (strata_attrs_new(&a))
		abort();
	int rc = strata_dicom_read(path, a, &cuts);
	if (!rc)
		for (size_t i = 0; i < cuts.n; i++)
			if (cuts.off[i] >= size)
				abort();
	strata_free(cuts.off);
	strata_attrs_free(a);
	return 0;
}
