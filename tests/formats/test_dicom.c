/*
 * test_dicom.c - cmocka tests for the DICOM reader (src/formats/dicom.c):
 * exact values from the sample files in $STRATA_TESTDATA/dicom (every
 * transfer syntax family, charsets, sequences), and hostile files built
 * here: truncations, huge lengths, deep nesting, bad magic and VRs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/common.h"
#include "strata/formats.h"

static char tmpdir[] = "/tmp/strata-test-dicom-XXXXXX";

static const char *testdata(void)
{
	const char *d = getenv("STRATA_TESTDATA");
	return d && *d ? d : "../shared/testdata";
}

/* The reader from memory must agree with the reader from a file: same
 * result, same attributes, same cut points. */
static void same_from_memory(const char *path, int rc, const strata_attrs *a,
			     const strata_cuts *cuts)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	strata_attrs *b = NULL;
	strata_cuts c = {0};
	assert_int_equal(strata_attrs_new(&b), 0);
	assert_int_equal(strata_dicom_read_mem(path, p, (size_t)n, b, &c), rc);
	assert_int_equal(strata_attrs_count(b), strata_attrs_count(a));
	for (size_t i = 0; i < strata_attrs_count(a); i++) {
		const strata_attr *x = strata_attrs_at(a, i);
		const strata_attr *y = strata_attrs_find(b, x->key);
		if (!y)
			fail_msg("%s: %s missing when read from memory", path,
				 x->key);
		assert_int_equal(x->type, y->type);
		if (x->type == STRATA_ATTR_STR)
			assert_string_equal(x->s, y->s);
		else if (x->type == STRATA_ATTR_INT)
			assert_int_equal(x->i, y->i);
		else
			assert_memory_equal(&x->d, &y->d, sizeof(x->d));
	}
	if (cuts) {
		assert_int_equal(c.n, cuts->n);
		for (size_t i = 0; i < c.n; i++)
			assert_int_equal(c.off[i], cuts->off[i]);
	}
	free(c.off);
	strata_attrs_free(b);
	free(p);
}

/* Read file `name` (under testdata/dicom unless absolute), from its path
 * and, to compare, from memory. */
static int rd(const char *name, strata_attrs *a, strata_cuts *cuts)
{
	char path[4096];
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/dicom/%s", testdata(), name);
	strata_attrs_clear(a);
	if (cuts)
		cuts->n = 0;
	int rc = strata_dicom_read(path, a, cuts);
	same_from_memory(path, rc, a, cuts);
	return rc;
}

static void str_eq(strata_attrs *a, const char *key, const char *want)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_STR);
	assert_string_equal(x->s, want);
}

static void int_eq(strata_attrs *a, const char *key, int64_t want)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_INT);
	assert_int_equal(x->i, want);
}

static void real_eq(strata_attrs *a, const char *key, double want)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_REAL);
	assert_float_equal(x->d, want, 1e-9);
}

#define MR_STUDY "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"

static void mr_common(strata_attrs *a)
{
	str_eq(a, "dicom.Modality", "MR");
	str_eq(a, "dicom.StudyInstanceUID", MR_STUDY);
	str_eq(a, "dicom.SOPInstanceUID",
	       "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457");
	str_eq(a, "dicom.PatientName", "CompressedSamples^MR1");
	str_eq(a, "dicom.Manufacturer", "TOSHIBA_MEC");
	int_eq(a, "dicom.Rows", 64);
	int_eq(a, "dicom.Columns", 64);
	int_eq(a, "dicom.BitsAllocated", 16);
	int_eq(a, "dicom.SeriesNumber", 1);
	real_eq(a, "dicom.SliceThickness", 0.8);
	real_eq(a, "dicom.EchoTime", 240);
	str_eq(a, "dicom.PixelSpacing", "0.3125\\0.3125");
	str_eq(a, "dicom.ImageType", "DERIVED\\SECONDARY\\OTHER");
	int_eq(a, "dicom.HasPixelData", 1);
}

static void test_mr_syntaxes(void **state)
{
	strata_attrs *a = *state;
	strata_cuts cuts = {0};
	static const struct {
		const char *file, *ts, *name;
		int64_t off, encaps;
	} t[] = {
	    {"MR_small.dcm", "1.2.840.10008.1.2.1", "Explicit VR Little Endian",
	     1488, 0},
	    {"MR_small_implicit.dcm", "1.2.840.10008.1.2",
	     "Implicit VR Little Endian", 1502, 0},
	    {"MR_small_bigendian.dcm", "1.2.840.10008.1.2.2",
	     "Explicit VR Big Endian", 1504, 0},
	    {"MR_small_RLE.dcm", "1.2.840.10008.1.2.5", "RLE Lossless", 1504,
	     1},
	    {"MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90",
	     "JPEG 2000 Lossless", 1520, 1},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(rd(t[i].file, a, &cuts), 0);
		mr_common(a);
		str_eq(a, "dicom.TransferSyntaxUID", t[i].ts);
		str_eq(a, "dicom.TransferSyntax", t[i].name);
		int_eq(a, "dicom.PixelDataOffset", t[i].off);
		int_eq(a, "dicom.Encapsulated", t[i].encaps);
		/* the pixel data start, and its end when a trailer follows */
		assert_in_range(cuts.n, 1, 2);
		assert_int_equal(cuts.off[0], (uint64_t)t[i].off);
		if (cuts.n == 2)
			assert_true(cuts.off[1] > cuts.off[0]);
	}
	strata_free(cuts.off);
}

static void test_deflated(void **state)
{
	strata_attrs *a = *state;
	strata_cuts cuts = {0};
	assert_int_equal(rd("image_dfl.dcm", a, &cuts), 0);
	str_eq(a, "dicom.TransferSyntax", "Deflated Explicit VR Little Endian");
	str_eq(a, "dicom.Modality", "OT");
	str_eq(a, "dicom.StudyInstanceUID",
	       "1.3.6.1.4.1.5962.1.2.0.977067310.6001.0");
	int_eq(a, "dicom.Rows", 512);
	int_eq(a, "dicom.Columns", 512);
	int_eq(a, "dicom.BitsAllocated", 8);
	int_eq(a, "dicom.HasPixelData", 1);
	/* offsets inside the inflated stream are no file offsets */
	assert_null(strata_attrs_find(a, "dicom.PixelDataOffset"));
	assert_int_equal(cuts.n, 0);
	strata_free(cuts.off);
}

static void test_charsets(void **state)
{
	strata_attrs *a = *state;
	assert_int_equal(rd("chrRuss.dcm", a, NULL), 0);
	str_eq(a, "dicom.SpecificCharacterSet", "ISO_IR 144");
	str_eq(a, "dicom.PatientName",
	       "\xd0\x9b\xd1\x8e\xd0\xba\x63\x65\xd0\xbc\xd0\xb1\x79\x70"
	       "\xd0\xb3");
	assert_null(strata_attrs_find(a, "dicom.CharsetWarning"));
	assert_int_equal(rd("chrX1.dcm", a, NULL), 0);
	str_eq(a, "dicom.SpecificCharacterSet", "ISO_IR 192");
	str_eq(a, "dicom.PatientName",
	       "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=");
}

static void test_sequences(void **state)
{
	strata_attrs *a = *state;
	strata_cuts cuts = {0};
	/* private undefined-length SQ, nested, and an SQ encoded as UN */
	assert_int_equal(rd("priv_SQ.dcm", a, &cuts), 0);
	int_eq(a, "dicom.HasPixelData", 0);
	assert_int_equal(rd("nested_priv_SQ.dcm", a, &cuts), 0);
	int_eq(a, "dicom.PixelDataOffset", 333);
	assert_int_equal(rd("UN_sequence.dcm", a, &cuts), 0);
	str_eq(a, "dicom.TransferSyntax", "JPEG Lossless SV1");
	/* functional groups, then encapsulated multi-frame */
	assert_int_equal(rd("emri_small_jpeg_2k_lossless.dcm", a, &cuts), 0);
	int_eq(a, "dicom.NumberOfFrames", 10);
	int_eq(a, "dicom.PixelDataOffset", 2340);
	int_eq(a, "dicom.Encapsulated", 1);
	/* nearly every VR is UN: the dictionary VR decides */
	assert_int_equal(rd("explicit_VR-UN.dcm", a, &cuts), 0);
	str_eq(a, "dicom.PatientName", "PANCREAS_0001");
	int_eq(a, "dicom.Rows", 512);
	int_eq(a, "dicom.BitsAllocated", 16);
	int_eq(a, "dicom.PixelDataOffset", 1406);
	strata_free(cuts.off);
}

static void test_no_meta_and_private(void **state)
{
	strata_attrs *a = *state;
	strata_cuts cuts = {0};
	assert_int_equal(rd("rtstruct.dcm", a, &cuts), 0);
	str_eq(a, "dicom.TransferSyntax", "Implicit VR Little Endian");
	str_eq(a, "dicom.PatientName", "Test^Phantom30sep");
	str_eq(a, "dicom.Modality", "RTSTRUCT");
	assert_null(strata_attrs_find(a, "dicom.TransferSyntaxUID"));
	assert_int_equal(rd("CT1_UNC.implicit_little_endian.dcm", a, &cuts), 0);
	str_eq(a, "dicom.Modality", "CT");
	str_eq(a, "dicom.Manufacturer", "GE MEDICAL SYSTEMS");
	int_eq(a, "dicom.Rows", 512);
	int_eq(a, "dicom.PixelDataOffset", 6196);
	assert_int_equal(rd("rtdose.dcm", a, &cuts), 0);
	int_eq(a, "dicom.NumberOfFrames", 15);
	int_eq(a, "dicom.PixelDataOffset", 1560);
	assert_int_equal(rd("0051.dcm", a, &cuts), 0);
	int_eq(a, "dicom.PixelDataOffset", 124756);
	strata_free(cuts.off);
}

/* ---- crafted files ---- */

typedef struct bld {
	uint8_t b[8192];
	size_t n;
} bld;

static void put(bld *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put16(bld *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(b, x, 2);
}

static void put32(bld *b, uint32_t v)
{
	uint8_t x[4];
	strata_le32(x, v);
	put(b, x, 4);
}

/* An explicit VR LE element; long-form VRs get 4-byte lengths. */
static void el(bld *b, uint16_t g, uint16_t e, const char *vr, const void *v,
	       uint32_t len)
{
	put16(b, g);
	put16(b, e);
	put(b, vr, 2);
	if (strstr("OBOWSQUNUTUCURODOFOL", vr)) {
		put16(b, 0);
		put32(b, len);
	} else {
		put16(b, (uint16_t)len);
	}
	if (v)
		put(b, v, len);
}

static void head(bld *b, const char *ts)
{
	b->n = 0;
	memset(b->b, 0, 128);
	b->n = 128;
	put(b, "DICM", 4);
	size_t n = strlen(ts);
	char uid[64];
	memcpy(uid, ts, n);
	if (n % 2)
		uid[n++] = '\0';
	el(b, 0x0002, 0x0010, "UI", uid, (uint32_t)n);
}

static const char *save(const bld *b, const char *name)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->b, 1, b->n, f), b->n);
	fclose(f);
	return path;
}

static void test_crafted_charsets(void **state)
{
	strata_attrs *a = *state;
	bld b;
	head(&b, "1.2.840.10008.1.2.1");
	el(&b, 0x0008, 0x0005, "CS", "ISO_IR 100", 10);
	el(&b, 0x0010, 0x0010, "PN", "M\xfcller^J ", 10);
	assert_int_equal(rd(save(&b, "l1.dcm"), a, NULL), 0);
	str_eq(a, "dicom.PatientName", "M\xc3\xbcller^J");
	assert_null(strata_attrs_find(a, "dicom.CharsetWarning"));

	head(&b, "1.2.840.10008.1.2.1");
	el(&b, 0x0008, 0x0005, "CS", "ISO_IR 126", 10);
	el(&b, 0x0010, 0x0010, "PN", "\xe1\xe2", 2);
	assert_int_equal(rd(save(&b, "gr.dcm"), a, NULL), 0);
	str_eq(a, "dicom.PatientName", "\xce\xb1\xce\xb2");

	head(&b, "1.2.840.10008.1.2.1");
	el(&b, 0x0008, 0x0005, "CS", "GB18030 ", 8);
	el(&b, 0x0010, 0x0010, "PN", "A\xb0\xa1", 3);
	el(&b, 0x0010, 0x0020, "LO", "", 0);
	assert_int_equal(rd(save(&b, "gb.dcm"), a, NULL), 0);
	str_eq(a, "dicom.PatientName", "A\xef\xbf\xbd\xef\xbf\xbd");
	int_eq(a, "dicom.CharsetWarning", 1);
	assert_null(strata_attrs_find(a, "dicom.PatientID"));

	/* bad UTF-8 under ISO_IR 192 is replaced, not rejected */
	head(&b, "1.2.840.10008.1.2.1");
	el(&b, 0x0008, 0x0005, "CS", "ISO_IR 192", 10);
	el(&b, 0x0010, 0x0010, "PN", "x\xc3(", 3);
	el(&b, 0x0020, 0x0011, "IS", " 42 ", 4);
	el(&b, 0x0028, 0x0030, "DS", "0.5\\0.25", 8);
	el(&b, 0x0018, 0x0050, "DS", "1.5e1 ", 6);
	assert_int_equal(rd(save(&b, "u8.dcm"), a, NULL), 0);
	str_eq(a, "dicom.PatientName", "x\xef\xbf\xbd(");
	int_eq(a, "dicom.SeriesNumber", 42);
	str_eq(a, "dicom.PixelSpacing", "0.5\\0.25");
	real_eq(a, "dicom.SliceThickness", 15.0);
	int_eq(a, "dicom.CharsetWarning", 1);
}

static void expect_corrupt(strata_attrs *a, const bld *b, const char *what)
{
	int rc = rd(save(b, "bad.dcm"), a, NULL);
	if (rc != STRATA_ECORRUPT)
		fail_msg("%s: rc %d, want ECORRUPT", what, rc);
	assert_non_null(strstr(strata_error_msg(), "bad.dcm"));
	assert_int_equal(strata_attrs_count(a), 0);
}

static void test_hostile(void **state)
{
	strata_attrs *a = *state;
	bld b;
	b.n = 0;
	put(&b, "hello, world: this is not dicom at all", 38);
	expect_corrupt(a, &b, "text");
	b.n = 0;
	expect_corrupt(a, &b, "empty");

	head(&b, "1.2.840.10008.1.2.1");
	el(&b, 0x0009, 0x0010, "OB", NULL, 0xfffffff0u);
	put(&b, "abcd", 4);
	expect_corrupt(a, &b, "huge length");

	head(&b, "1.2.840.10008.1.2.1");
	el(&b, 0x0010, 0x0010, "UT", NULL, 0xffffffffu);
	expect_corrupt(a, &b, "undefined length UT");

	head(&b, "1.2.840.10008.1.2.1");
	put(&b,
	    "\x10\x00\x10\x00"
	    "a!"
	    "\x02\x00"
	    "xy",
	    10);
	expect_corrupt(a, &b, "bad VR");

	/* sequences nested far too deep */
	head(&b, "1.2.840.10008.1.2.1");
	for (int i = 0; i < 40; i++) {
		el(&b, 0x0040, 0x0100, "SQ", NULL, 0xffffffffu);
		put16(&b, 0xfffe);
		put16(&b, 0xe000);
		put32(&b, 0xffffffffu);
	}
	expect_corrupt(a, &b, "deep nesting");

	/* an item that claims more than its sequence holds */
	head(&b, "1.2.840.10008.1.2");
	put16(&b, 0x0009);
	put16(&b, 0x1001);
	put32(&b, 0xffffffffu);
	put16(&b, 0xfffe);
	put16(&b, 0xe000);
	put32(&b, 0xffffffffu);
	put16(&b, 0x0009);
	put16(&b, 0x1002);
	put32(&b, 0x7ffffff0u);
	expect_corrupt(a, &b, "item overrun");

	/* deflated syntax with garbage after the File Meta */
	head(&b, "1.2.840.10008.1.2.1.99");
	put(&b, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	expect_corrupt(a, &b, "bad deflate");
}

static void test_truncations(void **state)
{
	strata_attrs *a = *state;
	char src[4096], *buf;
	size_t n = 1500 + 16, errors = 0;
	snprintf(src, sizeof(src), "%s/dicom/MR_small.dcm", testdata());
	FILE *f = fopen(src, "rb");
	assert_non_null(f);
	buf = malloc(n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), n);
	fclose(f);
	for (size_t len = 0; len < n; len++) {
		bld *b = malloc(sizeof(*b));
		assert_non_null(b);
		memcpy(b->b, buf, len);
		b->n = len;
		int rc = rd(save(b, "trunc.dcm"), a, NULL);
		free(b);
		if (rc) {
			assert_int_equal(rc, STRATA_ECORRUPT);
			errors++;
			continue;
		}
		/* a cut between elements reads as a shorter dataset */
		if (len < 1500)
			assert_null(
			    strata_attrs_find(a, "dicom.PixelDataOffset"));
		else
			int_eq(a, "dicom.PixelDataOffset", 1488);
	}
	assert_true(errors > 1300);
	free(buf);
}

static int setup(void **state)
{
	strata_attrs *a;
	if (!mkdtemp(tmpdir) || strata_attrs_new(&a))
		return -1;
	*state = a;
	return 0;
}

static int teardown(void **state)
{
	strata_attrs_free(*state);
	const char *names[] = {"l1.dcm", "gr.dcm",  "gb.dcm",
			       "u8.dcm", "bad.dcm", "trunc.dcm"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mr_syntaxes),
	    cmocka_unit_test(test_deflated),
	    cmocka_unit_test(test_charsets),
	    cmocka_unit_test(test_sequences),
	    cmocka_unit_test(test_no_meta_and_private),
	    cmocka_unit_test(test_crafted_charsets),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_truncations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
