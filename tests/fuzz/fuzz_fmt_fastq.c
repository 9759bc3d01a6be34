/*
 * fuzz_fmt_fastq.c - libFuzzer target for the FASTQ reader (plain, gzip,
 * BGZF): each input is written to one per-process file under /dev/shm
 * (rewritten in place) and read with strata_fastq_read, which must return
 * 0 or an error, never crash or hang; an accepted file has an exact count
 * and read lengths in order.
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

static int64_t int_attr(const strata_attrs *a, const char *key, int64_t dflt)
{
	const strata_attr *t = strata_attrs_find(a, key);
	if (!t)
		return dflt;
	if (t->type != STRATA_ATTR_INT)
		abort();
	return t->i;
}

static void check(const strata_attrs *a)
{
	const strata_attr *m = strata_attrs_find(a, "seq.read_count_method");
	int64_t n = int_attr(a, "seq.read_count", -1);
	int64_t len = int_attr(a, "seq.read_length", 0);
	if (!m || strcmp(m->s, "exact") || n < 0)
		abort();
	if (int_attr(a, "seq.read_length_min", 0) > len ||
	    int_attr(a, "seq.read_length_max", 0) < len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strata_attrs *a;
	/* "_R1" exercises the mate-from-file-name fallback */
	const char *path = fuzz_input_file("input_R1.fastq", data, size);
	if (strata_attrs_new(&a))
		abort();
	if (!strata_fastq_read(path, a))
		check(a);
	strata_attrs_free(a);
	return 0;
}
