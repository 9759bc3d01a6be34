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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

static void cleanup(void)
{
	if (path[0])
		unlink(path);
}

static int open_once(void)
{
	if (fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "/dev/shm/strata-fuzz-hts-%ld",
		 (long)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_attrs *a = NULL;
	if (open_once() != 0 || ftruncate(fd, 0) != 0)
		abort();
	if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (strata_attrs_new(&a) != 0)
		return 0;
	(void)strata_hts_read(path, a);
	strata_attrs_free(a);
	return 0;
}
