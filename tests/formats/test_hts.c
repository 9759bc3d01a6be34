/*
 * test_hts.c - cmocka tests of the SAM/BAM/CRAM/VCF/BCF header reader:
 * exact attributes of the sample files (STRATA_TESTDATA), build detection
 * on crafted dictionaries, hostile headers (every truncation, huge
 * lengths, wrong magic) giving errors, and proof that CRAM reading never
 * contacts the REF_PATH server a hostile environment names.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <htslib/bgzf.h>
#include <htslib/sam.h>

#include "common/common.h"
#include "strata/formats.h"

static char tmpdir[256];
static int listen_fd = -1;

static const char *testdata(void)
{
	const char *d = getenv("STRATA_TESTDATA");
	return d && *d ? d : "../shared/testdata";
}

static char *data_path(const char *rel)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf), "%s/%s", testdata(), rel);
	return buf;
}

static char *tmp_path(const char *name)
{
	static char buf[512];
	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Write `p` as a BGZF file (with the EOF block). */
static void write_bgzf(const char *path, const void *p, size_t n)
{
	BGZF *z = bgzf_open(path, "w");
	assert_non_null(z);
	if (n)
		assert_int_equal(bgzf_write(z, p, n), (ssize_t)n);
	assert_int_equal(bgzf_close(z), 0);
}

static strata_attrs *read_ok(const char *path)
{
	strata_attrs *a;
	assert_int_equal(strata_attrs_new(&a), 0);
	int rc = strata_hts_read(path, a);
	if (rc)
		fail_msg("%s: %s", path, strata_error_msg());
	return a;
}

static int read_rc(const char *path)
{
	strata_attrs *a;
	assert_int_equal(strata_attrs_new(&a), 0);
	int rc = strata_hts_read(path, a);
	if (rc)
		assert_int_equal(strata_attrs_count(a), 0);
	strata_attrs_free(a);
	return rc;
}

static void want_str(const strata_attrs *a, const char *key, const char *v)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_STR);
	assert_string_equal(x->s, v);
}

static void want_int(const strata_attrs *a, const char *key, int64_t v)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_INT);
	assert_int_equal(x->i, v);
}

static void want_none(const strata_attrs *a, const char *key)
{
	if (strata_attrs_find(a, key))
		fail_msg("unexpected %s", key);
}

/* ---- sample files ---- */

static void test_bam_b37(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("bam/mpileup.1.bam"));
	want_int(a, "genome.contigs", 86);
	want_int(a, "genome.total_length", 3137454505);
	want_str(a, "genome.build", "GRCh37");
	want_str(a, "genome.build_flavour", "hs37d5");
	want_str(a, "genome.build_evidence",
		 "M5 of 1 is GRCh37's; 24/24 primary lengths match; MT 16569 "
		 "(rCRS)");
	want_str(a, "genome.naming", "ensembl");
	want_int(a, "genome.has_decoy", 1);
	want_int(a, "genome.has_alt", 0);
	want_int(a, "genome.has_hla", 0);
	want_str(a, "genome.dict_fingerprint",
		 "e7fe0c923fcd34db4cb59833410a7bc086a4ea42e04ca9ead4ecddb39c1b"
		 "5614");
	want_str(a, "seq.sort_order", "coordinate");
	want_int(a, "seq.read_groups", 53);
	want_str(a, "seq.samples", "HG00100");
	want_str(a, "seq.platform", "ILLUMINA");
	want_str(a, "seq.library", "3815246,6503965,g1k-sc-HG00100-A");
	want_str(a, "seq.center", "SC");
	want_str(a, "seq.programs", "GenomeAnalysisTK,bwa,picard,samtools");
	want_none(a, "cram.version");
	strata_attrs_free(a);
}

static void test_bam_hg19_and_cram_same(void **state)
{
	(void)state;
	const char *files[] = {"bam/level-1.bam", "cram/cram30_level-2.cram",
			       "cram/cram31_level-2.cram"};
	const char *ver[] = {NULL, "3.0", "3.1"};
	for (int i = 0; i < 3; i++) {
		strata_attrs *a = read_ok(data_path(files[i]));
		want_int(a, "genome.contigs", 25);
		want_int(a, "genome.total_length", 3095693983);
		want_str(a, "genome.build", "GRCh37");
		want_str(a, "genome.build_flavour", "hg19");
		want_str(a, "genome.build_evidence",
			 "M5 of chr1 is GRCh37's; 24/24 primary lengths match; "
			 "chrM 16571 (UCSC hg19)");
		want_str(a, "genome.naming", "ucsc");
		want_int(a, "genome.has_decoy", 0);
		want_str(a, "seq.samples", "NA12878");
		want_str(a, "seq.programs", "bwa,scramble");
		want_int(a, "seq.read_groups", 1);
		want_none(a, "seq.sort_order");
		want_none(a, "seq.platform");
		if (ver[i])
			want_str(a, "cram.version", ver[i]);
		else
			want_none(a, "cram.version");
		strata_attrs_free(a);
	}
}

static void test_toy_refs_unknown(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("cram/range.cram"));
	strata_attrs *b = read_ok(data_path("bam/range.bam"));
	want_str(a, "genome.build", "unknown");
	want_none(a, "genome.build_flavour");
	want_str(a, "genome.build_evidence",
		 "no human primary chromosome among 7 contigs (first: "
		 "CHROMOSOME_I)");
	want_str(a, "genome.naming", "other");
	want_int(a, "genome.total_length", 1039800);
	want_str(a, "seq.samples", "ERS225193");
	want_str(a, "seq.platform", "ILLUMINA");
	want_str(a, "cram.version", "3.0");
	/* same dictionary in both files */
	assert_string_equal(strata_attrs_find(a, "genome.dict_fingerprint")->s,
			    strata_attrs_find(b, "genome.dict_fingerprint")->s);
	strata_attrs_free(a);
	strata_attrs_free(b);

	/* a declared NCBI37 is not trusted over a 4200 bp "17" */
	a = read_ok(data_path("cram/cram21_quickcheck.cram"));
	want_str(a, "genome.build", "unknown");
	want_str(a, "genome.build_evidence",
		 "17 length 4200 matches no known human build; declared @SQ "
		 "AS:NCBI37 not trusted");
	want_str(a, "cram.version", "2.1");
	want_int(a, "seq.read_groups", 53);
	strata_attrs_free(a);
}

static void test_vcf_files(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("vcf/test.vcf.gz"));
	want_str(a, "vcf.version", "VCFv4.1");
	want_int(a, "vcf.samples", 189);
	want_int(a, "genome.contigs", 87);
	want_int(a, "vcf.variant_count", 115);
	want_str(a, "genome.build", "GRCh37");
	want_str(a, "genome.build_flavour", "hs37d5");
	want_str(a, "vcf.reference",
		 "file:///scratch/ucgd/lustre/u0413537/UGP_Pipeline_Data/"
		 "references/human_g1k_v37_decoy.fasta");
	const strata_attr *s = strata_attrs_find(a, "vcf.sample_names");
	assert_non_null(s);
	assert_memory_equal(s->s, "101976-101976,100920-100920,", 28);
	strata_attrs_free(a);

	a = read_ok(data_path("vcf/test.snpeff.bcf"));
	want_int(a, "vcf.samples", 4);
	want_str(a, "vcf.sample_names",
		 "1094PC0005,1094PC0009,1094PC0012,1094PC0013");
	want_int(a, "vcf.variant_count", 10);
	want_int(a, "genome.contigs", 93);
	want_str(a, "genome.build", "GRCh37");
	want_str(a, "genome.build_flavour", "hg19");
	want_str(a, "genome.naming", "ucsc");
	strata_attrs_free(a);

	a = read_ok(data_path("vcf/roh.1.vcf.gz"));
	want_int(a, "vcf.variant_count", 3124);
	want_str(a, "vcf.sample_names", "sample");
	want_str(a, "genome.build_evidence",
		 "1 length 249250621 (GRCh37); 1/1 primary lengths match");
	strata_attrs_free(a);

	a = read_ok(data_path("vcf/passed_meta_sample.vcf"));
	want_str(a, "vcf.version", "VCFv4.3");
	want_int(a, "vcf.samples", 0);
	want_int(a, "genome.contigs", 0);
	want_str(a, "genome.build", "unknown");
	want_str(a, "genome.build_evidence", "header lists no contigs");
	want_none(a, "vcf.variant_count"); /* no index */
	want_none(a, "vcf.sample_names");
	strata_attrs_free(a);
}

/* ---- crafted dictionaries ---- */

static const int64_t g38[24] = {
    248956422, 242193529, 198295559, 190214555, 181538259, 170805979,
    159345973, 145138636, 138394717, 133797422, 135086622, 133275309,
    114364328, 107043718, 101991189, 90338345,	83257441,  80373285,
    58617616,  64444167,  46709983,  50818468,	156040895, 57227415};

static strata_attrs *read_sam_text(const char *text)
{
	write_file(tmp_path("x.sam"), text, strlen(text));
	return read_ok(tmp_path("x.sam"));
}

static void sq_lines(strata_buf *b, const char *prefix, bool reverse)
{
	for (int k = 0; k < 24; k++) {
		int i = reverse ? 23 - k : k;
		char name[16];
		if (i < 22)
			snprintf(name, sizeof(name), "%s%d", prefix, i + 1);
		else
			snprintf(name, sizeof(name), "%s%s", prefix,
				 i == 22 ? "X" : "Y");
		strata_buf_printf(b, "@SQ\tSN:%s\tLN:%" PRId64 "\n", name,
				  g38[i]);
	}
}

static void test_build_grch38(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT, r = STRATA_BUF_INIT;
	strata_buf_puts(&b, "@HD\tVN:1.6\tSO:queryname\n");
	sq_lines(&b, "chr", false);
	strata_buf_puts(&b, "@SQ\tSN:chr1_KI270706v1_random\tLN:175055\n"
			    "@SQ\tSN:chr6_GL000251v2_alt\tLN:4795265\n"
			    "@SQ\tSN:chrUn_JTFH01000001v1_decoy\tLN:25139\n"
			    "@SQ\tSN:HLA-A*01:01:01:01\tLN:3503\n"
			    "@RG\tID:a\tSM:s2\tPL:illumina\tPM:NovaSeq\n"
			    "@RG\tID:b\tSM:s1\tPL:pacbio\n"
			    "@PG\tID:bwa\tPN:bwa\n@PG\tID:x\n");
	strata_buf_cstr(&b);
	strata_attrs *a = read_sam_text((char *)b.ptr);
	want_str(a, "genome.build", "GRCh38");
	want_str(a, "genome.build_flavour", "hs38DH");
	want_str(a, "genome.build_evidence",
		 "chr1 length 248956422 (GRCh38); 24/24 primary lengths match");
	want_int(a, "genome.contigs", 28);
	want_int(a, "genome.has_alt", 1);
	want_int(a, "genome.has_decoy", 1);
	want_int(a, "genome.has_hla", 1);
	want_str(a, "seq.sort_order", "queryname");
	want_str(a, "seq.samples", "s1,s2");
	want_str(a, "seq.platform", "ILLUMINA");
	want_str(a, "seq.platform_model", "NovaSeq");
	want_str(a, "seq.programs", "bwa,x");
	want_int(a, "seq.read_groups", 2);
	strata_attrs_free(a);

	/* same dictionary in another order: same fingerprint; bare names */
	strata_buf_puts(&r, "@HD\tVN:1.6\n");
	sq_lines(&r, "", true);
	strata_buf_cstr(&r);
	a = read_sam_text((char *)r.ptr);
	want_str(a, "genome.build", "GRCh38");
	want_str(a, "genome.naming", "ensembl");
	want_none(a, "genome.build_flavour");
	strata_attrs *c = read_sam_text((char *)r.ptr);
	strata_buf_reset(&r);
	strata_buf_puts(&r, "@HD\tVN:1.6\n");
	sq_lines(&r, "", false);
	strata_buf_cstr(&r);
	strata_attrs *d = read_sam_text((char *)r.ptr);
	assert_string_equal(strata_attrs_find(c, "genome.dict_fingerprint")->s,
			    strata_attrs_find(d, "genome.dict_fingerprint")->s);
	strata_attrs_free(a);
	strata_attrs_free(c);
	strata_attrs_free(d);
	strata_buf_release(&b);
	strata_buf_release(&r);
}

static void test_build_other(void **state)
{
	(void)state;
	strata_attrs *a = read_sam_text("@SQ\tSN:chr1\tLN:248387328\n"
					"@SQ\tSN:chrM\tLN:16569\n");
	want_str(a, "genome.build", "T2T-CHM13");
	want_str(a, "genome.naming", "ucsc");
	strata_attrs_free(a);
	a = read_sam_text("@SQ\tSN:NC_000001.11\tLN:248956422\n"
			  "@SQ\tSN:NC_000002.12\tLN:242193529\n");
	want_str(a, "genome.build", "GRCh38");
	want_str(a, "genome.naming", "refseq");
	strata_attrs_free(a);
	a = read_sam_text("@SQ\tSN:chr1\tLN:247249719\n@SQ\tSN:2\tLN:1\n");
	want_str(a, "genome.naming", "mixed");
	want_str(a, "genome.build", "unknown");
	want_str(a, "genome.build_evidence",
		 "primary lengths disagree (2 contigs)");
	strata_attrs_free(a);
	/* declared only (no primary lengths) */
	a = read_sam_text("@SQ\tSN:scaffold_9\tLN:10\tAS:GRCh38.p14\n");
	want_str(a, "genome.build", "GRCh38");
	want_str(a, "genome.build_evidence",
		 "declared @SQ AS:GRCh38.p14 (no primary lengths)");
	strata_attrs_free(a);
	/* unaligned: no @SQ */
	a = read_sam_text("@HD\tVN:1.6\tSO:unsorted\n@RG\tID:1\tSM:\xff\n");
	want_int(a, "genome.contigs", 0);
	want_str(a, "genome.build_evidence", "header lists no contigs");
	want_str(a, "seq.samples", "?");
	want_none(a, "genome.dict_fingerprint");
	strata_attrs_free(a);
}

static void test_vcf_crafted(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	strata_buf_puts(&b, "##fileformat=VCFv4.2\n"
			    "##source=caller-b\n##source=caller-a\n"
			    "##reference=GRCh38_full_analysis_set.fa\n"
			    "##contig=<ID=chrUn_x>\n"
			    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\t"
			    "FORMAT");
	for (int i = 0; i < 1000; i++)
		strata_buf_printf(&b, "\tsample%04d", i);
	strata_buf_puts(&b, "\n");
	write_bgzf(tmp_path("c.vcf.gz"), b.ptr, b.len);
	strata_attrs *a = read_ok(tmp_path("c.vcf.gz"));
	want_int(a, "vcf.samples", 1000);
	want_str(a, "vcf.source", "caller-a,caller-b");
	want_str(a, "vcf.reference", "GRCh38_full_analysis_set.fa");
	want_str(a, "genome.build", "GRCh38");
	want_none(a, "genome.total_length");
	want_none(a, "vcf.variant_count");
	const strata_attr *s = strata_attrs_find(a, "vcf.sample_names");
	assert_non_null(s);
	size_t n = strlen(s->s);
	assert_true(n <= 4096 + 3);
	assert_string_equal(s->s + n - 3, "\xe2\x80\xa6");
	strata_attrs_free(a);
	strata_buf_release(&b);
}

/* ---- hostile input ---- */

static void bam_header(strata_buf *b, int32_t l_text, int32_t n_ref,
		       int32_t l_name)
{
	const char *text = "@HD\tVN:1.6\n@SQ\tSN:c1\tLN:100\n";
	strata_buf_put(b, "BAM\1", 4);
	strata_buf_put_u32(b, (uint32_t)l_text);
	strata_buf_put(b, text, strlen(text));
	strata_buf_put_u32(b, (uint32_t)n_ref);
	strata_buf_put_u32(b, (uint32_t)l_name);
	strata_buf_put(b, "c1", 3);
	strata_buf_put_u32(b, 100);
}

static void test_bam_truncations(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT;
	bam_header(&b, 28, 1, 3);
	for (size_t n = 0; n < b.len; n++) {
		write_bgzf(tmp_path("t.bam"), b.ptr, n);
		assert_true(read_rc(tmp_path("t.bam")) < 0);
	}
	write_bgzf(tmp_path("t.bam"), b.ptr, b.len);
	strata_attrs *a = read_ok(tmp_path("t.bam"));
	want_int(a, "genome.contigs", 1);
	want_int(a, "genome.total_length", 100);
	strata_attrs_free(a);
	strata_buf_release(&b);
}

static void expect_error(const char *path, const char *needle)
{
	assert_true(read_rc(path) < 0);
	if (!strstr(strata_error_msg(), needle))
		fail_msg("'%s' not in '%s'", needle, strata_error_msg());
}

static void test_huge_lengths(void **state)
{
	(void)state;
	const int32_t bad[][3] = {{0x7fffffff, 1, 3},
				  {28, 0x7fffffff, 3},
				  {28, 1, 0x7fffffff},
				  {-5, 1, 3},
				  {28, -1, 3}};
	const char *why[] = {"header larger than", "truncated",
			     "header larger than", "negative", "negative"};
	for (size_t i = 0; i < 5; i++) {
		strata_buf b = STRATA_BUF_INIT;
		bam_header(&b, bad[i][0], bad[i][1], bad[i][2]);
		write_bgzf(tmp_path("h.bam"), b.ptr, b.len);
		expect_error(tmp_path("h.bam"), why[i]);
		strata_buf_release(&b);
	}
	/* BCF header length 4 GiB */
	write_bgzf(tmp_path("h.bcf"), "BCF\2\2\xff\xff\xff\xff##", 11);
	expect_error(tmp_path("h.bcf"), "header larger than");
	/* wrong magic, empty, not a format at all */
	write_bgzf(tmp_path("m.bam"), "BAM\2\0\0\0\0\0\0\0\0", 12);
	assert_true(read_rc(tmp_path("m.bam")) < 0);
	write_file(tmp_path("e.bam"), "", 0);
	assert_true(read_rc(tmp_path("e.bam")) < 0);
	write_file(tmp_path("n.txt"), "hello world\n", 12);
	expect_error(tmp_path("n.txt"), "not a SAM/BAM/CRAM/VCF/BCF file");
	/* a directory is not read */
	expect_error(tmpdir, "not a regular file");
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc(*n);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, *n, f), *n);
	fclose(f);
	return p;
}

static void test_cram_hostile(void **state)
{
	(void)state;
	size_t n;
	uint8_t *p = slurp(data_path("cram/range.cram"), &n);
	/* every truncation inside the file definition and header container */
	for (size_t k = 0; k < 1200 && k < n; k++) {
		write_file(tmp_path("t.cram"), p, k);
		int rc = read_rc(tmp_path("t.cram"));
		if (k < 600)
			assert_true(rc < 0);
	}
	/* container length beyond the file */
	uint8_t *q = malloc(n);
	memcpy(q, p, n);
	strata_le32(q + 26, 0x7ffffff0);
	write_file(tmp_path("l.cram"), q, n);
	expect_error(tmp_path("l.cram"), "container larger than file");
	/* unsupported version */
	memcpy(q, p, n);
	q[4] = 4;
	write_file(tmp_path("v.cram"), q, n);
	expect_error(tmp_path("v.cram"), "unsupported CRAM version 4");
	free(q);
	free(p);
}

static void test_text_truncations(void **state)
{
	(void)state;
	size_t n;
	uint8_t *p = slurp(data_path("vcf/passed_meta_sample.vcf"), &n);
	for (size_t k = 0; k <= n; k++) {
		write_file(tmp_path("t.vcf"), p, k);
		(void)read_rc(tmp_path("t.vcf")); /* 0 or an error */
	}
	free(p);
	const char *sam = "@HD\tVN:1.6\n@SQ\tSN:c\tLN:5\n@RG\tID:r\tSM:x\n";
	for (size_t k = 0; k <= strlen(sam); k++) {
		write_file(tmp_path("t.sam"), sam, k);
		(void)read_rc(tmp_path("t.sam"));
	}
}

/* ---- no network for CRAM references ---- */

static int listener(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	char env[96];
	snprintf(env, sizeof(env), "http://127.0.0.1:%u/%%s",
		 ntohs(sa.sin_port));
	setenv("REF_PATH", env, 1);
	setenv("REF_CACHE", "http://127.0.0.1:9/%s", 1);
	return fd;
}

static void test_no_network(void **state)
{
	(void)state;
	/* main() pointed REF_PATH at our listener before any read */
	strata_attrs *a = read_ok(data_path("cram/range.cram"));
	strata_attrs_free(a);
	assert_null(strstr(getenv("REF_PATH"), "http"));
	assert_null(strstr(getenv("REF_CACHE"), "http"));
	/* decoding a record needs ce.fa by M5: it must fail locally */
	samFile *fp = sam_open(data_path("cram/range.cram"), "r");
	assert_non_null(fp);
	sam_hdr_t *h = sam_hdr_read(fp);
	bam1_t *rec = bam_init1();
	assert_non_null(h);
	assert_true(sam_read1(fp, h, rec) < 0);
	bam_destroy1(rec);
	sam_hdr_destroy(h);
	sam_close(fp);
	struct pollfd pf = {.fd = listen_fd, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 200), 0); /* nobody connected */
}

static int local_kept = -1;

/* Before this process reads anything: a child whose user set a local
 * REF_PATH reads a CRAM and must find REF_PATH unchanged. */
static void check_local_kept(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		strata_attrs *a;
		setenv("REF_PATH", "/srv/refs/%2s/%2s/%s:/data/ref.fa", 1);
		if (strata_attrs_new(&a) ||
		    strata_hts_read(data_path("cram/range.cram"), a))
			_exit(2);
		_exit(strcmp(getenv("REF_PATH"),
			     "/srv/refs/%2s/%2s/%s:/data/ref.fa") != 0);
	}
	int st = 0;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		local_kept = WEXITSTATUS(st);
}

static void test_local_ref_path_kept(void **state)
{
	(void)state;
	assert_int_equal(local_kept, 0);
	assert_string_equal(getenv("REF_PATH"), "/dev/null/strata-no-ref/%s");
}

static void *thread_read(void *arg)
{
	const char **files = arg;
	for (int r = 0; r < 5; r++)
		for (int i = 0; files[i]; i++) {
			strata_attrs *a;
			if (strata_attrs_new(&a))
				return (void *)1;
			char path[1024]; /* data_path's buffer is shared */
			snprintf(path, sizeof(path), "%s/%s", testdata(),
				 files[i]);
			int rc = strata_hts_read(path, a);
			strata_attrs_free(a);
			if (rc) {
				fprintf(stderr, "thread read %s: %s\n",
					files[i], strata_error_msg());
				return (void *)1;
			}
		}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	static const char *files[] = {"bam/mpileup.1.bam", "cram/range.cram",
				      "vcf/test.vcf.gz", "vcf/test.snpeff.bcf",
				      NULL};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, thread_read, (void *)files), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_network),
	    cmocka_unit_test(test_local_ref_path_kept),
	    cmocka_unit_test(test_bam_b37),
	    cmocka_unit_test(test_bam_hg19_and_cram_same),
	    cmocka_unit_test(test_toy_refs_unknown),
	    cmocka_unit_test(test_vcf_files),
	    cmocka_unit_test(test_build_grch38),
	    cmocka_unit_test(test_build_other),
	    cmocka_unit_test(test_vcf_crafted),
	    cmocka_unit_test(test_bam_truncations),
	    cmocka_unit_test(test_huge_lengths),
	    cmocka_unit_test(test_cram_hostile),
	    cmocka_unit_test(test_text_truncations),
	    cmocka_unit_test(test_threads),
	};
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/strata-test-hts-XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return 1;
	check_local_kept();
	listen_fd = listener();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	close(listen_fd);
	return rc;
}
