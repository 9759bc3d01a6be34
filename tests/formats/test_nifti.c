/*
 * test_nifti.c - cmocka tests for the NIfTI header reader (src/formats/
 * nifti.c): exact attributes of the sample files in $STRATA_TESTDATA/nifti
 * (little- and big-endian, plain and gzip), crafted NIfTI-2 headers in both
 * byte orders, and hostile headers that must fail cleanly.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <zlib.h>

#include "common/common.h"
#include "strata/formats.h"
#include "fmt_test.h"

static char tmp_path[64];

static const char *data_path(const char *name)
{
	return sample_path("nifti", name);
}

/* Write p[0..n) to the temp file, gzip-compressed when gz. */
static const char *put_file(const void *p, size_t n, bool gz)
{
	if (!tmp_path[0]) {
		snprintf(tmp_path, sizeof(tmp_path), "/tmp/test-nifti-XXXXXX");
		int fd = mkstemp(tmp_path);
		assert_true(fd >= 0);
		close(fd);
	}
	if (gz) {
		gzFile g = gzopen(tmp_path, "wb");
		assert_non_null(g);
		if (n)
			assert_int_equal(gzwrite(g, p, (unsigned)n), (int)n);
		assert_int_equal(gzclose(g), Z_OK);
		return tmp_path;
	}
	FILE *f = fopen(tmp_path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	return tmp_path;
}

static strata_attrs *read_ok(const char *path)
{
	strata_attrs *a = NULL;
	assert_int_equal(strata_attrs_new(&a), 0);
	int rc = strata_nifti_read(path, a);
	if (rc)
		fail_msg("%s: %s", path, strata_error_msg());
	return a;
}

static void expect_fail(const char *path, const char *what)
{
	strata_attrs *a = NULL;
	assert_int_equal(strata_attrs_new(&a), 0);
	int rc = strata_nifti_read(path, a);
	if (!rc)
		fail_msg("%s: accepted a hostile header", what);
	assert_true(rc < 0);
	assert_non_null(strstr(strata_error_msg(), path));
	strata_attrs_free(a);
}

static void eq_real(strata_attrs *a, const char *key, double v)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_REAL);
	double diff = x->d > v ? x->d - v : v - x->d;
	if (diff > 1e-6 * (v > 1 ? v : v < -1 ? -v : 1))
		fail_msg("%s: %.9g != %.9g", key, x->d, v);
}

static void test_anatomical_big_endian(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("anatomical.nii"));
	eq_int(a, "nifti.version", 1);
	eq_str(a, "nifti.byte_order", "big");
	eq_str(a, "nifti.dim", "33x41x25");
	eq_int(a, "nifti.ndim", 3);
	eq_int(a, "nifti.dim1", 33);
	eq_int(a, "nifti.dim2", 41);
	eq_int(a, "nifti.dim3", 25);
	absent(a, "nifti.dim4");
	eq_str(a, "nifti.datatype", "int16");
	eq_int(a, "nifti.bitpix", 16);
	eq_str(a, "nifti.voxel_size", "2x2x2");
	eq_real(a, "nifti.pixdim1", 2.0);
	eq_str(a, "nifti.units_space", "mm");
	eq_str(a, "nifti.units_time", "s");
	absent(a, "nifti.tr"); /* 3D: no time axis */
	eq_int(a, "nifti.qform_code", 2);
	eq_str(a, "nifti.qform_name", "aligned");
	eq_int(a, "nifti.sform_code", 2);
	eq_int(a, "nifti.intent_code", 0);
	eq_str(a, "nifti.description", "spm - 3D normalized");
	strata_attrs_free(a);
}

static void test_functional_4d(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("functional.nii"));
	eq_str(a, "nifti.byte_order", "little");
	eq_str(a, "nifti.dim", "17x21x3x20");
	eq_int(a, "nifti.ndim", 4);
	eq_int(a, "nifti.dim4", 20);
	eq_str(a, "nifti.voxel_size", "4x4x8");
	eq_real(a, "nifti.pixdim3", 8.0);
	eq_real(a, "nifti.tr", 2.0);
	eq_int(a, "nifti.sform_code", 2);
	strata_attrs_free(a);
}

static void test_example4d_gz(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("example4d.nii.gz"));
	eq_str(a, "nifti.dim", "128x96x24x2");
	eq_str(a, "nifti.datatype", "int16");
	eq_str(a, "nifti.voxel_size", "2x2x2.2");
	eq_real(a, "nifti.pixdim3", 2.2);
	eq_int(a, "nifti.qform_code", 1);
	eq_str(a, "nifti.qform_name", "scanner");
	eq_int(a, "nifti.sform_code", 1);
	eq_str(a, "nifti.description", "FSL3.3");
	/* the header says seconds and 2000: taken as written */
	eq_real(a, "nifti.tr", 2000.0);
	strata_attrs_free(a);
}

static void test_kmeans_codes_differ(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("KmeansTest_T1UCharRaw.nii.gz"));
	eq_str(a, "nifti.dim", "128x128x62");
	eq_str(a, "nifti.voxel_size", "2x2x3");
	eq_int(a, "nifti.qform_code", 2);
	eq_str(a, "nifti.qform_name", "aligned");
	eq_int(a, "nifti.sform_code", 1);
	eq_str(a, "nifti.sform_name", "scanner");
	absent(a, "nifti.units_time");
	absent(a, "nifti.description");
	strata_attrs_free(a);

	a = read_ok(data_path("small_101D.nii.gz"));
	eq_str(a, "nifti.dim", "6x10x10x102");
	eq_str(a, "nifti.datatype", "uint16");
	eq_str(a, "nifti.voxel_size", "2.5x2.5x2.5");
	absent(a, "nifti.units_space"); /* xyzt_units 0 */
	absent(a, "nifti.tr");
	strata_attrs_free(a);
}

/* ---- crafted headers ---- */

static void put16(uint8_t *p, bool be, uint16_t v)
{
	p[be ? 0 : 1] = (uint8_t)(v >> 8);
	p[be ? 1 : 0] = (uint8_t)v;
}

static void put32(uint8_t *p, bool be, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, bool be, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[be ? 7 - i : i] = (uint8_t)(v >> (8 * i));
}

static void putf64(uint8_t *p, bool be, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	put64(p, be, u);
}

static void putf32(uint8_t *p, bool be, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put32(p, be, u);
}

/* A NIfTI-2 header: 64x64x21x3 float32, 1x1x1.2 mm, TR 2500 ms. */
static void make_n2(uint8_t h[544], bool be)
{
	static const int64_t dim[8] = {4, 64, 64, 21, 3, 1, 1, 1};
	static const double pix[8] = {-1, 1, 1, 1.2, 2500, 0, 0, 0};
	memset(h, 0, 544);
	put32(h, be, 540);
	memcpy(h + 4, "n+2\0\r\n\032\n", 8);
	put16(h + 12, be, 16);
	put16(h + 14, be, 32);
	for (int i = 0; i < 8; i++) {
		put64(h + 16 + 8 * i, be, (uint64_t)dim[i]);
		putf64(h + 104 + 8 * i, be, pix[i]);
	}
	put64(h + 168, be, 544);
	memcpy(h + 240, "caf\xe9 scan\x01  ", 12); /* Latin-1, a control */
	put32(h + 344, be, 1);
	put32(h + 348, be, 4);
	put32(h + 500, be, 2 | 16);
	put32(h + 504, be, 1002);
}

static void check_n2(strata_attrs *a)
{
	eq_int(a, "nifti.version", 2);
	eq_str(a, "nifti.dim", "64x64x21x3");
	eq_int(a, "nifti.dim3", 21);
	eq_str(a, "nifti.datatype", "float32");
	eq_int(a, "nifti.bitpix", 32);
	eq_str(a, "nifti.voxel_size", "1x1x1.2");
	eq_real(a, "nifti.pixdim3", 1.2);
	eq_str(a, "nifti.units_time", "ms");
	eq_real(a, "nifti.tr", 2.5);
	eq_str(a, "nifti.qform_name", "scanner");
	eq_int(a, "nifti.sform_code", 4);
	eq_str(a, "nifti.sform_name", "mni_152");
	eq_int(a, "nifti.intent_code", 1002);
	eq_str(a, "nifti.description", "caf\xc3\xa9 scan");
}

static void test_nifti2_both_orders(void **state)
{
	(void)state;
	uint8_t h[544];
	for (int be = 0; be < 2; be++) {
		make_n2(h, be);
		for (int gz = 0; gz < 2; gz++) {
			strata_attrs *a = read_ok(put_file(h, sizeof(h), gz));
			check_n2(a);
			eq_str(a, "nifti.byte_order", be ? "big" : "little");
			strata_attrs_free(a);
		}
	}
}

static void test_truncated_everywhere(void **state)
{
	(void)state;
	uint8_t h[544];
	make_n2(h, false);
	for (size_t n = 0; n < 540; n++) {
		expect_fail(put_file(h, n, false), "truncated nifti-2");
		if (n % 7 == 0)
			expect_fail(put_file(h, n, true),
				    "truncated nifti-2 gz");
	}
	FILE *f = fopen(data_path("functional.nii"), "rb");
	assert_non_null(f);
	uint8_t h1[348];
	assert_int_equal(fread(h1, 1, sizeof(h1), f), sizeof(h1));
	fclose(f);
	for (size_t n = 0; n < 348; n++)
		expect_fail(put_file(h1, n, false), "truncated nifti-1");
	/* a gzip file holding just the header reads */
	strata_attrs *a = read_ok(put_file(h1, sizeof(h1), true));
	eq_str(a, "nifti.dim", "17x21x3x20");
	strata_attrs_free(a);
}

static void test_hostile_fields(void **state)
{
	(void)state;
	uint8_t h[544];
	const char *p;
	make_n2(h, false);
	put64(h + 24, false, (uint64_t)1 << 40); /* huge dim1 */
	expect_fail(put_file(h, sizeof(h), false), "huge dim");
	make_n2(h, false);
	put64(h + 16, false, 8); /* dim[0] > 7 */
	expect_fail(put_file(h, sizeof(h), false), "dim0 8");
	make_n2(h, false);
	put64(h + 16, false, 0);
	expect_fail(put_file(h, sizeof(h), false), "dim0 0");
	make_n2(h, false);
	put64(h + 40, false, (uint64_t)-3); /* dim3 negative */
	expect_fail(put_file(h, sizeof(h), false), "negative dim");
	make_n2(h, false);
	for (int i = 1; i <= 7; i++) /* 2^31 ^ 7 overflows the voxel count */
		put64(h + 16 + 8 * i, false, (uint64_t)1 << 31);
	put64(h + 16, false, 7);
	expect_fail(put_file(h, sizeof(h), false), "voxel overflow");
	make_n2(h, false);
	put16(h + 12, false, 3); /* unknown datatype */
	expect_fail(put_file(h, sizeof(h), false), "datatype");
	make_n2(h, false);
	put64(h + 168, false, 12); /* vox_offset inside the header */
	expect_fail(put_file(h, sizeof(h), false), "vox_offset");
	make_n2(h, false);
	put64(h + 168, false, (uint64_t)-1);
	expect_fail(put_file(h, sizeof(h), false), "negative vox_offset");
	make_n2(h, false);
	h[6] = '3'; /* magic n+3 */
	expect_fail(put_file(h, sizeof(h), false), "magic");
	make_n2(h, false);
	put32(h, false, 0x7fffffff);
	expect_fail(put_file(h, sizeof(h), false), "sizeof_hdr");

	uint8_t h1[352] = {0};
	put32(h1, true, 348); /* analyze 7.5: right size, no magic */
	put16(h1 + 40, true, 3);
	expect_fail(put_file(h1, sizeof(h1), false), "analyze");
	memcpy(h1 + 344, "n+1", 4);
	put16(h1 + 42, true, 4);
	put16(h1 + 44, true, 4);
	put16(h1 + 46, true, 4);
	put16(h1 + 70, true, 2);
	putf32(h1 + 108, true, NAN);
	expect_fail(put_file(h1, sizeof(h1), false), "nan vox_offset");
	putf32(h1 + 108, true, 352);
	strata_attrs *a = read_ok(put_file(h1, sizeof(h1), false));
	eq_str(a, "nifti.dim", "4x4x4");
	eq_str(a, "nifti.datatype", "uint8");
	absent(a, "nifti.description");
	strata_attrs_free(a);

	/* corrupt gzip after the magic; a missing file */
	static const uint8_t badgz[] = {0x1f, 0x8b, 8,	  0,   0,    0,
					0,    0,    0,	  3,   0xff, 0xff,
					0xff, 0xff, 0xff, 0xff};
	expect_fail(put_file(badgz, sizeof(badgz), false), "bad gzip");
	p = "/nonexistent/strata-test.nii";
	expect_fail(p, "missing file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_anatomical_big_endian),
	    cmocka_unit_test(test_functional_4d),
	    cmocka_unit_test(test_example4d_gz),
	    cmocka_unit_test(test_kmeans_codes_differ),
	    cmocka_unit_test(test_nifti2_both_orders),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_hostile_fields),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (tmp_path[0])
		unlink(tmp_path);
	return rc;
}
