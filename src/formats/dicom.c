/*
 * dicom.c - DICOM (PS3.10 file, PS3.5 encoding) metadata reader: a
 * streaming parser over a small buffered window of the file (inflated for
 * the deflated syntax) that records the curated top-level attributes of
 * dicom_dict.c, walks undefined-length sequences without keeping them,
 * and stops at Pixel Data, whose offset becomes a cut for the chunker.
 */
#include <zlib.h>

#include "common/common.h"
#include "strata/formats.h"
#include "formats/dicom_int.h"

#define MAX_DEPTH 16			  /* nested sequences */
#define MAX_ELEMS 4000000u		  /* element headers read per file */
#define MAX_VALUE 65536u		  /* bytes of a recorded value */
#define MAX_INFLATE ((uint64_t)256 << 20) /* inflated bytes per file */
#define BUF_SIZE 16384u /* headers are a few KiB: read no more */
#define UNDEF 0xffffffffu
#define NO_END UINT64_MAX

#define TAG_ITEM 0xfffee000u
#define TAG_ITEM_END 0xfffee00du
#define TAG_SEQ_END 0xfffee0ddu

enum { CS_ASCII, CS_LATIN1, CS_UTF8, CS_TABLE, CS_UNKNOWN };

typedef struct syntax {
	bool explicit_vr, big;
} syntax;

typedef struct elem {
	uint32_t tag, len;
	char vr[3]; /* "" when the encoding has none */
	uint64_t off;
} elem;

typedef struct dcm {
	const char *path;
	int fd;
	const uint8_t *mem; /* the whole file, instead of fd */
	uint64_t size;	    /* of the file */
	uint64_t fpos;	    /* next file offset to read */
	uint64_t pos;	    /* stream offset of buf[bpos] */
	uint8_t *buf;	    /* stream window */
	size_t bpos, blen;
	bool deflated, zinit, zend;
	z_stream z;
	uint8_t *zin;
	uint64_t inflated;
	uint32_t elems;
	uint8_t *val; /* MAX_VALUE bytes for a recorded value */
	int cs;	      /* CS_* of Specific Character Set */
	const uint16_t *cs_table;
	bool replaced; /* a byte became U+FFFD */
	char ts[65];   /* Transfer Syntax UID */
	strata_attrs *out;
	uint64_t pixel_off; /* of top-level Pixel Data, 0 if none */
	uint64_t pixel_end; /* its end when something follows it, else 0 */
	strata_buf text;    /* scratch for decoded strings */
} dcm;

static int truncated(dcm *d)
{
	return strata_error_set(STRATA_ECORRUPT,
				"'%s': truncated dicom file at offset %" PRIu64,
				d->path, d->pos);
}

/* Up to n bytes of the file at offset `at` into p, from memory or fd. */
static ssize_t file_read(dcm *d, uint8_t *p, size_t n, uint64_t at)
{
	if (d->mem) {
		size_t k = at >= d->size		? 0
			   : d->size - at < (uint64_t)n ? (size_t)(d->size - at)
							: n;
		memcpy(p, d->mem + at, k);
		return (ssize_t)k;
	}
	return pread(d->fd, p, n, (off_t)at);
}

static int fill_raw(dcm *d)
{
	ssize_t n;
	do
		n = file_read(d, d->buf + d->blen, BUF_SIZE - d->blen, d->fpos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return strata_error_set(strata_errno_code(errno),
					"'%s': cannot read: %s", d->path,
					strerror(errno));
	d->fpos += (uint64_t)n;
	d->blen += (size_t)n;
	return 0;
}

static int fill_inflate(dcm *d)
{
	size_t before = d->blen;
	while (!d->zend && d->blen == before) {
		if (d->z.avail_in == 0) {
			ssize_t n = file_read(d, d->zin, BUF_SIZE, d->fpos);
			if (n < 0)
				return strata_error_set(
				    strata_errno_code(errno),
				    "'%s': cannot read: %s", d->path,
				    strerror(errno));
			if (n == 0)
				return 0; /* truncated stream: caller sees EOF
					   */
			d->fpos += (uint64_t)n;
			d->z.next_in = d->zin;
			d->z.avail_in = (uInt)n;
		}
		d->z.next_out = d->buf + d->blen;
		d->z.avail_out = (uInt)(BUF_SIZE - d->blen);
		int zr = inflate(&d->z, Z_NO_FLUSH);
		d->blen = BUF_SIZE - d->z.avail_out;
		if (zr == Z_STREAM_END)
			d->zend = true;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "'%s': bad deflated dataset near offset %" PRIu64,
			    d->path, d->fpos);
	}
	d->inflated += d->blen - before;
	if (d->inflated > MAX_INFLATE)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': deflated dataset header larger "
					"than %" PRIu64 " bytes",
					d->path, MAX_INFLATE);
	return 0;
}

/* Make `need` (<= 64) bytes available at buf[bpos]; *got says how many
 * are (fewer only at the end of the stream). */
static int ensure(dcm *d, size_t need, size_t *got)
{
	while (d->blen - d->bpos < need) {
		size_t have = d->blen - d->bpos;
		memmove(d->buf, d->buf + d->bpos, have);
		d->bpos = 0;
		d->blen = have;
		int rc = d->deflated ? fill_inflate(d) : fill_raw(d);
		if (rc)
			return rc;
		if (d->blen == have)
			break;
	}
	*got = d->blen - d->bpos;
	return 0;
}

static int take(dcm *d, void *dst, size_t n)
{
	uint8_t *p = dst;
	while (n) {
		size_t got;
		int rc = ensure(d, 1, &got);
		if (rc)
			return rc;
		if (!got)
			return truncated(d);
		size_t k = got < n ? got : n;
		memcpy(p, d->buf + d->bpos, k);
		d->bpos += k;
		d->pos += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int skip(dcm *d, uint64_t n)
{
	size_t have = d->blen - d->bpos;
	if (n <= have) {
		d->bpos += (size_t)n;
		d->pos += n;
		return 0;
	}
	if (!d->deflated) {
		/* jump over the rest without reading it */
		uint64_t rest = n - have;
		if (rest > d->size || d->fpos > d->size - rest)
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "'%s': element value at offset %" PRIu64
			    " runs past the end of the file",
			    d->path, d->pos);
		d->fpos += rest;
		d->pos += n;
		d->bpos = d->blen = 0;
		return 0;
	}
	while (n) {
		size_t got;
		int rc = ensure(d, 1, &got);
		if (rc)
			return rc;
		if (!got)
			return truncated(d);
		size_t k = got < n ? got : (size_t)n;
		d->bpos += k;
		d->pos += k;
		n -= k;
	}
	return 0;
}

static bool at_end(dcm *d, int *rc)
{
	size_t got;
	*rc = ensure(d, 1, &got);
	return !*rc && got == 0;
}

static bool vr_chars(const uint8_t *p)
{
	return p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'A' && p[1] <= 'Z';
}

/* VRs whose explicit encoding has a 4-byte length after 2 reserved bytes. */
static int read_header(dcm *d, syntax sx, elem *e)
{
	uint8_t h[12];
	e->off = d->pos;
	if (++d->elems > MAX_ELEMS)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': more than %u dicom elements",
					d->path, MAX_ELEMS);
	int rc = take(d, h, 8);
	if (rc)
		return rc;
	e->tag = (uint32_t)dicom__get16(h, sx.big) << 16 |
		 dicom__get16(h + 2, sx.big);
	e->vr[0] = '\0';
	if (!sx.explicit_vr || (e->tag >> 16) == 0xfffe) {
		e->len = dicom__get32(h + 4, sx.big);
		return 0;
	}
	if (!vr_chars(h + 4))
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "'%s': bad VR in element (%04x,%04x) at "
		    "offset %" PRIu64,
		    d->path, e->tag >> 16, e->tag & 0xffff, e->off);
	e->vr[0] = (char)h[4];
	e->vr[1] = (char)h[5];
	e->vr[2] = '\0';
	if (!dicom__long_vr(e->vr)) {
		e->len = dicom__get16(h + 6, sx.big);
		return 0;
	}
	if ((rc = take(d, h + 8, 4)))
		return rc;
	e->len = dicom__get32(h + 8, sx.big);
	return 0;
}

/* ---- values: charset decoding and typed attributes ---- */

static int put_cp(strata_buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	}
	return strata_buf_put(b, u, n);
}

/* Length of the valid UTF-8 sequence at p (0 if none). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len = (c & 0xe0) == 0xc0	  ? 2
		     : (c & 0xf0) == 0xe0 ? 3
		     : (c & 0xf8) == 0xf0 ? 4
					  : 0;
	if (!len || len > n)
		return 0;
	for (size_t k = 1; k < len; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	if ((len == 2 && c < 0xc2) || (len == 3 && c == 0xe0 && p[1] < 0xa0) ||
	    (len == 3 && c == 0xed && p[1] >= 0xa0) ||
	    (len == 4 && (c > 0xf4 || (c == 0xf0 && p[1] < 0x90) ||
			  (c == 0xf4 && p[1] >= 0x90))))
		return 0;
	return len;
}

/* Decode p[0..n) from the file's character set into d->text as UTF-8;
 * NUL bytes are dropped, undecodable bytes become U+FFFD. */
static int decode_text(dcm *d, const uint8_t *p, size_t n)
{
	int rc = 0;
	strata_buf_reset(&d->text);
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t c = p[i];
		if (c == 0)
			continue;
		if (c < 0x80) { /* a run of ASCII, copied at once */
			size_t j = i + 1;
			while (j < n && p[j] && p[j] < 0x80)
				j++;
			rc = strata_buf_put(&d->text, p + i, j - i);
			i = j - 1;
			continue;
		}
		uint32_t cp = 0xfffd;
		if (d->cs == CS_UTF8) {
			size_t k = utf8_len(p + i, n - i);
			if (k) {
				rc = strata_buf_put(&d->text, p + i, k);
				i += k - 1;
				continue;
			}
		} else if (d->cs == CS_LATIN1 ||
			   (d->cs == CS_TABLE && c < 0xa0)) {
			cp = c;
		} else if (d->cs == CS_TABLE && d->cs_table[c - 0xa0]) {
			cp = d->cs_table[c - 0xa0];
		}
		if (cp == 0xfffd)
			d->replaced = true;
		rc = put_cp(&d->text, cp);
	}
	return rc;
}

static bool is_text_vr(const char *vr)
{
	return !strcmp(vr, "ST") || !strcmp(vr, "LT") || !strcmp(vr, "UT");
}

/* Trim the padding: trailing spaces and NULs, and leading spaces except
 * in the free-text VRs, where they are significant. */
static void trim(const char *vr, const uint8_t **p, size_t *n)
{
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\0'))
		(*n)--;
	if (is_text_vr(vr))
		return;
	while (*n && **p == ' ') {
		(*p)++;
		(*n)--;
	}
}

static void set_charset(dcm *d, const uint8_t *p, size_t n)
{
	char term[32] = "";
	size_t i = 0, nterms = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && p[j] != '\\')
			j++;
		const uint8_t *v = p + i;
		size_t len = j - i;
		trim("CS", &v, &len);
		if (len && nterms++ == 0 && len < sizeof(term)) {
			memcpy(term, v, len);
			term[len] = '\0';
		}
		i = j + 1;
	}
	int k = nterms > 1 || (nterms == 1 && !term[0])
		    ? -1
		    : dicom__charset(term, &d->cs_table);
	d->cs = k < 0 ? CS_UNKNOWN : k;
}

static int set_number_text(dcm *d, const char *key, const char *vr,
			   const char *s, size_t n)
{
	char tmp[64], *end;
	bool ok = n > 0 && n < sizeof(tmp);
	for (size_t i = 0; ok && i < n; i++)
		ok = strchr(vr[0] == 'I' ? "+-0123456789" : "+-0123456789.eE",
			    s[i]) != NULL;
	if (ok) {
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		errno = 0;
		if (vr[0] == 'I') {
			long long v = strtoll(tmp, &end, 10);
			if (!errno && end == tmp + n)
				return strata_attrs_set_int(d->out, key, v);
		} else {
			double v = strtod(tmp, &end);
			if (!errno && end == tmp + n)
				return strata_attrs_set_real(d->out, key, v);
		}
	}
	return strata_attrs_set_str(d->out, key, s, n);
}

static int set_binary(dcm *d, const char *key, const char *vr, const uint8_t *p,
		      size_t n, bool big)
{
	if (!strcmp(vr, "US") && n >= 2)
		return strata_attrs_set_int(d->out, key, dicom__get16(p, big));
	if (!strcmp(vr, "SS") && n >= 2)
		return strata_attrs_set_int(d->out, key,
					    (int16_t)dicom__get16(p, big));
	if (!strcmp(vr, "UL") && n >= 4)
		return strata_attrs_set_int(d->out, key, dicom__get32(p, big));
	if (!strcmp(vr, "SL") && n >= 4)
		return strata_attrs_set_int(d->out, key,
					    (int32_t)dicom__get32(p, big));
	if (!strcmp(vr, "FL") && n >= 4) {
		uint32_t u = dicom__get32(p, big);
		float f;
		memcpy(&f, &u, sizeof(f));
		return strata_attrs_set_real(d->out, key, f);
	}
	if (!strcmp(vr, "FD") && n >= 8) {
		uint64_t u = (uint64_t)dicom__get32(p + (big ? 0 : 4), big)
				 << 32 |
			     dicom__get32(p + (big ? 4 : 0), big);
		double f;
		memcpy(&f, &u, sizeof(f));
		return strata_attrs_set_real(d->out, key, f);
	}
	return 0; /* other binary VRs, or too short: nothing to record */
}

static bool is_string_vr(const char *vr)
{
	static const char *const s[] = {"AE", "AS", "CS", "DA", "DT", "LO",
					"LT", "PN", "SH", "ST", "TM", "UC",
					"UI", "UR", "UT", "DS", "IS"};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (!strcmp(vr, s[i]))
			return true;
	return false;
}

static int record(dcm *d, const dicom__tag *t, const char *file_vr,
		  const uint8_t *p, size_t n, bool big)
{
	char key[80] = "dicom.";
	const char *vr = file_vr[0] && strcmp(file_vr, "UN") ? file_vr : t->vr;
	size_t kl = strlen(t->keyword);
	int rc;
	if (kl > sizeof(key) - 7)
		kl = sizeof(key) - 7; /* dictionary keywords are shorter */
	memcpy(key + 6, t->keyword, kl);
	key[6 + kl] = '\0';
	if (!strcmp(file_vr, "UN"))
		big = false; /* UN values keep the implicit LE encoding */
	if (!is_string_vr(vr))
		return set_binary(d, key, vr, p, n, big);
	trim(vr, &p, &n);
	if (t->tag == 0x00080005)
		set_charset(d, p, n);
	if (t->tag == 0x00020010 && n < sizeof(d->ts)) {
		memcpy(d->ts, p, n);
		d->ts[n] = '\0';
	}
	if (!n)
		return 0;
	if ((rc = decode_text(d, p, n)))
		return rc;
	const char *s = (const char *)d->text.ptr;
	size_t len = d->text.len;
	if ((!strcmp(vr, "IS") || !strcmp(vr, "DS")) && !memchr(s, '\\', len))
		return set_number_text(d, key, vr, s, len);
	return strata_attrs_set_str(d->out, key, s, len);
}

/* ---- the dataset walk ---- */

static int parse_dataset(dcm *d, syntax sx, int depth, uint64_t end);

/* The items of a sequence (or the fragments of encapsulated pixel data)
 * up to `end`, or up to the sequence delimiter when end is NO_END.
 * Defined-length items are skipped whole; undefined ones are walked. */
static int parse_seq(dcm *d, syntax sx, int depth, uint64_t end)
{
	if (depth >= MAX_DEPTH)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': dicom sequences nested deeper "
					"than %d at offset %" PRIu64,
					d->path, MAX_DEPTH, d->pos);
	while (end == NO_END || d->pos < end) {
		elem e;
		int rc = read_header(d, sx, &e);
		if (rc)
			return rc;
		if (e.tag == TAG_SEQ_END)
			return end == NO_END ? 0 : skip(d, e.len);
		if (e.tag != TAG_ITEM)
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "'%s': (%04x,%04x) where a sequence item was "
			    "expected at offset %" PRIu64,
			    d->path, e.tag >> 16, e.tag & 0xffff, e.off);
		if (e.len == UNDEF)
			rc = parse_dataset(d, sx, depth + 1, NO_END);
		else if (end != NO_END && e.len > end - d->pos)
			rc = strata_error_set(STRATA_ECORRUPT,
					      "'%s': item at offset %" PRIu64
					      " overruns its sequence",
					      d->path, e.off);
		else
			rc = skip(d, e.len);
		if (rc)
			return rc;
	}
	return d->pos == end ? 0
			     : strata_error_set(STRATA_ECORRUPT,
						"'%s': sequence overrun at "
						"offset %" PRIu64,
						d->path, d->pos);
}

static bool is_pixel_data(uint32_t tag)
{
	return tag == 0x7fe00010 || tag == 0x7fe00008 || tag == 0x7fe00009;
}

/* Top-level Pixel Data: where the header ends and the pixels start. */
static int pixel_data(dcm *d, const elem *e)
{
	int rc = strata_attrs_set_int(d->out, "dicom.HasPixelData", 1);
	if (!rc)
		rc = strata_attrs_set_int(d->out, "dicom.Encapsulated",
					  e->len == UNDEF);
	if (rc || d->deflated)
		return rc; /* offsets of the inflated stream mean nothing */
	d->pixel_off = e->off;
	/* a trailer after the pixels (Data Set Trailing Padding) changes
	 * when de-identified: a second cut keeps the pixel chunks shared */
	if (e->len != UNDEF && e->len < d->size && d->pos + e->len < d->size)
		d->pixel_end = d->pos + e->len;
	return strata_attrs_set_int(d->out, "dicom.PixelDataOffset",
				    (int64_t)e->off);
}

/* An element of undefined length: a sequence or encapsulated data. */
static int undefined_length(dcm *d, syntax sx, int depth, const elem *e)
{
	if (!sx.explicit_vr || !strcmp(e->vr, "SQ") || !strcmp(e->vr, "OB") ||
	    !strcmp(e->vr, "OW"))
		return parse_seq(d, sx, depth, NO_END);
	if (!strcmp(e->vr, "UN")) {
		/* PS3.5 6.2.2: an undefined-length UN is an implicit VR LE
		 * sequence */
		syntax impl = {false, false};
		return parse_seq(d, impl, depth, NO_END);
	}
	return strata_error_set(STRATA_ECORRUPT,
				"'%s': undefined length for VR %s at offset "
				"%" PRIu64,
				d->path, e->vr, e->off);
}

static int element_value(dcm *d, syntax sx, int depth, uint64_t end,
			 const elem *e)
{
	if (e->len == UNDEF)
		return undefined_length(d, sx, depth, e);
	if (end != NO_END && e->len > end - d->pos)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': element at offset %" PRIu64
					" overruns its item",
					d->path, e->off);
	const dicom__tag *t = depth == 0 ? dicom__dict_find(e->tag) : NULL;
	if (!t || e->len > MAX_VALUE)
		return skip(d, e->len);
	int rc = take(d, d->val, e->len);
	return rc ? rc : record(d, t, e->vr, d->val, e->len, sx.big);
}

/* Elements up to `end`; NO_END means: to the item delimiter (items), or
 * to the end of the file (depth 0), or to top-level Pixel Data. */
static int parse_dataset(dcm *d, syntax sx, int depth, uint64_t end)
{
	int rc = 0;
	while (end == NO_END || d->pos < end) {
		elem e;
		if (depth == 0 && at_end(d, &rc))
			return 0;
		if (rc || (rc = read_header(d, sx, &e)))
			return rc;
		if (e.tag == TAG_ITEM_END && depth > 0 && end == NO_END)
			return 0;
		if ((e.tag >> 16) == 0xfffe)
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "'%s': stray delimiter (%04x,%04x) at offset "
			    "%" PRIu64,
			    d->path, e.tag >> 16, e.tag & 0xffff, e.off);
		if (depth == 0 && is_pixel_data(e.tag))
			return pixel_data(d, &e);
		if ((rc = element_value(d, sx, depth, end, &e)))
			return rc;
	}
	return 0;
}

/* ---- file layout: preamble, File Meta, transfer syntax ---- */

static bool plausible_vr(const uint8_t *p)
{
	static const char *const vrs[] = {
	    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL",
	    "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW",
	    "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC",
	    "UI", "UL", "UN", "UR", "US", "UT", "UV"};
	for (size_t i = 0; i < sizeof(vrs) / sizeof(vrs[0]); i++)
		if (!memcmp(p, vrs[i], 2))
			return true;
	return false;
}

/* Guess the encoding of the element at the read position from its bytes:
 * a byte-swapped group says big endian, two VR letters say explicit. */
static int guess_syntax(dcm *d, syntax *sx, bool meta_only)
{
	size_t got;
	sx->big = false;
	sx->explicit_vr = true;
	int rc = ensure(d, 8, &got);
	if (rc)
		return rc;
	if (got < 8)
		return meta_only ? 0 : truncated(d);
	const uint8_t *h = d->buf + d->bpos;
	sx->big = !meta_only && h[0] == 0 && h[1] != 0;
	sx->explicit_vr = plausible_vr(h + 4);
	return 0;
}

static int read_meta(dcm *d)
{
	syntax sx;
	int rc = guess_syntax(d, &sx, true);
	sx.big = false;
	while (!rc) {
		size_t got;
		if ((rc = ensure(d, 2, &got)) || got < 2 ||
		    dicom__get16(d->buf + d->bpos, false) != 0x0002)
			break;
		elem e;
		if ((rc = read_header(d, sx, &e)))
			break;
		if (e.len == UNDEF)
			return strata_error_set(STRATA_ECORRUPT,
						"'%s': undefined length in "
						"file meta at offset %" PRIu64,
						d->path, e.off);
		rc = element_value(d, sx, 0, NO_END, &e);
	}
	return rc;
}

static int start_inflate(dcm *d)
{
	d->zin = strata_malloc(BUF_SIZE);
	if (!d->zin)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	if (inflateInit2(&d->z, -15) != Z_OK)
		return strata_error_set(STRATA_ENOMEM,
					"'%s': cannot start "
					"inflating",
					d->path);
	d->zinit = true;
	/* what is already buffered is compressed input */
	size_t have = d->blen - d->bpos;
	memcpy(d->zin, d->buf + d->bpos, have);
	d->z.next_in = d->zin;
	d->z.avail_in = (uInt)have;
	d->bpos = d->blen = 0;
	d->deflated = true;
	return 0;
}

static int set_syntax_attrs(dcm *d, syntax sx)
{
	const char *name = d->ts[0] ? dicom__ts_name(d->ts) : NULL;
	if (!name && !d->ts[0])
		name = !sx.explicit_vr ? "Implicit VR Little Endian"
		       : sx.big	       ? "Explicit VR Big Endian"
				       : "Explicit VR Little Endian";
	if (!name)
		name = "Unknown";
	return strata_attrs_set_str(d->out, "dicom.TransferSyntax", name,
				    strlen(name));
}

/* Where the dataset starts and how it is encoded. */
static int find_dataset(dcm *d, syntax *sx)
{
	uint8_t h[132];
	size_t got;
	int rc = ensure(d, sizeof(h), &got);
	if (rc)
		return rc;
	if (got > sizeof(h))
		got = sizeof(h);
	memcpy(h, d->buf + d->bpos, got);
	bool dicm = got >= 132 && !memcmp(h + 128, "DICM", 4);
	if (dicm && (rc = skip(d, 132)))
		return rc;
	if (!dicm && got < 8)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': not a dicom file", d->path);
	if ((rc = read_meta(d)))
		return rc;
	if (!strcmp(d->ts, "1.2.840.10008.1.2.1.99") && (rc = start_inflate(d)))
		return rc;
	if ((rc = guess_syntax(d, sx, false)))
		return rc;
	if (d->ts[0]) {
		/* trust the File Meta, except an explicit syntax whose first
		 * element has no VR (a known writer bug) */
		bool expl = strcmp(d->ts, "1.2.840.10008.1.2") != 0;
		sx->explicit_vr = expl && sx->explicit_vr;
		sx->big = !strcmp(d->ts, "1.2.840.10008.1.2.2");
		return 0;
	}
	uint8_t *p = d->buf + d->bpos;
	uint16_t group = dicom__get16(p, sx->big);
	if (!dicm && (group > 0x0010 || group < 0x0002))
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': not a dicom file", d->path);
	return 0;
}

static int read_all(dcm *d, strata_cuts *cuts)
{
	syntax sx;
	int rc = find_dataset(d, &sx);
	if (!rc)
		rc = parse_dataset(d, sx, 0, NO_END);
	if (!rc)
		rc = set_syntax_attrs(d, sx);
	if (!rc && (d->cs == CS_UNKNOWN || d->replaced))
		rc = strata_attrs_set_int(d->out, "dicom.CharsetWarning", 1);
	if (!rc && !strata_attrs_find(d->out, "dicom.HasPixelData"))
		rc = strata_attrs_set_int(d->out, "dicom.HasPixelData", 0);
	if (rc || !d->pixel_off || !cuts)
		return rc;
	if (strata_grow(&cuts->off, &cuts->cap, cuts->n + 1, sizeof(uint64_t)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	cuts->off[cuts->n++] = d->pixel_off;
	if (d->pixel_end > d->pixel_off)
		cuts->off[cuts->n++] = d->pixel_end;
	return 0;
}

static int alloc_buffers(dcm *d);

static int open_file(dcm *d, const char *path)
{
	struct stat st;
	d->path = path;
	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0)
		return strata_error_set(strata_errno_code(errno),
					"'%s': cannot open: %s", path,
					strerror(errno));
	if (fstat(d->fd, &st) < 0)
		return strata_error_set(strata_errno_code(errno),
					"'%s': cannot stat: %s", path,
					strerror(errno));
	d->size = (uint64_t)st.st_size;
	return alloc_buffers(d);
}

static int alloc_buffers(dcm *d)
{
	d->buf = strata_malloc(BUF_SIZE);
	d->val = strata_malloc(MAX_VALUE);
	if (!d->buf || !d->val)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	d->text.limit = 4 * MAX_VALUE;
	return 0;
}

static void close_file(dcm *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->zinit)
		inflateEnd(&d->z);
	strata_free(d->zin);
	strata_free(d->buf);
	strata_free(d->val);
	strata_buf_release(&d->text);
}

/* Read d (set up by open_file or for memory, rc its result), then let it
 * go; on error nothing is left in d->out. */
static int read_and_close(dcm *d, int rc, strata_cuts *cuts)
{
	if (!rc)
		rc = read_all(d, cuts);
	close_file(d);
	if (rc)
		strata_attrs_clear(d->out);
	return rc;
}

int strata_dicom_read(const char *path, strata_attrs *out, strata_cuts *cuts)
{
	dcm d;
	memset(&d, 0, sizeof(d));
	d.fd = -1;
	d.out = out;
	return read_and_close(&d, open_file(&d, path), cuts);
}

int strata_dicom_read_mem(const char *name, const uint8_t *p, size_t n,
			  strata_attrs *out, strata_cuts *cuts)
{
	dcm d;
	memset(&d, 0, sizeof(d));
	d.fd = -1;
	d.out = out;
	d.path = name;
	d.mem = p;
	d.size = n;
	return read_and_close(&d, alloc_buffers(&d), cuts);
}
