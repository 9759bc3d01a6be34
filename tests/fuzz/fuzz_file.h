/*
 * fuzz_file.h - for fuzz targets whose reader takes a path: the input is
 * written to one per-process file under /dev/shm (rewritten in place for
 * every input, removed at exit). `name` ends the file name, so a target
 * can choose the extension the reader sniffs ("x_R1.fastq").
 */
#ifndef STRATA_FUZZ_FILE_H
#define STRATA_FUZZ_FILE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[128];
static int fuzz_fd = -1;

static void fuzz_remove(void)
{
	unlink(fuzz_path);
}

/* The path holding `data`; aborts if it cannot be written. */
static const char *fuzz_input_file(const char *name, const uint8_t *data,
				   size_t size)
{
	if (fuzz_fd < 0) {
		snprintf(fuzz_path, sizeof(fuzz_path),
			 "/dev/shm/strata-fuzz-%ld-%s", (long)getpid(), name);
		fuzz_fd = open(fuzz_path,
			       O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fuzz_fd < 0)
			abort();
		atexit(fuzz_remove);
	}
	if (ftruncate(fuzz_fd, 0) ||
	    (size && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size))
		abort();
	return fuzz_path;
}

#endif
