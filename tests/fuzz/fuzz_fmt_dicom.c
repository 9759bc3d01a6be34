/*
 * fuzz_fmt_dicom.c - libFuzzer target for the DICOM reader: the input is
 * written to a per-process file under /dev/shm and read with
 * strata_dicom_read, and read from memory with strata_dicom_read_mem; any
 * result is fine but a crash, a reported cut outside the file, or the two
 * readers disagreeing.
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
	strata_attrs *b;
	strata_cuts mc = {0};
	if (strata_attrs_new(&b))
		abort();
	if (strata_dicom_read_mem("input.dcm", data, size, b, &mc) != rc ||
	    mc.n != cuts.n || strata_attrs_count(b) != strata_attrs_count(a))
		abort();
	for (size_t i = 0; i < mc.n; i++)
		if (mc.off[i] != cuts.off[i])
			abort();
	strata_free(mc.off);
	strata_attrs_free(b);
	strata_free(cuts.off);
	strata_attrs_free(a);
	return 0;
}
