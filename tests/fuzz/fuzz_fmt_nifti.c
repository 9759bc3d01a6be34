/*
 * fuzz_fmt_nifti.c - libFuzzer target for the nifti reader: each input is
 * written to one per-process file under /dev/shm (created once, rewritten
 * with pwrite + ftruncate) and read with strata_nifti_read. Any return is
 * fine; crashes, leaks, sanitizer reports and hangs are the findings.
 */
#include <fcntl.h>
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
	strata_attrs *a = NULL;
	const char *path = fuzz_input_file("input.nii", data, size);
	if (strata_attrs_new(&a))
		abort();
	strata_nifti_read(path, a);
	strata_attrs_free(a);
	return 0;
}
