/*
 * test_tiff.c - cmocka tests for the TIFF/SVS/OME-TIFF reader (src/formats/
 * tiff.c): exact attributes of the sample slides in $STRATA_TESTDATA/wsi,
 * pyramids written here with libtiff (BigTIFF, big-endian, Aperio and
 * namespaced OME-XML descriptions), and hostile files built byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <tiffio.h>

#include "common/common.h"
#include "strata/formats.h"
#include "fmt_test.h"

static char tmp_path[64];

static const char *data_path(const char *name)
{
	return sample_path("wsi", name);
}

static const char *tmp_file(void)
{
	if (!tmp_path[0]) {
		snprintf(tmp_path, sizeof(tmp_path), "/tmp/test-tiff-XXXXXX");
		int fd = mkstemp(tmp_path);
		assert_true(fd >= 0);
		close(fd);
	}
	return tmp_path;
}

static const char *put_file(const void *p, size_t n)
{
	FILE *f = fopen(tmp_file(), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	return tmp_path;
}

static int read_rc(const char *path, strata_attrs **out)
{
	assert_int_equal(strata_attrs_new(out), 0);
	return strata_tiff_read(path, *out);
}

static strata_attrs *read_ok(const char *path)
{
	strata_attrs *a = NULL;
	if (read_rc(path, &a))
		fail_msg("%s: %s", path, strata_error_msg());
	return a;
}

static void expect_fail(const char *path, const char *what)
{
	strata_attrs *a = NULL;
	int rc = read_rc(path, &a);
	strata_attrs_free(a);
	if (!rc)
		fail_msg("%s: accepted a hostile file", what);
	assert_true(rc < 0);
	assert_non_null(strstr(strata_error_msg(), path));
}

static void eq_real(strata_attrs *a, const char *key, double v)
{
	const strata_attr *x = strata_attrs_find(a, key);
	if (!x)
		fail_msg("missing %s", key);
	assert_int_equal(x->type, STRATA_ATTR_REAL);
	double d = x->d > v ? x->d - v : v - x->d;
	if (d > 1e-9)
		fail_msg("%s: %.12g != %.12g", key, x->d, v);
}

static void test_svs(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("CMU-1-Small-Region.svs"));
	eq_str(a, "wsi.vendor", "aperio");
	eq_int(a, "wsi.width", 2220);
	eq_int(a, "wsi.height", 2967);
	eq_int(a, "wsi.tile_width", 240);
	eq_int(a, "wsi.tile_height", 240);
	eq_str(a, "wsi.compression", "jpeg");
	eq_real(a, "wsi.magnification", 20);
	eq_real(a, "wsi.mpp", 0.499);
	/* thumbnail (striped), label and macro are not levels */
	eq_int(a, "wsi.levels", 1);
	eq_str(a, "wsi.level_dims", "2220x2967");
	eq_int(a, "wsi.directories", 4);
	eq_int(a, "wsi.bigtiff", 0);
	eq_int(a, "wsi.samples_per_pixel", 3);
	eq_int(a, "wsi.bits_per_sample", 8);
	absent(a, "ome.size_x");
	strata_attrs_free(a);
}

static void test_boxes_pyramid(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("boxes.tiff"));
	eq_str(a, "wsi.vendor", "generic-tiff");
	eq_int(a, "wsi.levels", 4);
	eq_str(a, "wsi.level_dims", "300x250,150x125,75x62,37x31");
	eq_int(a, "wsi.tile_width", 64);
	eq_str(a, "wsi.compression", "deflate");
	absent(a, "wsi.mpp");
	strata_attrs_free(a);
}

static void test_ome(void **state)
{
	(void)state;
	strata_attrs *a = read_ok(data_path("multi-channel-z-series.ome.tif"));
	eq_str(a, "wsi.vendor", "ome");
	eq_int(a, "ome.size_x", 439);
	eq_int(a, "ome.size_y", 167);
	eq_int(a, "ome.size_z", 5);
	eq_int(a, "ome.size_c", 3);
	eq_int(a, "ome.size_t", 1);
	eq_str(a, "ome.dimension_order", "XYZCT");
	eq_str(a, "ome.pixel_type", "int8");
	absent(a, "ome.channels"); /* channels have no Name */
	eq_int(a, "wsi.directories", 15);
	eq_int(a, "wsi.levels", 1); /* 15 same-size planes, no pyramid */
	eq_str(a, "wsi.compression", "none");
	eq_int(a, "wsi.bits_per_sample", 8);
	eq_int(a, "wsi.samples_per_pixel", 1);
	strata_attrs_free(a);
}

/* ---- files written with libtiff ---- */

static void write_dir(TIFF *t, uint32_t w, uint32_t h, uint32_t tile,
		      uint16_t comp, uint32_t subfile, const char *desc)
{
	TIFFSetField(t, TIFFTAG_SUBFILETYPE, subfile);
	TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
	TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
	TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
	TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
	TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
	TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	TIFFSetField(t, TIFFTAG_COMPRESSION, comp);
	if (desc)
		TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, desc);
	static uint8_t px[64 * 64 * 3];
	if (tile) {
		TIFFSetField(t, TIFFTAG_TILEWIDTH, tile);
		TIFFSetField(t, TIFFTAG_TILELENGTH, tile);
		for (uint32_t y = 0; y < h; y += tile)
			for (uint32_t x = 0; x < w; x += tile)
				assert_true(TIFFWriteTile(t, px, x, y, 0, 0) >
					    0);
	} else {
		TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, h);
		for (uint32_t y = 0; y < h; y++)
			assert_int_equal(TIFFWriteScanline(t, px, y, 0), 1);
	}
	assert_true(TIFFWriteDirectory(t));
}

static void test_written_aperio_bigtiff(void **state)
{
	(void)state;
	const char *desc =
	    "Aperio Image Library v12.0.5\r\n256x192 (64x64) JPEG/RGB Q=70|"
	    "AppMag = 40 | MPP = 0.2527|Date = 01/02/23";
	TIFF *t = TIFFOpen(tmp_file(), "w8b"); /* BigTIFF, big-endian */
	assert_non_null(t);
	write_dir(t, 256, 192, 64, COMPRESSION_LZW, 0, desc);
	write_dir(t, 32, 24, 0, COMPRESSION_NONE, 0, "Aperio thumbnail");
	write_dir(t, 128, 96, 64, COMPRESSION_ADOBE_DEFLATE, 0, desc);
	write_dir(t, 64, 48, 64, COMPRESSION_NONE, 0, desc);
	/* a tiled label must still not count */
	write_dir(t, 40, 30, 16, COMPRESSION_NONE, 1,
		  "Aperio Image Library v12.0.5\nlabel 40x30");
	TIFFClose(t);
	strata_attrs *a = read_ok(tmp_path);
	eq_str(a, "wsi.vendor", "aperio");
	eq_int(a, "wsi.bigtiff", 1);
	eq_real(a, "wsi.magnification", 40);
	eq_real(a, "wsi.mpp", 0.2527);
	eq_str(a, "wsi.compression", "lzw");
	eq_int(a, "wsi.levels", 3);
	eq_str(a, "wsi.level_dims", "256x192,128x96,64x48");
	eq_int(a, "wsi.directories", 5);
	strata_attrs_free(a);
}

static void test_written_ome_namespaced(void **state)
{
	(void)state;
	const char *xml =
	    "<?xml version=\"1.0\"?><!-- a comment > with a bracket -->\n"
	    "<ome:OME xmlns:ome=\"http://www.openmicroscopy.org/Schemas/OME/"
	    "2016-06\"><ome:Image ID=\"Image:0\"><ome:Pixels "
	    "DimensionOrder='XYCZT' ID=\"Pixels:0\" PhysicalSizeX=\"0.65\" "
	    "SizeC=\"2\" SizeT=\"7\" SizeX=\"64\" SizeY=\"32\" SizeZ=\"1\" "
	    "Type=\"uint8\"><ome:Channel ID=\"Channel:0:0\" Name=\"DAPI\"/>"
	    "<ome:Channel ID=\"Channel:0:1\" Name=\"A &amp; B\"/>"
	    "</ome:Pixels></ome:Image><ome:Image><ome:Pixels SizeX=\"9\">"
	    "<ome:Channel Name=\"later\"/></ome:Pixels></ome:Image>"
	    "</ome:OME>";
	TIFF *t = TIFFOpen(tmp_file(), "w");
	assert_non_null(t);
	write_dir(t, 64, 32, 0, COMPRESSION_NONE, 0, xml);
	TIFFClose(t);
	strata_attrs *a = read_ok(tmp_path);
	eq_str(a, "wsi.vendor", "ome");
	eq_int(a, "ome.size_x", 64);
	eq_int(a, "ome.size_c", 2);
	eq_int(a, "ome.size_t", 7);
	eq_str(a, "ome.dimension_order", "XYCZT");
	eq_real(a, "ome.physical_size_x", 0.65);
	eq_str(a, "ome.channels", "DAPI,A & B");
	eq_int(a, "wsi.bigtiff", 0);
	absent(a, "wsi.tile_width");
	strata_attrs_free(a);
}

static void test_written_subifd_pyramid(void **state)
{
	(void)state;
	uint64_t sub[2] = {0, 0};
	TIFF *t = TIFFOpen(tmp_file(), "w");
	assert_non_null(t);
	TIFFSetField(t, TIFFTAG_SUBIFD, 2, sub);
	write_dir(t, 256, 192, 64, COMPRESSION_NONE, 0, "plane 0");
	write_dir(t, 128, 96, 64, COMPRESSION_NONE, 1, NULL); /* SubIFDs */
	write_dir(t, 64, 48, 64, COMPRESSION_NONE, 1, NULL);
	write_dir(t, 256, 192, 64, COMPRESSION_NONE, 0, "plane 1");
	write_dir(t, 256, 192, 64, COMPRESSION_NONE, 0, "plane 2");
	TIFFClose(t);
	strata_attrs *a = read_ok(tmp_path);
	eq_int(a, "wsi.levels", 3);
	eq_str(a, "wsi.level_dims", "256x192,128x96,64x48");
	eq_int(a, "wsi.directories", 3); /* the main chain only */
	strata_attrs_free(a);
}

/* ---- hostile files, byte by byte (classic little-endian TIFF) ---- */

typedef struct tb {
	uint8_t *p;
	size_t n;
} tb;

static void entry(uint8_t *e, uint16_t tag, uint16_t type, uint32_t count,
		  uint32_t val)
{
	e[0] = (uint8_t)tag;
	e[1] = (uint8_t)(tag >> 8);
	e[2] = (uint8_t)type;
	e[3] = 0;
	strata_le32(e + 4, count);
	strata_le32(e + 8, val);
}

/* A file of `ndirs` 8x8 striped IFDs, each linked to the next; the last
 * one links to `last_next`. Strip data at offset 8. */
static tb chain(size_t ndirs, uint32_t last_next)
{
	const size_t ifd = 2 + 8 * 12 + 4;
	tb b = {NULL, 72 + ndirs * ifd};
	b.p = calloc(1, b.n);
	assert_non_null(b.p);
	memcpy(b.p, "II*\0", 4);
	strata_le32(b.p + 4, 72);
	for (size_t i = 0; i < ndirs; i++) {
		uint8_t *d = b.p + 72 + i * ifd;
		d[0] = 8;
		entry(d + 2, 256, 4, 1, 8);
		entry(d + 14, 257, 4, 1, 8);
		entry(d + 26, 258, 3, 1, 8);
		entry(d + 38, 259, 3, 1, 1);
		entry(d + 50, 262, 3, 1, 1);
		entry(d + 62, 273, 4, 1, 8);
		entry(d + 74, 278, 4, 1, 8);
		entry(d + 86, 279, 4, 1, 64);
		strata_le32(d + 98, i + 1 < ndirs
					? (uint32_t)(72 + (i + 1) * ifd)
					: last_next);
	}
	return b;
}

static void test_directory_cap_and_loop(void **state)
{
	(void)state;
	tb b = chain(1100, 0);
	strata_attrs *a = read_ok(put_file(b.p, b.n));
	eq_int(a, "wsi.directories", 1024);
	eq_int(a, "wsi.levels", 1);
	strata_attrs_free(a);
	free(b.p);

	b = chain(3, 72); /* the last IFD points back at the first */
	a = read_ok(put_file(b.p, b.n));
	eq_int(a, "wsi.directories", 3);
	strata_attrs_free(a);
	free(b.p);

	b = chain(2, 0xfffffff0u); /* next IFD far past the end */
	a = read_ok(put_file(b.p, b.n));
	eq_int(a, "wsi.directories", 2);
	strata_attrs_free(a);
	free(b.p);
}

static void test_hostile(void **state)
{
	(void)state;
	tb b = chain(1, 0);
	put_file(b.p, b.n);
	strata_attrs *a = read_ok(tmp_path);
	eq_int(a, "wsi.width", 8);
	strata_attrs_free(a);

	/* truncated at every length up to the last entry: an error, never a
	 * crash; without the next-IFD link the directory alone still reads */
	for (size_t n = 0; n < b.n - 4; n++) {
		char what[48];
		snprintf(what, sizeof(what), "truncated at %zu", n);
		expect_fail(put_file(b.p, n), what);
	}
	a = read_ok(put_file(b.p, b.n - 4));
	eq_int(a, "wsi.directories", 1);
	strata_attrs_free(a);

	b.p[0] = 'X'; /* wrong magic */
	expect_fail(put_file(b.p, b.n), "magic");
	b.p[0] = 'I';
	strata_le32(b.p + 4, 0xfffffff0u); /* first IFD past the end */
	expect_fail(put_file(b.p, b.n), "ifd offset");
	strata_le32(b.p + 4, 72);
	entry(b.p + 72 + 2, 256, 4, 1, 0); /* zero width */
	expect_fail(put_file(b.p, b.n), "zero width");
	entry(b.p + 72 + 2, 256, 4, 1, 8);
	/* an ImageDescription claiming 2 GiB: skipped or refused, not read */
	entry(b.p + 72 + 86, 270, 2, 0x7fffffffu, 8);
	int rc = read_rc(put_file(b.p, b.n), &a);
	if (!rc)
		eq_str(a, "wsi.vendor", "generic-tiff");
	strata_attrs_free(a);
	b.p[72] = 0xff; /* 255 entries: runs off the end */
	b.p[73] = 0xff;
	expect_fail(put_file(b.p, b.n), "entry count");
	free(b.p);

	/* the real SVS cut short: no crash, and no levels past the cut */
	FILE *f = fopen(data_path("CMU-1-Small-Region.svs"), "rb");
	assert_non_null(f);
	uint8_t *svs = malloc(1 << 21);
	assert_non_null(svs);
	size_t n = fread(svs, 1, 1 << 21, f);
	fclose(f);
	for (size_t cut = 8; cut < n; cut += n / 37) {
		rc = read_rc(put_file(svs, cut), &a);
		if (!rc)
			eq_int(a, "wsi.width", 2220);
		strata_attrs_free(a);
	}
	free(svs);
	expect_fail("/nonexistent/strata-test.tif", "missing file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_svs),
	    cmocka_unit_test(test_boxes_pyramid),
	    cmocka_unit_test(test_ome),
	    cmocka_unit_test(test_written_aperio_bigtiff),
	    cmocka_unit_test(test_written_ome_namespaced),
	    cmocka_unit_test(test_written_subifd_pyramid),
	    cmocka_unit_test(test_directory_cap_and_loop),
	    cmocka_unit_test(test_hostile),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (tmp_path[0])
		unlink(tmp_path);
	return rc;
}
