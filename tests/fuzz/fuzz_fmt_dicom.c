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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_fd = -1;
static char fuzz_path[64];

static int input_file(const uint8_t *data, size_t size)
{
	if (fuzz_fd < 0) {
		snprintf(fuzz_path, sizeof(fuzz_path),
			 "/dev/shm/strata-fuzz-dicom-%ld", (long)getpid());
		fuzz_fd = open(fuzz_path,
			       O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fuzz_fd < 0)
			return -1;
	}
	if (ftruncate(fuzz_fd, 0) < 0)
		return -1;
	if (size && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_attrs *a;
	strata_cuts cuts = {0};
	if (input_file(data, size) || strata_attrs_new(&a))
		abort();
	int rc = strata_dicom_read(fuzz_path, a, &cuts);
	if (!rc)
		for (size_t i = 0; i < cuts.n; i++)
			if (cuts.off[i] >= size)
				abort();
	strata_free(cuts.off);
	strata_attrs_free(a);
	return 0;
}
