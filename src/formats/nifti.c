/*
 * nifti.c - NIfTI-1 and NIfTI-2 header reader (plain .nii or gzip-compressed
 * .nii.gz, read through zlib). Reads only the 348- or 540-byte header, in
 * either byte order, validates it and fills nifti.* attributes (dims, voxel
 * size, datatype, qform/sform, description, TR); see docs/metadata-imaging.md.
 */
#include <math.h>
#include <zlib.h>

#include "common/common.h"
#include "strata/formats.h"

#define HDR1 348
#define HDR2 540
/* NIfTI-2 stores dims as int64; no real image has a side this long. */
#define MAX_DIM ((int64_t)1 << 31)

/* The fields we keep, version- and byte-order-neutral. */
typedef struct hdr {
	int version;
	bool swap, single;
	int64_t dim[8];
	double pixdim[8];
	int datatype, bitpix, intent;
	int qform, sform, units;
	double vox_offset;
	char descrip[81];
} hdr;

/* Byte-order-aware fixed-offset loads from the header buffer. */
typedef struct raw {
	const uint8_t *p;
	bool swap;
} raw;

static uint64_t load(raw r, size_t off, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = r.swap ? i : n - 1 - i;
		v = v << 8 | r.p[off + k];
	}
	return v;
}

static int64_t s16(raw r, size_t off)
{
	return (int16_t)(uint16_t)load(r, off, 2);
}

static int64_t s32(raw r, size_t off)
{
	return (int32_t)(uint32_t)load(r, off, 4);
}

static int64_t s64(raw r, size_t off)
{
	return (int64_t)load(r, off, 8);
}

static double f32(raw r, size_t off)
{
	uint32_t u = (uint32_t)load(r, off, 4);
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static double f64(raw r, size_t off)
{
	uint64_t u = load(r, off, 8);
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static void parse1(hdr *h, raw r)
{
	for (size_t i = 0; i < 8; i++) {
		h->dim[i] = s16(r, 40 + 2 * i);
		h->pixdim[i] = f32(r, 76 + 4 * i);
	}
	h->intent = (int)s16(r, 68);
	h->datatype = (int)s16(r, 70);
	h->bitpix = (int)s16(r, 72);
	h->vox_offset = f32(r, 108);
	h->units = r.p[123];
	h->qform = (int)s16(r, 252);
	h->sform = (int)s16(r, 254);
	memcpy(h->descrip, r.p + 148, 80);
	h->single = r.p[345] == '+';
}

static void parse2(hdr *h, raw r)
{
	for (size_t i = 0; i < 8; i++) {
		h->dim[i] = s64(r, 16 + 8 * i);
		h->pixdim[i] = f64(r, 104 + 8 * i);
	}
	h->datatype = (int)s16(r, 12);
	h->bitpix = (int)s16(r, 14);
	h->vox_offset = (double)s64(r, 168);
	h->qform = (int)s32(r, 344);
	h->sform = (int)s32(r, 348);
	h->units = (int)(s32(r, 500) & 0xff);
	h->intent = (int)s32(r, 504);
	memcpy(h->descrip, r.p + 240, 80);
	h->single = r.p[5] == '+';
}

/* Read up to HDR2 bytes: gzread passes plain files through unchanged. */
static int read_head(const char *path, uint8_t *buf, size_t *n)
{
	gzFile gz = gzopen(path, "rb");
	if (!gz)
		return strata_error_set(STRATA_EIO, "'%s': cannot open: %s",
					path, strerror(errno ? errno : EIO));
	int got = gzread(gz, buf, HDR2);
	if (got < 0) {
		int zerr = 0;
		const char *msg = gzerror(gz, &zerr);
		int rc = strata_error_set(
		    zerr == Z_ERRNO ? STRATA_EIO : STRATA_ECORRUPT,
		    "'%s': cannot decompress: %s", path,
		    zerr == Z_ERRNO ? strerror(errno) : msg);
		gzclose(gz);
		return rc;
	}
	gzclose(gz);
	*n = (size_t)got;
	return 0;
}

/* Which version and byte order sizeof_hdr and the magic announce. */
static int identify(const char *path, const uint8_t *b, size_t n, hdr *h)
{
	if (n < 4)
		return strata_error_set(
		    STRATA_ECORRUPT, "'%s': truncated nifti header (%zu bytes)",
		    path, n);
	uint32_t le = strata_get_le32(b);
	uint32_t be = __builtin_bswap32(le);
	h->version = le == HDR1 || be == HDR1	? 1
		     : le == HDR2 || be == HDR2 ? 2
						: 0;
	h->swap = be == HDR1 || be == HDR2;
	if (!h->version)
		return strata_error_set(
		    STRATA_ECORRUPT, "'%s': not a nifti header (sizeof_hdr %u)",
		    path, le);
	size_t need = h->version == 1 ? HDR1 : HDR2;
	if (n < need)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "'%s': truncated nifti-%d header (%zu of %zu bytes)", path,
		    h->version, n, need);
	const uint8_t *m = h->version == 1 ? b + 344 : b + 4;
	char c = h->version == 1 ? '1' : '2';
	if (m[0] != 'n' || (m[1] != '+' && m[1] != 'i') || m[2] != c || m[3])
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': bad nifti-%d magic (analyze 7.5 "
					"headers are not read)",
					path, h->version);
	return 0;
}

typedef struct dtype {
	int code;
	const char *name;
	int bits;
} dtype;

static const dtype dtypes[] = {
    {1, "binary", 1},	       {2, "uint8", 8},
    {4, "int16", 16},	       {8, "int32", 32},
    {16, "float32", 32},       {32, "complex64", 64},
    {64, "float64", 64},       {128, "rgb24", 24},
    {256, "int8", 8},	       {512, "uint16", 16},
    {768, "uint32", 32},       {1024, "int64", 64},
    {1280, "uint64", 64},      {1536, "float128", 128},
    {1792, "complex128", 128}, {2048, "complex256", 256},
    {2304, "rgba32", 32}};

static const dtype *find_dtype(int code)
{
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (dtypes[i].code == code)
			return &dtypes[i];
	return NULL;
}

static int validate(const char *path, const hdr *h)
{
	int64_t nd = h->dim[0];
	if (nd < 1 || nd > 7)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "'%s': bad dim[0] %" PRId64 " (must be 1 to 7)", path, nd);
	uint64_t nvox = 1;
	for (int64_t i = 1; i <= nd; i++) {
		if (h->dim[i] < 1 || h->dim[i] > MAX_DIM)
			return strata_error_set(STRATA_ECORRUPT,
						"'%s': bad dim[%" PRId64
						"] %" PRId64,
						path, i, h->dim[i]);
		if (__builtin_mul_overflow(nvox, (uint64_t)h->dim[i], &nvox) ||
		    nvox > ((uint64_t)1 << 62))
			return strata_error_set(STRATA_ECORRUPT,
						"'%s': voxel count overflows",
						path);
	}
	if (!find_dtype(h->datatype))
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': unknown nifti datatype %d", path,
					h->datatype);
	double lo = h->single ? (h->version == 1 ? HDR1 : HDR2) : 0;
	if (!isfinite(h->vox_offset) || h->vox_offset < lo ||
	    h->vox_offset > 9007199254740992.0)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': bad vox_offset %g", path,
					h->vox_offset);
	return 0;
}

static bool is_utf8(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t len = c < 0x80		     ? 1
			     : c >= 0xc2 && c < 0xe0 ? 2
			     : c >= 0xe0 && c < 0xf0 ? 3
			     : c >= 0xf0 && c < 0xf5 ? 4
						     : 0;
		if (!len || len > n - i)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		if ((c == 0xe0 && p[i + 1] < 0xa0) ||
		    (c == 0xed && p[i + 1] >= 0xa0) ||
		    (c == 0xf0 && p[i + 1] < 0x90) ||
		    (c == 0xf4 && p[i + 1] >= 0x90))
			return false;
		i += len;
	}
	return true;
}

/* descrip as UTF-8: up to the first NUL, kept if already valid UTF-8,
 * else read as Latin-1; control characters dropped, trailing blanks cut.
 * `out` holds at least 2n+1 bytes. */
static size_t clean_text(char *out, const char *in, size_t n)
{
	size_t len = strnlen(in, n), o = 0;
	bool utf8 = is_utf8((const uint8_t *)in, len);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)in[i];
		if (c < 0x20 || c == 0x7f)
			continue;
		if (c < 0x80 || utf8) {
			out[o++] = (char)c;
		} else {
			out[o++] = (char)(0xc0 | c >> 6);
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = 0;
	return o;
}

static const char *xform_name(int code)
{
	static const char *const names[] = {"unknown",	 "scanner", "aligned",
					    "talairach", "mni_152", "template"};
	return code >= 0 && code <= 5 ? names[code] : NULL;
}

static const char *space_unit(int u)
{
	switch (u & 7) {
	case 1:
		return "m";
	case 2:
		return "mm";
	case 3:
		return "um";
	}
	return NULL;
}

/* Time unit name and its factor to seconds (0 for non-time units). */
static const char *time_unit(int u, double *to_s)
{
	static const struct {
		int code;
		const char *name;
		double f;
	} t[] = {{8, "s", 1},	{16, "ms", 1e-3}, {24, "us", 1e-6},
		 {32, "hz", 0}, {40, "ppm", 0},	  {48, "rad/s", 0}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if ((u & 0x38) == t[i].code) {
			*to_s = t[i].f;
			return t[i].name;
		}
	return NULL;
}

static int set_s(strata_attrs *out, const char *key, const char *v)
{
	return v ? strata_attrs_set_str(out, key, v, strlen(v)) : 0;
}

static int set_dims(strata_attrs *out, const hdr *h)
{
	char s[8 * 24] = "", key[32];
	size_t o = 0;
	int rc = strata_attrs_set_int(out, "nifti.ndim", h->dim[0]);
	for (int64_t i = 1; !rc && i <= h->dim[0]; i++) {
		o += (size_t)snprintf(s + o, sizeof(s) - o, "%s%" PRId64,
				      i > 1 ? "x" : "", h->dim[i]);
		snprintf(key, sizeof(key), "nifti.dim%" PRId64, i);
		rc = strata_attrs_set_int(out, key, h->dim[i]);
	}
	return rc ? rc : strata_attrs_set_str(out, "nifti.dim", s, o);
}

static int set_voxel(strata_attrs *out, const hdr *h)
{
	char s[3 * 32] = "", key[32];
	size_t o = 0;
	int rc = 0;
	int64_t n = h->dim[0] < 3 ? h->dim[0] : 3;
	for (int64_t i = 1; !rc && i <= n; i++) {
		if (!isfinite(h->pixdim[i]))
			return 0;
		o += (size_t)snprintf(s + o, sizeof(s) - o, "%s%.6g",
				      i > 1 ? "x" : "", h->pixdim[i]);
		snprintf(key, sizeof(key), "nifti.pixdim%" PRId64, i);
		rc = strata_attrs_set_real(out, key, h->pixdim[i]);
	}
	return rc ? rc : strata_attrs_set_str(out, "nifti.voxel_size", s, o);
}

static int set_units(strata_attrs *out, const hdr *h)
{
	double to_s = 0;
	const char *tu = time_unit(h->units, &to_s);
	int rc = set_s(out, "nifti.units_space", space_unit(h->units));
	if (!rc)
		rc = set_s(out, "nifti.units_time", tu);
	if (!rc && h->dim[0] >= 4 && to_s > 0 && isfinite(h->pixdim[4]) &&
	    h->pixdim[4] > 0)
		rc =
		    strata_attrs_set_real(out, "nifti.tr", h->pixdim[4] * to_s);
	return rc;
}

static int publish(strata_attrs *out, const hdr *h)
{
	char desc[2 * 80 + 1];
	size_t dl = clean_text(desc, h->descrip, 80);
	int rc = strata_attrs_set_int(out, "nifti.version", h->version);
	if (!rc)
		rc = set_s(out, "nifti.byte_order", h->swap ? "big" : "little");
	if (!rc)
		rc = set_dims(out, h);
	if (!rc)
		rc =
		    set_s(out, "nifti.datatype", find_dtype(h->datatype)->name);
	if (!rc)
		rc = strata_attrs_set_int(out, "nifti.bitpix", h->bitpix);
	if (!rc)
		rc = set_voxel(out, h);
	if (!rc)
		rc = set_units(out, h);
	if (!rc)
		rc = strata_attrs_set_int(out, "nifti.qform_code", h->qform);
	if (!rc)
		rc = set_s(out, "nifti.qform_name", xform_name(h->qform));
	if (!rc)
		rc = strata_attrs_set_int(out, "nifti.sform_code", h->sform);
	if (!rc)
		rc = set_s(out, "nifti.sform_name", xform_name(h->sform));
	if (!rc)
		rc = strata_attrs_set_int(out, "nifti.intent_code", h->intent);
	if (!rc && dl)
		rc = strata_attrs_set_str(out, "nifti.description", desc, dl);
	return rc;
}

int strata_nifti_read(const char *path, strata_attrs *out)
{
	uint8_t buf[HDR2];
	size_t n = 0;
	hdr h;
	memset(&h, 0, sizeof(h));
	int rc = read_head(path, buf, &n);
	if (!rc)
		rc = identify(path, buf, n, &h);
	if (rc)
		return rc;
	raw r = {buf, h.swap};
	if (h.version == 1)
		parse1(&h, r);
	else
		parse2(&h, r);
	if ((rc = validate(path, &h)))
		return rc;
	return publish(out, &h);
}
