/*
 * test_fastq.c - cmocka tests for the FASTQ reader (src/formats/fastq.c):
 * exact values for the sample files, read-name styles, quality encodings,
 * plain/gzip/multi-member/BGZF containers, the sampled estimate, and
 * hostile inputs (every truncation, bad lines, corrupt gzip) as errors.
 */
#include <zlib.h>

#include "../unit/unit.h"
#include "strata/formats.h"

static char *tmp;
static char testdata[PATH_MAX / 2];

/* ---- helpers ---- */

static const char *tpath(const char *name)
{
	static char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", tmp, name);
	return p;
}

static const char *dpath(const char *name)
{
	static char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/fastq/%s", testdata, name);
	return p;
}

static void put_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* gzip p[0..n) as one member; with `bgzf`, add the BGZF "BC" subfield. */
static size_t gz_member(uint8_t *out, size_t cap, const void *p, size_t n,
			bool bgzf)
{
	z_stream z = {0};
	gz_header h = {0};
	uint8_t extra[6] = {'B', 'C', 2, 0, 0, 0};
	assert_int_equal(
	    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	if (bgzf) {
		h.extra = extra;
		h.extra_len = sizeof(extra);
		assert_int_equal(deflateSetHeader(&z, &h), Z_OK);
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	return len;
}

/* Write p as gzip members of at most `piece` input bytes each. */
static size_t put_gz(const char *path, const char *p, size_t piece, bool bgzf)
{
	size_t n = strlen(p), cap = n * 2 + 64 * (n / piece + 3), len = 0;
	uint8_t *out = malloc(cap);
	assert_non_null(out);
	size_t o = 0;
	do {
		size_t k = n - o < piece ? n - o : piece;
		len += gz_member(out + len, cap - len, p + o, k, bgzf);
		o += k;
	} while (o < n);
	if (bgzf) /* the BGZF end-of-file marker: an empty member */
		len += gz_member(out + len, cap - len, "", 0, true);
	put_file(path, out, len);
	free(out);
	return len;
}

static strata_attrs *read_ok(const char *path)
{
	strata_attrs *a;
	assert_int_equal(strata_attrs_new(&a), 0);
	int rc = strata_fastq_read(path, a);
	if (rc)
		fail_msg("%s: %s", path, strata_error_msg());
	return a;
}

static void read_bad(const char *path, const char *msg_part)
{
	strata_attrs *a;
	assert_int_equal(strata_attrs_new(&a), 0);
	int rc = strata_fastq_read(path, a);
	if (rc == 0)
		fail_msg("%s: accepted", path);
	assert_true(rc == STRATA_ECORRUPT || rc == STRATA_EINVAL);
	if (msg_part && !strstr(strata_error_msg(), msg_part))
		fail_msg("message '%s' lacks '%s'", strata_error_msg(),
			 msg_part);
	assert_non_null(strstr(strata_error_msg(), path));
	strata_attrs_free(a);
}

static void want_str(const strata_attrs *a, const char *key, const char *v)
{
	const strata_attr *t = strata_attrs_find(a, key);
	if (!v) {
		if (t)
			fail_msg("%s present", key);
		return;
	}
	if (!t)
		fail_msg("%s missing", key);
	assert_int_equal(t->type, STRATA_ATTR_STR);
	assert_string_equal(t->s, v);
}

static void want_int(const strata_attrs *a, const char *key, int64_t v)
{
	const strata_attr *t = strata_attrs_find(a, key);
	if (!t)
		fail_msg("%s missing", key);
	assert_int_equal(t->type, STRATA_ATTR_INT);
	assert_int_equal(t->i, v);
}

static int64_t get_int(const strata_attrs *a, const char *key)
{
	const strata_attr *t = strata_attrs_find(a, key);
	assert_non_null(t);
	assert_int_equal(t->type, STRATA_ATTR_INT);
	return t->i;
}

static void want_real(const strata_attrs *a, const char *key, double v)
{
	const strata_attr *t = strata_attrs_find(a, key);
	if (!t)
		fail_msg("%s missing", key);
	assert_int_equal(t->type, STRATA_ATTR_REAL);
	assert_float_equal(t->d, v, 1e-9);
}

/* ---- the sample files ---- */

static void test_clock_r1(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(dpath("clock_10K_R1.fastq.gz"));
	want_str(a, "seq.compression", "gzip");
	want_str(a, "seq.read_name_style", "casava1.8");
	want_str(a, "seq.platform", "ILLUMINA");
	want_str(a, "seq.instrument", "HWI-D00436");
	want_int(a, "seq.run", 407);
	want_str(a, "seq.flowcell", "CCAETANXX");
	want_int(a, "seq.lane", 1);
	want_str(a, "seq.index", "CGATGTTT");
	want_int(a, "seq.read_number", 1);
	want_int(a, "seq.mate", 1);
	want_str(a, "seq.mate_source", "header");
	want_int(a, "seq.read_length", 76);
	want_int(a, "seq.read_length_min", 76);
	want_int(a, "seq.read_length_max", 76);
	want_str(a, "seq.quality_encoding", "phred33");
	want_int(a, "seq.quality_min", '#');
	want_int(a, "seq.quality_max", 'G');
	want_real(a, "seq.gc_percent", 32.534773854798594);
	want_int(a, "seq.read_count", 10000);
	want_str(a, "seq.read_count_method", "exact");
	want_str(a, "seq.accession", NULL);
	strata_attrs_free(a);
}

/* Read number 3 (index read counted): mate comes from the file name. */
static void test_clock_r2(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(dpath("clock_10K_R2.fastq.gz"));
	want_str(a, "seq.instrument", "HWI-D00436");
	want_int(a, "seq.read_number", 3);
	want_int(a, "seq.mate", 2);
	want_str(a, "seq.mate_source", "file name");
	want_int(a, "seq.read_count", 10000);
	want_real(a, "seq.gc_percent", 30.044517807122848);
	strata_attrs_free(a);
}

static void test_bsseq_srr(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(dpath("BS-seq_10K_R1.fastq.gz"));
	want_str(a, "seq.read_name_style", "srr");
	want_str(a, "seq.accession", "SRR24827378");
	want_str(a, "seq.platform", "ILLUMINA");
	want_str(a, "seq.instrument", "A00690");
	want_int(a, "seq.run", 224);
	want_str(a, "seq.flowcell", "H7GC5DRX2");
	want_int(a, "seq.lane", 1);
	want_int(a, "seq.mate", 1);
	want_str(a, "seq.mate_source", "header");
	want_str(a, "seq.index", NULL);
	want_int(a, "seq.read_length", 65);
	/* binned qualities, all '?' (Q30): still Phred+33 */
	want_str(a, "seq.quality_encoding", "phred33");
	want_int(a, "seq.quality_min", '?');
	want_int(a, "seq.quality_max", '?');
	want_int(a, "seq.read_count", 10000);
	strata_attrs_free(a);
}

static void test_illumina_old(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(dpath("illumina.fastq.gz"));
	want_str(a, "seq.read_name_style", "illumina-old");
	want_str(a, "seq.platform", "ILLUMINA");
	want_str(a, "seq.instrument", "SEQ");
	want_int(a, "seq.lane", 1);
	want_str(a, "seq.index", NULL); /* "#0": not indexed */
	want_int(a, "seq.mate", 1);
	want_int(a, "seq.read_length", 101);
	want_str(a, "seq.quality_encoding", "phred33");
	want_int(a, "seq.read_count", 100);
	want_str(a, "seq.flowcell", NULL);
	strata_attrs_free(a);
}

static void test_q64(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(dpath("reads_q64.fq.gz"));
	want_str(a, "seq.read_name_style", "other");
	want_str(a, "seq.platform", NULL);
	want_str(a, "seq.instrument", NULL);
	want_int(a, "seq.mate", 1);
	want_int(a, "seq.read_length", 100);
	want_str(a, "seq.quality_encoding", "phred64");
	want_int(a, "seq.quality_min", 'D');
	want_int(a, "seq.quality_max", 'h');
	want_real(a, "seq.gc_percent", 41.1);
	want_int(a, "seq.read_count", 500);
	strata_attrs_free(a);
}

/* ---- synthetic files ---- */

static void one_record(const char *name, const char *header, const char *seq,
		       const char *qual)
{
	char buf[1024];
	int n =
	    snprintf(buf, sizeof(buf), "%s\n%s\n+\n%s\n", header, seq, qual);
	put_file(tpath(name), buf, (size_t)n);
}

static void test_name_styles(void **state)
{
	(void)state;
	static const struct {
		const char *hdr, *style, *instr, *flowcell, *index;
		int64_t run, lane, mate;
	} t[] = {
	    {"@M01234:55:000000000-A1B2C:1:1101:15589:1331 2:Y:0:GATCAG",
	     "casava1.8", "M01234", "000000000-A1B2C", "GATCAG", 55, 1, 2},
	    {"@NB501:12:HXYZ:4:11101:1:2:ACGTACGT 1:N:0:ACG+TTT", "casava1.8",
	     "NB501", "HXYZ", "ACG+TTT", 12, 4, 1},
	    {"@A01:3:HF:2:1101:1:1 1:N:0:7", "casava1.8", "A01", "HF", "7", 3,
	     2, 1},
	    {"@A01:3:HF:2:1101:1:1/2", "casava1.8", "A01", "HF", NULL, 3, 2, 2},
	    {"@HWUSI-EAS100R:6:73:941:1973#ATCACG/2", "illumina-old",
	     "HWUSI-EAS100R", NULL, "ATCACG", -1, 6, 2},
	    {"@SRR001666.1 071112_SLXA-EAS1_s_7:5:1:817:345 length=36", "srr",
	     "071112_SLXA-EAS1_s_7", NULL, NULL, -1, 5, 0},
	    {"@ERR123.7", "srr", NULL, NULL, NULL, -1, -1, 0},
	    {"@read1 some text", "other", NULL, NULL, NULL, -1, -1, 0},
	    {"@x/2", "other", NULL, NULL, NULL, -1, -1, 2},
	    {"@A:B:C:D:E:F:G", "other", NULL, NULL, NULL, -1, -1, 0},
	    {"@", "other", NULL, NULL, NULL, -1, -1, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		one_record("n.fastq", t[i].hdr, "ACGT", "IIII");
		strata_attrs *a = read_ok(tpath("n.fastq"));
		want_str(a, "seq.read_name_style", t[i].style);
		want_str(a, "seq.instrument", t[i].instr);
		want_str(a, "seq.flowcell", t[i].flowcell);
		want_str(a, "seq.index", t[i].index);
		if (t[i].run >= 0)
			want_int(a, "seq.run", t[i].run);
		else
			assert_null(strata_attrs_find(a, "seq.run"));
		if (t[i].lane >= 0)
			want_int(a, "seq.lane", t[i].lane);
		else
			assert_null(strata_attrs_find(a, "seq.lane"));
		if (t[i].mate)
			want_int(a, "seq.mate", t[i].mate);
		else
			assert_null(strata_attrs_find(a, "seq.mate"));
		want_str(a, "seq.platform", t[i].instr ? "ILLUMINA" : NULL);
		strata_attrs_free(a);
	}
}

/* Header bytes that are not UTF-8 are dropped, not passed on. */
static void test_name_binary(void **state)
{
	(void)state;
	one_record("b.fastq", "@M\xff\xfe:55:FC:1:1101:1:1 1:N:0:AC", "A", "I");
	strata_attrs *a = read_ok(tpath("b.fastq"));
	want_str(a, "seq.read_name_style", "other");
	want_str(a, "seq.instrument", NULL);
	want_int(a, "seq.read_count", 1);
	strata_attrs_free(a);
}

static void test_mate_from_file_name(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int64_t mate;
	} t[] = {
	    {"s_S1_L001_R2_001.fastq", 2},
	    {"s_R1.fq", 1},
	    {"SRR9_2.fastq", 2},
	    {"SRR9_1.fq", 1},
	    {"s_R3.fastq", 0},
	    {"s_1x.fastq", 0},
	    {"run_2_b.fastq", 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		one_record(t[i].name, "@r", "AC", "II");
		strata_attrs *a = read_ok(tpath(t[i].name));
		if (t[i].mate) {
			want_int(a, "seq.mate", t[i].mate);
			want_str(a, "seq.mate_source", "file name");
		} else {
			assert_null(strata_attrs_find(a, "seq.mate"));
		}
		strata_attrs_free(a);
		unlink(tpath(t[i].name));
	}
}

static void test_quality_rule(void **state)
{
	(void)state;
	static const struct {
		const char *qual, *enc;
	} t[] = {
	    {"!!!!", "phred33"},  {"::~~", "phred33"}, {"@@KK", "phred33"},
	    {";;hh", "solexa64"}, {"@@LL", "phred64"}, {"BBhh", "phred64"},
	    {"????", "phred33"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		one_record("q.fastq", "@r", "ACGT", t[i].qual);
		strata_attrs *a = read_ok(tpath("q.fastq"));
		want_str(a, "seq.quality_encoding", t[i].enc);
		strata_attrs_free(a);
	}
}

static const char small[] = "@r1 x\nACGTN\n+\nIIIII\n"
			    "@r2\nGG\n+r2\n##\n"
			    "@r3\n\n+\n\n"
			    "@r4\nacgtac\n+\n!!!!!~\n";

static void check_small(const strata_attrs *a)
{
	want_int(a, "seq.read_count", 4);
	want_str(a, "seq.read_count_method", "exact");
	want_int(a, "seq.read_length", 5);
	want_int(a, "seq.read_length_min", 0);
	want_int(a, "seq.read_length_max", 6);
	want_int(a, "seq.quality_min", '!');
	want_int(a, "seq.quality_max", '~');
	want_real(a, "seq.gc_percent", 100.0 * 7 / 12);
}

static void test_plain_crlf_containers(void **state)
{
	(void)state;
	char crlf[sizeof(small) * 2];
	size_t n = 0;
	for (const char *p = small; *p; p++) {
		if (*p == '\n')
			crlf[n++] = '\r';
		crlf[n++] = *p;
	}
	put_file(tpath("s.fastq"), small, strlen(small));
	strata_attrs *a = read_ok(tpath("s.fastq"));
	check_small(a);
	want_str(a, "seq.compression", "none");
	strata_attrs_free(a);

	put_file(tpath("crlf.fastq"), crlf, n);
	a = read_ok(tpath("crlf.fastq"));
	check_small(a);
	strata_attrs_free(a);

	/* no final newline; then trailing blank lines */
	put_file(tpath("nonl.fastq"), small, strlen(small) - 1);
	a = read_ok(tpath("nonl.fastq"));
	check_small(a);
	strata_attrs_free(a);
	const char *tail = "@a\nA\n+\nI\n\n\r\n";
	put_file(tpath("tail.fastq"), tail, strlen(tail));
	a = read_ok(tpath("tail.fastq"));
	want_int(a, "seq.read_count", 1);
	strata_attrs_free(a);

	put_gz(tpath("s.fastq.gz"), small, 1 << 20, false);
	a = read_ok(tpath("s.fastq.gz"));
	check_small(a);
	want_str(a, "seq.compression", "gzip");
	strata_attrs_free(a);

	/* members split mid-line, as multi-member gzip and BGZF do */
	put_gz(tpath("m.fastq.gz"), small, 7, false);
	a = read_ok(tpath("m.fastq.gz"));
	check_small(a);
	strata_attrs_free(a);

	put_gz(tpath("b.fastq.gz"), small, 5, true);
	a = read_ok(tpath("b.fastq.gz"));
	check_small(a);
	want_str(a, "seq.compression", "bgzf");
	strata_attrs_free(a);
}

static void test_empty(void **state)
{
	(void)state;
	put_file(tpath("e.fastq"), "", 0);
	strata_attrs *a = read_ok(tpath("e.fastq"));
	want_int(a, "seq.read_count", 0);
	want_str(a, "seq.read_count_method", "exact");
	assert_null(strata_attrs_find(a, "seq.read_length"));
	strata_attrs_free(a);
	put_gz(tpath("e.fastq.gz"), "", 1, false);
	a = read_ok(tpath("e.fastq.gz"));
	want_int(a, "seq.read_count", 0);
	strata_attrs_free(a);
}

/* ---- the estimate ---- */

/* About `bytes` of records of varying length; returns the count. */
static size_t make_reads(char **out, size_t bytes)
{
	char *p = malloc(bytes + 4096);
	size_t n = 0, count = 0;
	uint64_t s = 42;
	assert_non_null(p);
	while (n < bytes) {
		uint64_t r = unit_rand(&s);
		size_t len = 100 + (size_t)(r % 51);
		n += (size_t)snprintf(p + n, 64, "@A1:1:FC:1:1101:%zu:1\n",
				      count);
		for (size_t i = 0; i < len; i++) {
			r = unit_rand(&s);
			p[n + i] = "ACGT"[r & 3];
			p[n + len + 3 + i] = (char)('#' + (r >> 8) % 40);
		}
		memcpy(p + n + len, "\n+\n", 3);
		n += 2 * len + 3;
		p[n++] = '\n';
		count++;
	}
	p[n] = '\0';
	*out = p;
	return count;
}

static void check_estimate(const char *path, size_t count)
{
	strata_attrs *a = read_ok(path);
	int64_t est = get_int(a, "seq.read_count");
	const strata_attr *m = strata_attrs_find(a, "seq.read_count_method");
	assert_non_null(m);
	assert_non_null(strstr(m->s, "estimated from first 4 MiB ("));
	if (est < (int64_t)count * 98 / 100 || est > (int64_t)count * 102 / 100)
		fail_msg("estimate %" PRId64 " for %zu reads", est, count);
	want_int(a, "seq.read_length_min", 100);
	want_int(a, "seq.read_length_max", 150);
	strata_attrs_free(a);
}

static void test_estimate(void **state)
{
	(void)state;
	char *reads;
	size_t count = make_reads(&reads, 24u << 20);
	put_file(tpath("big.fastq"), reads, strlen(reads));
	put_gz(tpath("big.fastq.gz"), reads, 1u << 20, false);
	put_file(tpath("tiny.fastq"), small, strlen(small));
	free(reads);

	assert_int_equal(setenv("STRATA_FASTQ_EXACT_MAX_BYTES", "1000", 1), 0);
	check_estimate(tpath("big.fastq"), count);
	check_estimate(tpath("big.fastq.gz"), count);
	/* a file read to its end within the sample is counted exactly */
	strata_attrs *a = read_ok(tpath("tiny.fastq"));
	want_int(a, "seq.read_count", 4);
	want_str(a, "seq.read_count_method", "exact");
	strata_attrs_free(a);
	/* above the default bound, but told to count exactly */
	assert_int_equal(
	    setenv("STRATA_FASTQ_EXACT_MAX_BYTES", "1073741824", 1), 0);
	a = read_ok(tpath("big.fastq.gz"));
	want_int(a, "seq.read_count", (int64_t)count);
	want_str(a, "seq.read_count_method", "exact");
	strata_attrs_free(a);
	assert_int_equal(unsetenv("STRATA_FASTQ_EXACT_MAX_BYTES"), 0);
	unlink(tpath("big.fastq"));
	unlink(tpath("big.fastq.gz"));
}

/* ---- hostile inputs ---- */

/* Every prefix of a plain file: accepted exactly when it ends at a record
 * boundary (the final newline may be missing), else an error. */
static void test_truncations_plain(void **state)
{
	(void)state;
	size_t n = strlen(small);
	for (size_t k = 0; k <= n; k++) {
		put_file(tpath("t.fastq"), small, k);
		strata_attrs *a;
		assert_int_equal(strata_attrs_new(&a), 0);
		int rc = strata_fastq_read(tpath("t.fastq"), a);
		size_t lines = 0;
		for (size_t i = 0; i < k; i++)
			lines += small[i] == '\n';
		bool at_line = k == 0 || small[k - 1] == '\n';
		bool whole = (lines % 4 == 0 && at_line) ||
			     (lines % 4 == 3 && small[k] == '\n' && !at_line);
		if (whole) {
			if (rc)
				fail_msg("prefix %zu: %s", k,
					 strata_error_msg());
			want_int(a, "seq.read_count",
				 (int64_t)((lines + 1) / 4));
		} else if (rc != STRATA_ECORRUPT) {
			fail_msg("prefix %zu accepted", k);
		}
		strata_attrs_free(a);
	}
}

/* Every prefix of a gzip file but the whole is a truncated stream. */
static void test_truncations_gz(void **state)
{
	(void)state;
	size_t n = 0;
	put_gz(tpath("g.fastq.gz"), small, 9, true);
	uint8_t *gz = unit_slurp(tpath("g.fastq.gz"), &n), eof[64];
	assert_non_null(gz);
	size_t eof_len = gz_member(eof, sizeof(eof), "", 0, true);
	for (size_t k = 1; k < n; k++) {
		put_file(tpath("t.fastq.gz"), gz, k);
		if (k != n - eof_len) {
			read_bad(tpath("t.fastq.gz"), NULL);
			continue;
		}
		/* BGZF without its end-of-file marker is still whole */
		strata_attrs *a = read_ok(tpath("t.fastq.gz"));
		check_small(a);
		strata_attrs_free(a);
	}
	free(gz);
}

static void test_bad_records(void **state)
{
	(void)state;
	static const struct {
		const char *data, *msg;
	} t[] = {
	    {"r1\nA\n+\nI\n", "record 1, byte 0: header line does not"},
	    {"@r1\nA\n+\nI\n@r2\nAC\n-\nII\n", "record 2, byte 17: separator"},
	    {"@r1\nA\n+\nI\n@r2\nAC\n+\nI\n",
	     "record 2, byte 19: quality and sequence lengths differ"},
	    {"@r1\nA\n+\nI\n\n@r2\nA\n+\nI\n", "blank line"},
	    {"@r1\nA\n+\n \n", "quality character outside"},
	    {"@r1\nA\n+\n\x7f\n", "quality character outside"},
	    {"@r1\nA\n\n+\nI\n", "separator"},
	    {"@r1\nAA\n+\nII\n@r2\n", "record 2, byte 12: file ends"},
	    {"\x1f", "header line"},
	    {"\0\0\0\0", "header line"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].data);
		put_file(tpath("bad.fastq"), t[i].data, n ? n : 4);
		read_bad(tpath("bad.fastq"), t[i].msg);
	}
}

static void test_long_lines(void **state)
{
	(void)state;
	size_t n = (5u << 20) + 10;
	char *p = malloc(n);
	assert_non_null(p);
	memset(p, 'A', n);
	p[0] = '@';
	put_file(tpath("long.fastq"), p, n); /* no newline at all */
	read_bad(tpath("long.fastq"), "record 1, byte 0: line longer");
	p[(1u << 20) + 5] = '\n'; /* a header line just over the limit */
	put_file(tpath("long.fastq"), p, n);
	read_bad(tpath("long.fastq"), "line longer than 1 MiB");
	/* a 1 MiB sequence is fine */
	memset(p, 'A', n);
	memcpy(p, "@r\n", 3);
	p[3 + (1u << 20)] = '\n';
	memcpy(p + 4 + (1u << 20), "+\n", 2);
	memset(p + 6 + (1u << 20), 'I', 1u << 20);
	p[6 + (2u << 20)] = '\n';
	put_file(tpath("long.fastq"), p, 7 + (2u << 20));
	strata_attrs *a = read_ok(tpath("long.fastq"));
	want_int(a, "seq.read_length", 1 << 20);
	strata_attrs_free(a);
	free(p);
	unlink(tpath("long.fastq"));
}

static void test_bad_gzip(void **state)
{
	(void)state;
	size_t n = 0;
	put_gz(tpath("c.fastq.gz"), small, 1 << 20, false);
	uint8_t *gz = unit_slurp(tpath("c.fastq.gz"), &n);
	assert_non_null(gz);
	uint8_t *cp = malloc(n + 8);
	assert_non_null(cp);
	/* a damaged CRC, a damaged length, damaged deflate data */
	for (size_t k = 0; k < 3; k++) {
		memcpy(cp, gz, n);
		cp[k == 0 ? n - 6 : k == 1 ? n - 2 : 12] ^= 0x55;
		put_file(tpath("c2.fastq.gz"), cp, n);
		read_bad(tpath("c2.fastq.gz"), "gzip");
	}
	/* bytes after the last member that are not another member */
	memcpy(cp, gz, n);
	memcpy(cp + n, "garbage!", 8);
	put_file(tpath("c2.fastq.gz"), cp, n + 8);
	read_bad(tpath("c2.fastq.gz"), "gzip data corrupt");
	/* valid gzip of something that is not FASTQ */
	put_gz(tpath("c3.fastq.gz"), "hello world\n", 100, false);
	read_bad(tpath("c3.fastq.gz"),
		 "record 1, decompressed byte 0: header line");
	free(cp);
	free(gz);
}

static void test_not_file(void **state)
{
	(void)state;
	strata_attrs *a;
	assert_int_equal(strata_attrs_new(&a), 0);
	assert_int_equal(strata_fastq_read(tpath("none.fastq"), a),
			 STRATA_ENOTFOUND);
	assert_non_null(strstr(strata_error_msg(), "none.fastq"));
	assert_int_equal(strata_fastq_read(tmp, a), STRATA_EINVAL);
	assert_int_equal(strata_attrs_count(a), 0);
	strata_attrs_free(a);
}

static int setup(void **state)
{
	(void)state;
	const char *env = getenv("STRATA_TESTDATA");
	if (env && *env) {
		snprintf(testdata, sizeof(testdata), "%s", env);
	} else { /* ../shared/testdata from the repository root */
		snprintf(testdata, sizeof(testdata), "%s", __FILE__);
		for (int i = 0; i < 3; i++) {
			char *s = strrchr(testdata, '/');
			if (s)
				*s = '\0';
		}
		size_t n = strlen(testdata);
		snprintf(testdata + n, sizeof(testdata) - n,
			 "/../shared/testdata");
	}
	tmp = unit_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unit_rmtree(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clock_r1),
	    cmocka_unit_test(test_clock_r2),
	    cmocka_unit_test(test_bsseq_srr),
	    cmocka_unit_test(test_illumina_old),
	    cmocka_unit_test(test_q64),
	    cmocka_unit_test(test_name_styles),
	    cmocka_unit_test(test_name_binary),
	    cmocka_unit_test(test_mate_from_file_name),
	    cmocka_unit_test(test_quality_rule),
	    cmocka_unit_test(test_plain_crlf_containers),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_estimate),
	    cmocka_unit_test(test_truncations_plain),
	    cmocka_unit_test(test_truncations_gz),
	    cmocka_unit_test(test_bad_records),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_bad_gzip),
	    cmocka_unit_test(test_not_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
