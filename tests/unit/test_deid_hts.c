/*
 * test_deid_hts.c - the genomic header scrubber on the real files in
 * $STRATA_TESTDATA: identifiers gone, pseudonyms in, records unchanged,
 * damaged input refused. With "--scrub IN OUT [--strip] [--ref FA]" it is
 * the driver deid_hts_golden.sh checks with samtools and bcftools.
 */
#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/kstring.h>
#include <htslib/sam.h>
#include <htslib/vcf.h>
#include <zlib.h>

#include "unit.h"
#include "deid/hts_deid.h"

static const char *td;
static char *tmp;

/* HMAC-SHA-256 under a fixed test key: "P" + 12 hex digits */
static void pseudo_cb(const char *id, char *out, size_t outlen, void *payload)
{
	static const uint8_t key[] = "strata-test-deid-key";
	uint8_t mac[32];
	char hex[65];
	(void)payload;
	strata_hmac_once(mac, key, sizeof(key) - 1, id, strlen(id));
	strata_hex(hex, mac, 32);
	snprintf(out, outlen, "P%.12s", hex);
}

static void identity_cb(const char *id, char *out, size_t outlen, void *p)
{
	(void)p;
	snprintf(out, outlen, "%s", id);
}

static void empty_cb(const char *id, char *out, size_t outlen, void *p)
{
	(void)id;
	(void)p;
	(void)outlen;
	out[0] = '\0';
}

static char *ps(const char *id)
{
	static char b[64];
	pseudo_cb(id, b, sizeof(b), NULL);
	return b;
}

static char *in_path(const char *rel)
{
	static char b[32][PATH_MAX]; /* a ring: results outlive a few calls */
	static int k;
	k = (k + 1) % 32;
	snprintf(b[k], sizeof(b[k]), "%s/%s", td, rel);
	return b[k];
}

static char *out_path(const char *name)
{
	static char b[32][PATH_MAX];
	static int k;
	k = (k + 1) % 32;
	snprintf(b[k], sizeof(b[k]), "%s/%s", tmp, name);
	return b[k];
}

static strata_hts_deid_opts opts(void)
{
	strata_hts_deid_opts o = {.pseudonym = pseudo_cb};
	return o;
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* ---- SAM/BAM/CRAM helpers ---- */

static char *sam_header_text(const char *path, const char *ref)
{
	htsFile *f = hts_open(path, "r");
	assert_non_null(f);
	if (ref)
		assert_int_equal(hts_set_fai_filename(f, ref), 0);
	sam_hdr_t *h = sam_hdr_read(f);
	assert_non_null(h);
	char *s = strdup(sam_hdr_str(h));
	sam_hdr_destroy(h);
	hts_close(f);
	return s;
}

static bool has_ci(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

/*
 * Compare the records of a and b as SAM text, the RG:Z value mapped from
 * `rg_from` to `rg_to` when given; returns the record count.
 */
static uint64_t same_records(const char *a, const char *b, const char *ref,
			     const char *rg_from, const char *rg_to)
{
	htsFile *fa = hts_open(a, "r"), *fb = hts_open(b, "r");
	assert_non_null(fa);
	assert_non_null(fb);
	if (ref) {
		assert_int_equal(hts_set_fai_filename(fa, ref), 0);
		assert_int_equal(hts_set_fai_filename(fb, ref), 0);
	}
	sam_hdr_t *ha = sam_hdr_read(fa), *hb = sam_hdr_read(fb);
	bam1_t *ra = bam_init1(), *rb = bam_init1();
	kstring_t sa = KS_INITIALIZE, sb = KS_INITIALIZE, want = KS_INITIALIZE;
	uint64_t n = 0;
	int x, y;
	for (;;) {
		x = sam_read1(fa, ha, ra);
		y = sam_read1(fb, hb, rb);
		assert_int_equal(x >= 0, y >= 0); /* sizes differ if RG does */
		if (x < 0)
			break;
		assert_true(sam_format1(ha, ra, &sa) >= 0);
		assert_true(sam_format1(hb, rb, &sb) >= 0);
		want.l = 0;
		char from[64];
		snprintf(from, sizeof(from), "\tRG:Z:%s",
			 rg_from ? rg_from : "");
		char *at = rg_from ? strstr(sa.s, from) : NULL;
		if (at) {
			kputsn(sa.s, (size_t)(at - sa.s), &want);
			ksprintf(&want, "\tRG:Z:%s", rg_to);
			kputs(at + strlen(from), &want);
		} else {
			kputs(sa.s, &want);
		}
		assert_string_equal(want.s, sb.s);
		n++;
	}
	assert_int_equal(x, -1);
	assert_int_equal(y, -1);
	free(sa.s);
	free(sb.s);
	free(want.s);
	bam_destroy1(ra);
	bam_destroy1(rb);
	sam_hdr_destroy(ha);
	sam_hdr_destroy(hb);
	hts_close(fa);
	hts_close(fb);
	return n;
}

/* Every @PG CL value: no '/' and no '$' left. */
static void cl_clean(const char *hdr)
{
	for (const char *p = hdr; (p = strstr(p, "\tCL:")); p++) {
		const char *e = strpbrk(p + 1, "\t\n");
		size_t n = e ? (size_t)(e - p) : strlen(p);
		assert_null(memchr(p, '/', n));
		assert_null(memchr(p, '$', n));
	}
}

/* ---- SAM/BAM ---- */

static void test_bam_level1(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("bam/level-1.bam"), *out = out_path("l1.bam");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	char *h = sam_header_text(out, NULL);
	/* ID and SM were both NA12878: the ID is renamed too */
	assert_false(has_ci(h, "NA12878"));
	assert_non_null(strstr(h, ps("NA12878")));
	assert_non_null(strstr(h, ps("ID:NA12878")));
	assert_null(strstr(h, "/lustre"));
	assert_null(strstr(h, "UR:"));
	assert_non_null(strstr(h, "M5:d2ed829b8a1628d16cbeee88e88e39eb"));
	assert_non_null(strstr(h, "CL:scramble -N 20000 -B\n"));
	assert_non_null(strstr(h, "@PG\tID:strata-deid"));
	cl_clean(h);
	assert_string_equal(r.first_sample, "NA12878");
	assert_int_equal(r.samples_renamed, 1);
	assert_int_equal(r.rg_ids_renamed, 1);
	assert_int_equal(r.records, 20000);
	assert_int_equal(
	    same_records(in, out, NULL, "NA12878", ps("ID:NA12878")), 20000);
	free(h);
}

static void test_bam_mpileup(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("bam/mpileup.1.bam"), *out = out_path("m.bam");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	char *h = sam_header_text(out, NULL);
	assert_false(has_ci(h, "HG00100"));
	assert_non_null(strstr(h, ps("HG00100")));
	assert_non_null(strstr(h, ps("LB:3815246")));
	assert_non_null(strstr(h, ps("CN:SC")));
	assert_null(strstr(h, "CN:SC"));
	assert_non_null(strstr(h, "ID:ERR013140\t")); /* IDs kept */
	assert_non_null(strstr(h, "PI:450"));	      /* not configured */
	assert_non_null(strstr(h, "UR:ftp://ftp.1000genomes")); /* public */
	assert_int_equal(r.rg_ids_renamed, 0);
	/* records byte-identical, RG:Z included */
	uint64_t n = same_records(in, out, NULL, NULL, NULL);
	assert_int_equal(n, r.records);
	assert_true(n > 0);
	free(h);
}

static void test_bam_range_and_cram_same_pseudonym(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r, rc;
	const char *ref = in_path("cram/ref/ce.fa");
	o.reference = ref;
	assert_int_equal(strata_hts_deid(in_path("bam/range.bam"),
					 out_path("r.bam"), &o, &r),
			 0);
	assert_int_equal(strata_hts_deid(in_path("cram/range.cram"),
					 out_path("r.cram"), &o, &rc),
			 0);
	char *hb = sam_header_text(out_path("r.bam"), NULL);
	char *hc = sam_header_text(out_path("r.cram"), ref);
	for (int i = 0; i < 2; i++) {
		const char *h = i ? hc : hb;
		assert_null(strstr(h, "ERS225193"));
		assert_null(strstr(h, "DT:"));
		assert_null(strstr(h, "C1JT2ACXX"));
		assert_null(strstr(h, "UR:"));
		assert_non_null(strstr(h, ps("ERS225193")));
		assert_non_null(strstr(h, "CL:scramble -M -I -s 50 -r\n"));
		cl_clean(h);
	}
	assert_int_equal(r.records, 112);
	assert_int_equal(rc.records, 112);
	assert_int_equal(same_records(in_path("bam/range.bam"),
				      out_path("r.bam"), NULL, NULL, NULL),
			 112);
	assert_int_equal(same_records(in_path("cram/range.cram"),
				      out_path("r.cram"), ref, NULL, NULL),
			 112);
	free(hb);
	free(hc);
}

static void test_sam_text(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("cram/1400_index_simple.sam");
	const char *out = out_path("s.sam");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	char *h = sam_header_text(out, NULL);
	assert_null(strstr(h, "/nfs"));
	assert_int_equal(r.sq_ur_removed, 1);
	assert_int_equal(same_records(in, out, NULL, NULL, NULL), 1000);
	free(h);
}

/* A hand-made SAM with every kind of header line and a renamed RG */
static const char mini_sam[] =
    "@HD\tVN:1.6\tSO:unsorted\n"
    "@SQ\tSN:c1\tLN:100\tUR:file:///home/alice/ref.fa\tAS:hg38\n"
    "@RG\tID:rg-JohnDoe-1\tSM:JohnDoe\tLB:lib7\tDT:2020-01-02\tPU:FC1.1\t"
    "CN:StMarys\tPI:300\tDS:study of JohnDoe\tPL:ILLUMINA\n"
    "@PG\tID:bwa\tPN:bwa\tVN:0.7\tCL:/opt/bwa/bin/bwa mem -t 8 -R "
    "@RG\\tID:x /home/alice/JohnDoe_R1.fq --min=30 --out=/tmp/x "
    "$ref\tDS:run by alice\n"
    "@CO\tpatient JohnDoe, MRN 1234567\n"
    "r1\t0\tc1\t1\t60\t4M\t*\t0\t0\tACGT\tIIII\tRG:Z:rg-JohnDoe-1\n"
    "r2\t4\t*\t0\t0\t*\t*\t0\t0\tAC\tII\n";

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, strlen(s), f), strlen(s));
	assert_int_equal(fclose(f), 0);
}

static void test_sam_rules(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = out_path("mini.sam"), *out = out_path("mini.o.sam");
	write_file(in, mini_sam);
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	char *h = sam_header_text(out, NULL);
	assert_false(has_ci(h, "JohnDoe"));
	assert_false(has_ci(h, "alice"));
	assert_false(has_ci(h, "StMarys"));
	assert_false(has_ci(h, "lib7"));
	assert_null(strstr(h, "2020-01-02"));
	assert_non_null(strstr(h, "PI:300")); /* not in the default */
	assert_null(strstr(h, "@CO"));
	assert_null(strstr(h, "UR:"));
	assert_non_null(strstr(h, "AS:hg38"));
	assert_non_null(strstr(h, "PL:ILLUMINA"));
	assert_non_null(strstr(h, "CL:bwa -t 8 -R --min=30 --out\n"));
	cl_clean(h);
	assert_non_null(strstr(h, ps("JohnDoe")));
	assert_non_null(strstr(h, ps("LB:lib7")));
	assert_non_null(strstr(h, ps("CN:StMarys")));
	assert_non_null(strstr(h, ps("DS:study of JohnDoe"))); /* names SM */
	assert_int_equal(r.comments_dropped, 1);
	assert_int_equal(r.pg_cl_scrubbed, 2); /* CL changed, DS gone */
	assert_int_equal(r.rg_ids_renamed, 1);
	assert_int_equal(r.records, 2);
	assert_int_equal(
	    same_records(in, out, NULL, "rg-JohnDoe-1", ps("ID:rg-JohnDoe-1")),
	    2);
	free(h);

	/* a kept @CO that names the sample: refused, nothing written */
	o.keep_comments = true;
	unlink(out);
	assert_int_equal(strata_hts_deid(in, out, &o, &r), STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(), "'@CO'"));
	assert_false(exists(out));

	/* SM only, a harmless comment kept: LB, DT and @CO stay */
	char *text = strdup(mini_sam), *at = strstr(text, "patient JohnDoe");
	memcpy(at, "aligned by bwa!", 15);
	write_file(in, text);
	free(text);
	o.rg_tags = STRATA_RG_SM;
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	h = sam_header_text(out, NULL);
	assert_non_null(strstr(h, "LB:lib7"));
	assert_non_null(strstr(h, "DT:2020-01-02"));
	assert_non_null(strstr(h, "@CO\taligned by bwa!, MRN"));
	assert_non_null(strstr(h, ps("DS:study of JohnDoe"))); /* names SM */
	assert_false(has_ci(h, "JohnDoe"));
	free(h);
}

static void test_refusals(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("bam/range.bam"), *out = out_path("bad.bam");
	/* a pseudonym equal to the identifier is caught by the final scan */
	o.pseudonym = identity_cb;
	assert_int_equal(strata_hts_deid(in, out, &o, &r), STRATA_EINVAL);
	assert_false(exists(out));
	o.pseudonym = empty_cb;
	assert_int_equal(strata_hts_deid(in, out, &o, &r), STRATA_EINVAL);
	o.pseudonym = NULL;
	assert_int_equal(strata_hts_deid(in, out, &o, &r), STRATA_EINVAL);
	o = opts();
	assert_int_equal(strata_hts_deid(in, in, &o, &r), STRATA_EINVAL);
	assert_int_equal(
	    strata_hts_deid(in_path("nifti/anatomical.nii"), out, &o, &r),
	    STRATA_EINVAL);
	assert_int_equal(strata_hts_deid(out_path("missing.bam"), out, &o, &r),
			 STRATA_ENOTFOUND);
	assert_false(exists(out));
}

/* ---- CRAM ---- */

/* Write each sequence of `fa` as REF_PATH file dir/<M5> (uppercase). */
static void make_ref_path(const char *fa, const char *dir)
{
	faidx_t *fai = fai_load(fa);
	assert_non_null(fai);
	for (int i = 0; i < faidx_nseq(fai); i++) {
		const char *name = faidx_iseq(fai, i);
		hts_pos_t len;
		char *s = faidx_fetch_seq64(fai, name, 0, HTS_POS_MAX, &len);
		uint8_t md[16];
		char hex[33], p[PATH_MAX + 40];
		assert_non_null(s);
		for (hts_pos_t k = 0; k < len; k++)
			if (s[k] >= 'a' && s[k] <= 'z')
				s[k] = (char)(s[k] - 32);
		hts_md5_context *m = hts_md5_init();
		hts_md5_update(m, s, (unsigned long)len);
		hts_md5_final(md, m);
		hts_md5_destroy(m);
		strata_hex(hex, md, 16);
		snprintf(p, sizeof(p), "%s/%s", dir, hex);
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(s, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		free(s);
	}
	fai_destroy(fai);
}

static void test_cram_reference(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("cram/ce_5b_java.cram");
	const char *out = out_path("j.cram");
	char rp[PATH_MAX + 8], dir[PATH_MAX];
	/* no reference anywhere local: a clear error, nothing written */
	setenv("REF_PATH", "/nonexistent/strata-ref/%s", 1);
	/* htslib copies what REF_PATH gives into REF_CACHE: keep it unwritable
	 */
	setenv("REF_CACHE", "/dev/null/strata-test-cache/%s", 1);
	assert_int_equal(strata_hts_deid(in, out, &o, &r), STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(), "not available locally"));
	assert_non_null(strstr(strata_error_msg(), "CHROMOSOME_I"));
	assert_false(exists(out));
	/* range.cram's "UR:/" is a directory, not a reference */
	assert_int_equal(
	    strata_hts_deid(in_path("cram/range.cram"), out, &o, &r),
	    STRATA_EINVAL);
	/* the reference as a local REF_PATH of MD5-named files */
	snprintf(dir, sizeof(dir), "%s/refpath", tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	make_ref_path(in_path("cram/ref/ce.fa"), dir);
	snprintf(rp, sizeof(rp), "%s/%%s", dir);
	setenv("REF_PATH", rp, 1);
	int rc = strata_hts_deid(in, out, &o, &r);
	if (rc)
		print_error("%s\n", strata_error_msg());
	assert_int_equal(rc, 0);
	assert_int_equal(same_records(in, out, NULL, NULL, NULL), r.records);
	assert_true(r.records > 0);
	char *h = sam_header_text(out, NULL);
	cl_clean(h);
	assert_null(strstr(h, "/nfs"));
	assert_non_null(strstr(h, "CL:java --capture-all-tags -n -Q -R -I -O"));
	free(h);
	setenv("REF_PATH", "/nonexistent/strata-ref/%s", 1);

	/* CRAM 2.1 stays 2.1, with an explicit reference */
	o.reference = in_path("cram/ref/mpileup.ref.fa");
	in = in_path("cram/cram21_quickcheck.cram");
	out = out_path("q.cram");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	htsFile *f = hts_open(out, "r");
	assert_non_null(f);
	assert_int_equal(hts_get_format(f)->version.major, 2);
	assert_int_equal(hts_get_format(f)->version.minor, 1);
	hts_close(f);
	assert_int_equal(same_records(in, out, o.reference, NULL, NULL),
			 r.records);
	h = sam_header_text(out, o.reference);
	assert_null(strstr(h, "/Users"));
	assert_null(strstr(h, "$reference_fasta"));
	cl_clean(h);
	free(h);
	/* a reference that does not exist */
	o.reference = out_path("none.fa");
	assert_int_equal(strata_hts_deid(in, out_path("q2.cram"), &o, &r),
			 STRATA_EINVAL);
}

/* ---- VCF/BCF ---- */

static char *vcf_header_text(const char *path)
{
	htsFile *f = hts_open(path, "r");
	assert_non_null(f);
	bcf_hdr_t *h = bcf_hdr_read(f);
	assert_non_null(h);
	kstring_t ks = KS_INITIALIZE;
	assert_int_equal(bcf_hdr_format(h, 0, &ks), 0);
	bcf_hdr_destroy(h);
	hts_close(f);
	return ks.s;
}

/* Body lines as text (VCF) or as formatted records (BCF) */
static uint64_t same_vcf_records(const char *a, const char *b)
{
	htsFile *fa = hts_open(a, "r"), *fb = hts_open(b, "r");
	bcf_hdr_t *ha = bcf_hdr_read(fa), *hb = bcf_hdr_read(fb);
	bcf1_t *ra = bcf_init(), *rb = bcf_init();
	kstring_t sa = KS_INITIALIZE, sb = KS_INITIALIZE;
	uint64_t n = 0;
	int x, y;
	assert_int_equal(bcf_hdr_nsamples(ha), bcf_hdr_nsamples(hb));
	for (;;) {
		x = bcf_read(fa, ha, ra);
		y = bcf_read(fb, hb, rb);
		assert_int_equal(x, y);
		if (x < 0)
			break;
		sa.l = sb.l = 0;
		assert_int_equal(vcf_format(ha, ra, &sa), 0);
		assert_int_equal(vcf_format(hb, rb, &sb), 0);
		assert_string_equal(sa.s, sb.s);
		n++;
	}
	assert_int_equal(x, -1);
	free(sa.s);
	free(sb.s);
	bcf_destroy(ra);
	bcf_destroy(rb);
	bcf_hdr_destroy(ha);
	bcf_hdr_destroy(hb);
	hts_close(fa);
	hts_close(fb);
	return n;
}

static void sample_check(const char *in, const char *out)
{
	htsFile *fa = hts_open(in, "r"), *fb = hts_open(out, "r");
	bcf_hdr_t *ha = bcf_hdr_read(fa), *hb = bcf_hdr_read(fb);
	char *t = vcf_header_text(out);
	for (int i = 0; i < bcf_hdr_nsamples(ha); i++) {
		assert_string_equal(hb->samples[i], ps(ha->samples[i]));
		char tab[160];
		snprintf(tab, sizeof(tab), "\t%s", ha->samples[i]);
		assert_null(strstr(t, tab));
	}
	free(t);
	bcf_hdr_destroy(ha);
	bcf_hdr_destroy(hb);
	hts_close(fa);
	hts_close(fb);
}

static void test_vcf_gz(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("vcf/test.vcf.gz"),
		   *out = out_path("t.vcf.gz");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	char *t = vcf_header_text(out);
	assert_null(strstr(t, "GATKCommandLine"));
	assert_null(strstr(t, "SnpEffCmd"));
	assert_null(strstr(t, "GVCFBlock"));
	assert_null(strstr(t, "/scratch"));
	assert_non_null(strstr(t, "##reference=human_g1k_v37_decoy.fasta\n"));
	assert_non_null(strstr(t, "##contig=<ID=1,"));
	assert_non_null(strstr(t, "##INFO=<ID=AC,"));
	assert_int_equal(r.samples_renamed, 189);
	assert_string_equal(r.first_sample, "101976-101976");
	assert_int_equal(r.records, 115);
	sample_check(in, out);
	assert_int_equal(same_vcf_records(in, out), 115);
	free(t);

	/* the body lines are byte-identical, not just equivalent */
	htsFile *fa = hts_open(in, "r"), *fb = hts_open(out, "r");
	kstring_t la = KS_INITIALIZE, lb = KS_INITIALIZE;
	int x, y;
	do /* skip the headers, which differ */
		x = hts_getline(fa, 2, &la);
	while (x >= 0 && la.s[0] == '#');
	do
		y = hts_getline(fb, 2, &lb);
	while (y >= 0 && lb.s[0] == '#');
	for (uint64_t n = 0;; n++) {
		assert_int_equal(x, y);
		if (x < 0) {
			assert_int_equal(n, 115);
			break;
		}
		assert_string_equal(la.s, lb.s);
		x = hts_getline(fa, 2, &la);
		y = hts_getline(fb, 2, &lb);
	}
	free(la.s);
	free(lb.s);
	hts_close(fa);
	hts_close(fb);
}

static void test_bcf(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("vcf/test.snpeff.bcf"),
		   *out = out_path("t.bcf");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	char *t = vcf_header_text(out);
	assert_null(strstr(t, "1094PC0005"));
	assert_null(strstr(t, "/Users"));
	assert_null(strstr(t, "/home"));
	assert_null(strstr(t, "UnifiedGenotyper"));
	assert_null(strstr(t, "bcftools_viewCommand"));
	assert_non_null(strstr(t, "##reference=hg19_gatk.fa\n"));
	assert_int_equal(r.records, 10);
	sample_check(in, out);
	assert_int_equal(same_vcf_records(in, out), 10);
	free(t);
	htsFile *f = hts_open(out, "r");
	assert_int_equal(hts_get_format(f)->format, bcf);
	hts_close(f);
}

static void test_vcf_meta_samples(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("vcf/passed_meta_sample.vcf");
	const char *out = out_path("p.vcf");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	char *t = vcf_header_text(out);
	assert_null(strstr(t, "##SAMPLE"));
	assert_null(strstr(t, "Patient"));
	assert_int_equal(r.meta_lines_removed, 6);
	assert_int_equal(same_vcf_records(in, out), r.records);
	free(t);
	/* one sample, same pseudonym as a BAM with SM:sample would get */
	in = in_path("vcf/roh.1.vcf.gz");
	out = out_path("roh.vcf.gz");
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	assert_int_equal(r.records, 3124);
	sample_check(in, out);
	assert_int_equal(same_vcf_records(in, out), 3124);
}

/* ---- FASTQ ---- */

static void name_is(const char *in, const char *want)
{
	char out[256];
	size_t l;
	bool changed =
	    strata_deid__fastq_name(in, strlen(in), out, sizeof(out), &l);
	assert_string_equal(out, want);
	assert_int_equal(l, strlen(want));
	assert_int_equal(changed, strcmp(in, want) != 0);
}

static void test_fastq_names(void **state)
{
	(void)state;
	name_is("@HWI-D00436:407:CCAETANXX:1:1101:1832:1891 1:N:0: CGATGTTT",
		"@1:1101:1832:1891 1:N:0: CGATGTTT");
	name_is("@A00690:224:H7GC5DRX2:1:2101:1081:1016:ACGTACGT 2:Y:0:7",
		"@1:2101:1081:1016:ACGTACGT 2:Y:0:7");
	name_is("@SRR24827378.1 A00690:224:H7GC5DRX2:1:2101:1081:1016/1",
		"@SRR24827378.1 1:2101:1081:1016/1");
	name_is("@SEQ:1:1101:9010:3891#0/1 adapter start: 51",
		"@1:1101:9010:3891#0/1");
	name_is("@read_150_1/1", "@read_150_1/1");
	name_is("@a:b:c", "@a:b:c");
	name_is("@", "@");
}

static uint8_t *gunzip_all(const char *path, size_t *n)
{
	gzFile g = gzopen(path, "rb");
	assert_non_null(g);
	size_t cap = 1 << 20, len = 0;
	uint8_t *p = malloc(cap);
	int k;
	while ((k = gzread(g, p + len, (unsigned)(cap - len))) > 0) {
		len += (size_t)k;
		if (len == cap)
			p = realloc(p, cap *= 2);
	}
	assert_int_equal(k, 0);
	gzclose(g);
	*n = len;
	return p;
}

static void test_fastq(void **state)
{
	(void)state;
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	const char *in = in_path("fastq/clock_10K_R1.fastq.gz");
	const char *out = out_path("c.fq.gz");
	size_t na, nb;
	/* not asked: the decompressed bytes are identical */
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	assert_int_equal(r.records, 10000);
	assert_int_equal(r.read_names_stripped, 0);
	uint8_t *a = gunzip_all(in, &na), *b = gunzip_all(out, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(b);
	/* asked: names lose instrument, run and flowcell; rest unchanged */
	o.fastq_strip_names = true;
	assert_int_equal(strata_hts_deid(in, out, &o, &r), 0);
	assert_int_equal(r.records, 10000);
	assert_int_equal(r.read_names_stripped, 10000);
	b = gunzip_all(out, &nb);
	assert_null(memmem(b, nb, "HWI-D00436", 10));
	assert_null(memmem(b, nb, "CCAETANXX", 9));
	assert_memory_equal(b, "@1:1101:1832:1891 1:N:0: CGATGTTT\n", 34);
	/* the other three lines of every record are untouched */
	size_t ia = 0, ib = 0;
	for (int line = 0; ia < na && ib < nb; line++) {
		uint8_t *ea = memchr(a + ia, '\n', na - ia);
		uint8_t *eb = memchr(b + ib, '\n', nb - ib);
		assert_non_null(ea);
		assert_non_null(eb);
		size_t la = (size_t)(ea - (a + ia)),
		       lb = (size_t)(eb - (b + ib));
		if (line % 4) {
			assert_int_equal(la, lb);
			assert_memory_equal(a + ia, b + ib, la);
		}
		ia += la + 1;
		ib += lb + 1;
	}
	assert_int_equal(ia, na);
	assert_int_equal(ib, nb);
	free(a);
	free(b);
	/* names of other shapes */
	assert_int_equal(strata_hts_deid(in_path("fastq/reads_q64.fq.gz"),
					 out_path("q.fq.gz"), &o, &r),
			 0);
	assert_int_equal(r.records, 500);
	assert_int_equal(r.read_names_stripped, 0);
	assert_int_equal(
	    strata_hts_deid(in_path("fastq/BS-seq_10K_R1.fastq.gz"),
			    out_path("bs.fq.gz"), &o, &r),
	    0);
	assert_int_equal(r.read_names_stripped, 10000);
	b = gunzip_all(out_path("bs.fq.gz"), &nb);
	assert_null(memmem(b, nb, "H7GC5DRX2", 9));
	free(b);
	/* plain FASTQ stays plain */
	const char *plain = out_path("plain.fq");
	write_file(plain, "@M1:7:FC9:1:2:3:4 1:N:0:ACGT\nACGT\n+M1:7\nIIII\n");
	assert_int_equal(strata_hts_deid(plain, out_path("plain.o.fq"), &o, &r),
			 0);
	size_t n;
	uint8_t *p = unit_slurp(out_path("plain.o.fq"), &n);
	assert_non_null(p);
	assert_int_equal(n, 32);
	assert_memory_equal(p, "@1:2:3:4 1:N:0:ACGT\nACGT\n+\nIIII\n", 32);
	free(p);
}

/* ---- damaged input ---- */

static void truncate_copy(const char *from, const char *to, double frac,
			  long flip)
{
	size_t n = 0;
	uint8_t *p = unit_slurp(from, &n);
	assert_non_null(p);
	size_t keep = (size_t)((double)n * frac);
	if (flip >= 0 && (size_t)flip < keep)
		for (size_t i = 0; i < 64 && (size_t)flip + i < keep; i++)
			p[flip + (long)i] ^= 0x5a;
	FILE *f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, keep, f), keep);
	fclose(f);
	free(p);
}

static void damaged(const char *rel, const char *name, double frac, long flip)
{
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	o.reference = in_path("cram/ref/ce.fa");
	const char *bad = out_path(name);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s.out", bad);
	truncate_copy(in_path(rel), bad, frac, flip);
	int rc = strata_hts_deid(bad, out, &o, &r);
	if (rc != STRATA_ECORRUPT)
		print_error("%s (%.2f, %ld): %d %s\n", rel, frac, flip, rc,
			    strata_error_msg());
	assert_int_equal(rc, STRATA_ECORRUPT);
	assert_false(exists(out));
}

static void test_damaged(void **state)
{
	(void)state;
	damaged("bam/level-1.bam", "t1.bam", 0.5, -1);
	damaged("bam/level-1.bam", "t2.bam", 1.0, 500000);
	damaged("bam/mpileup.1.bam", "t3.bam", 0.999, -1);
	damaged("vcf/test.vcf.gz", "t4.vcf.gz", 0.6, -1);
	damaged("vcf/test.vcf.gz", "t5.vcf.gz", 1.0, 90000);
	damaged("vcf/test.snpeff.bcf", "t6.bcf", 0.7, -1);
	damaged("fastq/clock_10K_R1.fastq.gz", "t7.fq.gz", 0.5, -1);
	damaged("fastq/clock_10K_R1.fastq.gz", "t8.fq.gz", 1.0, 200000);
	damaged("cram/range.cram", "t9.cram", 0.6, -1);
	damaged("cram/1400_index_simple.sam", "t10.sam", 0.5, -1);
	/* a header cut short */
	damaged("bam/level-1.bam", "t11.bam", 0.002, -1);
	damaged("vcf/test.vcf.gz", "t12.vcf.gz", 0.02, -1);
}

/* ---- driver for deid_hts_golden.sh ---- */

static int scrub_main(int argc, char **argv)
{
	strata_hts_deid_opts o = opts();
	strata_hts_deid_report r;
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--strip") == 0)
			o.fastq_strip_names = true;
		else if (strcmp(argv[i], "--ref") == 0 && i + 1 < argc)
			o.reference = argv[++i];
		else if (strcmp(argv[i], "--keep-comments") == 0)
			o.keep_comments = true;
	}
	if (argc >= 3 && strcmp(argv[2], "--pseudonym") == 0) {
		printf("%s\n", ps(argv[3]));
		return 0;
	}
	int rc = strata_hts_deid(argv[2], argv[3], &o, &r);
	if (rc) {
		fprintf(stderr, "deid: %s: %s\n", strata_error_name(rc),
			strata_error_msg());
		return 1;
	}
	printf("records=%" PRIu64 " samples=%u rg=%u rgid=%u pg=%u co=%u "
	       "ur=%u meta=%u trim=%u names=%u\n",
	       r.records, r.samples_renamed, r.rg_fields_replaced,
	       r.rg_ids_renamed, r.pg_cl_scrubbed, r.comments_dropped,
	       r.sq_ur_removed, r.meta_lines_removed, r.meta_lines_trimmed,
	       r.read_names_stripped);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--scrub") == 0)
		return scrub_main(argc, argv);
	td = getenv("STRATA_TESTDATA");
	if (!td || !exists(td)) {
		fprintf(stderr, "STRATA_TESTDATA not set or missing\n");
		return 1;
	}
	tmp = unit_tmpdir();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bam_level1),
	    cmocka_unit_test(test_bam_mpileup),
	    cmocka_unit_test(test_bam_range_and_cram_same_pseudonym),
	    cmocka_unit_test(test_sam_text),
	    cmocka_unit_test(test_sam_rules),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_cram_reference),
	    cmocka_unit_test(test_vcf_gz),
	    cmocka_unit_test(test_bcf),
	    cmocka_unit_test(test_vcf_meta_samples),
	    cmocka_unit_test(test_fastq_names),
	    cmocka_unit_test(test_fastq),
	    cmocka_unit_test(test_damaged),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unit_rmtree(tmp);
	return rc;
}
