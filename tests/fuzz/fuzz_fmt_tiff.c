/*
 * fuzz_fmt_tiff.c - libFuzzer target for the tiff reader: each input is
 * written to one per-process file under /dev/shm (created once, rewritten
 * with pwrite + ftruncate) and read with strata_tiff_read. Any return is
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
	const char *path = fuzz_input_file("input.tif", data, size);
	if (strata_attrs_new(&a))
		abort();
	strata_tiff_read(path, a);
	strata_attrs_free(a);
	return 0;
}
