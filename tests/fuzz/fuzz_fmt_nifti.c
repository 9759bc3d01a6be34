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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;

static void cleanup(void)
{
	if (fd >= 0)
		unlink(path);
}

static int input_file(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		snprintf(path, sizeof(path), "/dev/shm/fuzz-nifti-%ld-XXXXXX",
			 (long)getpid());
		if ((fd = mkstemp(path)) < 0)
			return -1;
		atexit(cleanup);
	}
	if (ftruncate(fd, 0) ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_attrs *a = NULL;
	if (input_file(data, size) || strata_attrs_new(&a))
		abort();
	strata_nifti_read(path, a);
	strata_attrs_free(a);
	return 0;
}
