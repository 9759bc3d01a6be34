/*
 * dicom_walk.c - the de-identifier's dataset walker: reads every element
 * of an in-memory dataset (all transfer syntaxes but deflate, which
 * dicom_deid.c inflates first), decides its action from Table E.1-1, the
 * options and the VR sweep, and writes the result in the output syntax,
 * recursing into every sequence item at every depth. Pixel Data values are
 * copied byte for byte.
 */
#include "common/common.h"
#include "deid/deid_int.h"
#include "formats/dicom_int.h"

#define TAG_ITEM 0xfffee000u
#define TAG_ITEM_END 0xfffee00du
#define TAG_SEQ_END 0xfffee0ddu
#define MAX_CREATORS 48

typedef struct elem {
	uint32_t tag, len;
	char vr[3];  /* as encoded ("" in implicit VR) */
	char evr[3]; /* effective VR: encoded, else dictionary; "" unknown */
	size_t off;  /* of the header */
	size_t voff; /* of the value */
	deid__syntax sub; /* syntax of a sequence's items */
} elem;

/* Private creators seen in the current item: (gggg,00bb) = creator. */
typedef struct level {
	int depth;
	int ncr;
	struct {
		uint16_t group;
		uint8_t block;
		char name[65];
	} cr[MAX_CREATORS];
} level;

enum act {
	ACT_DROP,
	ACT_EMPTY,
	ACT_DUMMY,
	ACT_COPY,
	ACT_RECURSE,
	ACT_UID,
	ACT_SHIFT,
	ACT_PSEUDO,
	ACT_PIXEL,
};

static int walk_items(deid__ctx *c, const elem *e, level *parent,
		      size_t *endpos);
static int skip_seq(deid__ctx *c, deid__syntax sx, uint32_t tag, size_t *pos,
		    size_t end, int depth);

/* ---- errors ---- */

static uint64_t at(const deid__ctx *c, size_t pos)
{
	return c->base + pos;
}

static int bad(deid__ctx *c, uint32_t tag, size_t pos, const char *what)
{
	return strata_error_set(
	    STRATA_ECORRUPT,
	    "dicom element (%04x,%04x) at %soffset %" PRIu64 ": %s", tag >> 16,
	    tag & 0xffff, c->inflated ? "inflated " : "", at(c, pos), what);
}

/* ---- reading ---- */

static bool is_vr(const char *vr, const char *x)
{
	return vr[0] == x[0] && vr[1] == x[1];
}

static bool is_pixel(uint32_t tag)
{
	return tag == 0x7fe00010u || tag == 0x7fe00008u || tag == 0x7fe00009u;
}

static bool is_private(uint32_t tag)
{
	return (tag >> 16) & 1;
}

/* Effective VR: the encoded one, or for implicit VR and UN the data
 * dictionary's (private creators are LO). */
static void effective_vr(elem *e)
{
	const char *d = "";
	if (e->vr[0] && !is_vr(e->vr, "UN")) {
		memcpy(e->evr, e->vr, 3);
		return;
	}
	if (is_private(e->tag)) {
		uint16_t el = (uint16_t)e->tag;
		if (el >= 0x10 && el <= 0xff)
			d = "LO";
	} else {
		d = deid__vr_find(e->tag);
	}
	if (!d[0] && e->vr[0])
		d = "UN";
	e->evr[0] = d[0];
	e->evr[1] = d[0] ? d[1] : '\0';
	e->evr[2] = '\0';
}

static int read_header(deid__ctx *c, deid__syntax sx, size_t *pos, size_t end,
		       elem *e)
{
	const uint8_t *h = c->p + *pos;
	memset(e, 0, sizeof(*e));
	e->off = *pos;
	if (++c->elems > DEID_MAX_ELEMS)
		return strata_error_set(STRATA_ECORRUPT,
					"dicom file has more than %u elements",
					DEID_MAX_ELEMS);
	if (end - *pos < 8)
		return bad(c,
			   end - *pos >= 4
			       ? (uint32_t)dicom__get16(h, sx.big) << 16 |
				     dicom__get16(h + 2, sx.big)
			       : 0,
			   *pos, "truncated element header");
	e->tag = (uint32_t)dicom__get16(h, sx.big) << 16 |
		 dicom__get16(h + 2, sx.big);
	size_t hl = 8;
	if (!sx.explicit_vr || (e->tag >> 16) == 0xfffe) {
		e->len = dicom__get32(h + 4, sx.big);
	} else {
		if (h[4] < 'A' || h[4] > 'Z' || h[5] < 'A' || h[5] > 'Z')
			return bad(c, e->tag, *pos, "bad VR");
		e->vr[0] = (char)h[4];
		e->vr[1] = (char)h[5];
		if (!dicom__long_vr(e->vr)) {
			e->len = dicom__get16(h + 6, sx.big);
		} else {
			if (end - *pos < 12)
				return bad(c, e->tag, *pos,
					   "truncated element header");
			e->len = dicom__get32(h + 8, sx.big);
			hl = 12;
		}
	}
	e->voff = *pos + hl;
	if (e->len != DEID_UNDEF && e->len > end - e->voff)
		return bad(c, e->tag, *pos, "value runs past the end");
	*pos = e->voff;
	effective_vr(e);
	/* an encoded UN sequence holds implicit VR little endian items */
	e->sub = sx;
	if (is_vr(e->vr, "UN"))
		e->sub = (deid__syntax){false, false};
	return 0;
}

static bool is_seq(const elem *e)
{
	return is_vr(e->evr, "SQ") ||
	       (e->len == DEID_UNDEF && !is_pixel(e->tag));
}

/* Skip an item's dataset up to and including its Item Delimitation. */
static int skip_item_undef(deid__ctx *c, deid__syntax sx, size_t *pos,
			   size_t end, int depth)
{
	for (;;) {
		elem e;
		int rc = read_header(c, sx, pos, end, &e);
		if (rc)
			return rc;
		if (e.tag == TAG_ITEM_END)
			return 0;
		if (e.len == DEID_UNDEF) {
			if ((rc = skip_seq(c, e.sub, e.tag, pos, end,
					   depth + 1)))
				return rc;
		} else {
			*pos += e.len;
		}
	}
}

/* Skip the items of an undefined-length sequence (or encapsulated pixel
 * data) through its Sequence Delimitation. */
static int skip_seq(deid__ctx *c, deid__syntax sx, uint32_t tag, size_t *pos,
		    size_t end, int depth)
{
	if (depth > DEID_MAX_DEPTH)
		return bad(c, tag, *pos, "sequences nested too deep");
	for (;;) {
		elem e;
		int rc = read_header(c, sx, pos, end, &e);
		if (rc)
			return rc;
		if (e.tag == TAG_SEQ_END)
			return 0;
		if (e.tag != TAG_ITEM)
			return bad(c, e.tag, e.off, "expected an item");
		if (e.len != DEID_UNDEF)
			*pos += e.len;
		else if ((rc = skip_item_undef(c, sx, pos, end, depth)))
			return rc;
	}
}

static int skip_value(deid__ctx *c, const elem *e, size_t *pos, int depth)
{
	if (e->len != DEID_UNDEF) {
		*pos = e->voff + e->len;
		return 0;
	}
	*pos = e->voff;
	return skip_seq(c, e->sub, e->tag, pos, c->n, depth + 1);
}

/* ---- writing ---- */

static int put16(deid__ctx *c, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(c->out_sx.big ? v >> 8 : v),
			(uint8_t)(c->out_sx.big ? v : v >> 8)};
	return strata_buf_put(c->o, b, 2);
}

static int put32(deid__ctx *c, uint32_t v)
{
	int rc = put16(c, (uint16_t)(c->out_sx.big ? v >> 16 : v));
	return rc ? rc : put16(c, (uint16_t)(c->out_sx.big ? v : v >> 16));
}

int deid__put_header(deid__ctx *c, uint32_t tag, const char *vr, uint32_t len)
{
	int rc = put16(c, (uint16_t)(tag >> 16));
	if (!rc)
		rc = put16(c, (uint16_t)tag);
	if (rc)
		return rc;
	if (!c->out_sx.explicit_vr || (tag >> 16) == 0xfffe)
		return put32(c, len);
	/* a VR the dictionary leaves ambiguous, or too long for it: UN */
	if (!vr[0] || vr[0] < 'A' || vr[0] > 'Z' ||
	    (!dicom__long_vr(vr) && len > 0xffff))
		vr = "UN";
	if ((rc = strata_buf_put(c->o, vr, 2)))
		return rc;
	if (!dicom__long_vr(vr))
		return put16(c, (uint16_t)len);
	return (rc = put16(c, 0)) ? rc : put32(c, len);
}

int deid__put_str(deid__ctx *c, uint32_t tag, const char *vr, const char *s,
		  size_t len)
{
	if (len > 0xfffe)
		len = 0xfffe;
	size_t padded = len + (len & 1);
	int rc = deid__put_header(c, tag, vr, (uint32_t)padded);
	if (!rc && len)
		rc = strata_buf_put(c->o, s, len);
	if (!rc && (len & 1))
		rc = strata_buf_put_u8(c->o, is_vr(vr, "UI") ? 0 : ' ');
	return rc;
}

/* Copy an element unchanged (its header re-encoded in the output syntax:
 * an encoded UN becomes its dictionary VR when it has one). */
static int copy_elem(deid__ctx *c, const elem *e)
{
	const char *vr = e->evr;
	if (is_vr(e->vr, "UN") && c->out_sx.big)
		vr = "UN";
	int rc = deid__put_header(c, e->tag, vr, e->len);
	return rc ? rc : strata_buf_put(c->o, c->p + e->voff, e->len);
}

/* ---- values ---- */

/* The value without trailing NUL/space padding and leading spaces. */
static void trimmed(const deid__ctx *c, const elem *e, const uint8_t **v,
		    size_t *n)
{
	*v = c->p + e->voff;
	*n = e->len;
	while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\0'))
		(*n)--;
	while (*n && **v == ' ') {
		(*v)++;
		(*n)--;
	}
}

static int write_uids(deid__ctx *c, const elem *e)
{
	const uint8_t *v;
	size_t n;
	trimmed(c, e, &v, &n);
	strata_buf_reset(&c->scratch);
	int rc = 0;
	size_t i = 0;
	while (!rc && i <= n) {
		size_t j = i;
		while (j < n && v[j] != '\\')
			j++;
		const uint8_t *s = v + i;
		size_t k = j - i;
		while (k && (s[k - 1] == ' ' || s[k - 1] == '\0'))
			k--;
		while (k && *s == ' ') {
			s++;
			k--;
		}
		char nu[68] = "";
		if (k) {
			rc = deid__uid(c, (const char *)s, k, nu);
			c->rep->uids_remapped++;
		}
		if (!rc && i)
			rc = strata_buf_put_u8(&c->scratch, '\\');
		if (!rc)
			rc = strata_buf_puts(&c->scratch, nu);
		i = j + 1;
	}
	if (rc)
		return rc;
	return deid__put_str(c, e->tag, "UI", (const char *)c->scratch.ptr,
			     c->scratch.len);
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Shift the YYYYMMDD at s by c->shift days in place; false if s is not
 * a valid date. */
static bool shift_date(const deid__ctx *c, char *s)
{
	unsigned v[8];
	for (int i = 0; i < 8; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v[i] = (unsigned)(s[i] - '0');
	}
	int64_t y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	unsigned m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	civil_from_days(days_from_civil(y, m, d) + c->shift, &y, &m, &d);
	if (y < 1 || y > 9999)
		return false;
	unsigned yy = (unsigned)y,
		 dig[8] = {yy / 1000, yy / 100 % 10, yy / 10 % 10, yy % 10,
			   m / 10,    m % 10,	     d / 10,	   d % 10};
	for (int i = 0; i < 8; i++)
		s[i] = (char)('0' + dig[i]);
	return true;
}

/* DA and DT values shifted (each of a multi-valued list; DT keeps its
 * time part); false if a value is not a full date. */
static bool shift_dates(deid__ctx *c, const elem *e)
{
	const uint8_t *v;
	size_t n;
	trimmed(c, e, &v, &n);
	strata_buf_reset(&c->scratch);
	if (strata_buf_put(&c->scratch, v, n) || strata_buf_cstr(&c->scratch))
		return false;
	char *s = (char *)c->scratch.ptr;
	bool dt = is_vr(e->evr, "DT");
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && s[j] != '\\')
			j++;
		if (j - i < 8 || (!dt && j - i != 8) || !shift_date(c, s + i))
			return false;
		i = j + 1;
	}
	return true;
}

static int write_dummy(deid__ctx *c, const elem *e)
{
	static const uint8_t zero[8] = {0};
	static const struct {
		const char *vr, *value;
	} text[] = {{"DA", "19000101"},
		    {"DT", "19000101000000"},
		    {"TM", "000000"},
		    {"AS", "000D"},
		    {"IS", "0"},
		    {"DS", "0"},
		    {"UR", "urn:x-deidentified"}};
	const char *vr = e->evr;
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (is_vr(vr, text[i].vr))
			return deid__put_str(c, e->tag, vr, text[i].value,
					     strlen(text[i].value));
	static const char *const strs[] = {"AE", "CS", "LO", "LT", "PN",
					   "SH", "ST", "UC", "UT"};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (is_vr(vr, strs[i]))
			return deid__put_str(c, e->tag, vr, "DEIDENTIFIED", 12);
	size_t n = is_vr(vr, "US") || is_vr(vr, "SS") ? 2
		   : is_vr(vr, "FD") || is_vr(vr, "SV") || is_vr(vr, "UV") ||
			   !vr[0] || vr[0] == 'O' || is_vr(vr, "UN")
		       ? 8
		       : 4;
	int rc = deid__put_header(c, e->tag, vr, (uint32_t)n);
	return rc ? rc : strata_buf_put(c->o, zero, n);
}

/* ---- decisions ---- */

static const unsigned col_flag[DEID_NCOLS] = {
    0,
    STRATA_DEID_RETAIN_SAFE_PRIVATE,
    STRATA_DEID_RETAIN_UIDS,
    STRATA_DEID_RETAIN_DEVICE_ID,
    STRATA_DEID_RETAIN_INSTITUTION_ID,
    STRATA_DEID_RETAIN_PATIENT_CHARS,
    STRATA_DEID_RETAIN_LONG_FULL_DATES,
    STRATA_DEID_RETAIN_LONG_MODIFIED_DATES,
    STRATA_DEID_CLEAN_DESCRIPTORS,
    STRATA_DEID_CLEAN_STRUCTURED_CONTENT,
    STRATA_DEID_CLEAN_GRAPHICS,
};

static bool is_text(const char *vr)
{
	static const char *const t[] = {"AE", "LO", "LT", "SH",
					"ST", "UC", "UR", "UT"};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (is_vr(vr, t[i]))
			return true;
	return false;
}

/* An action code resolved for an attribute whose IOD Type is unknown:
 * the compound codes take the choice that keeps the attribute valid when
 * it is Type 1 or 2 (D over Z over X), since Z and D values carry no
 * information; see docs/deid.md. */
static enum act from_code(int code, const elem *e, bool seq)
{
	switch (code) {
	case DEID_X:
		return ACT_DROP;
	case DEID_Z:
	case DEID_XZ:
		return ACT_EMPTY;
	case DEID_D:
	case DEID_ZD:
	case DEID_XD:
	case DEID_XZD:
		return seq		     ? ACT_RECURSE
		       : is_vr(e->evr, "UI") ? ACT_UID
					     : ACT_DUMMY;
	case DEID_U:
	case DEID_XZU:
		return seq ? ACT_RECURSE : ACT_UID;
	case DEID_K:
		return seq ? ACT_RECURSE : ACT_COPY;
	default:
		return ACT_DROP;
	}
}

/* C (clean) where strata knows how; elsewhere the Basic Profile code. */
static enum act clean(const deid__rule *r, int col, const elem *e, bool seq)
{
	const char *vr = e->evr;
	if (seq)
		return ACT_RECURSE;
	if (col == DEID_COL_MODIF_DATES) {
		if (is_vr(vr, "DA") || is_vr(vr, "DT"))
			return ACT_SHIFT;
		if (is_vr(vr, "TM"))
			return ACT_COPY;
	} else if (is_vr(vr, "AE")) {
		return ACT_DUMMY;
	} else if (is_vr(vr, "UI")) {
		return ACT_UID;
	} else if (is_text(vr) || is_vr(vr, "PN")) {
		return ACT_EMPTY;
	}
	return from_code(r->code[DEID_COL_BASIC], e, seq);
}

static enum act by_rule(deid__ctx *c, const deid__rule *r, const elem *e,
			bool seq)
{
	int code = DEID_NONE, col = DEID_COL_BASIC;
	for (int k = 1; k < DEID_NCOLS; k++)
		if ((c->flags & col_flag[k]) && r->code[k] &&
		    (code == DEID_NONE || r->code[k] == DEID_C)) {
			code = r->code[k];
			col = k;
		}
	if (code == DEID_NONE)
		code = r->code[DEID_COL_BASIC];
	if (code == DEID_C)
		return clean(r, col, e, seq);
	return from_code(code, e, seq);
}

/* Attributes not in Table E.1-1: by VR, so nothing unknown passes. */
static enum act sweep(deid__ctx *c, const elem *e, bool seq, bool *swept)
{
	const char *vr = e->evr;
	unsigned f = c->flags;
	*swept = true;
	if (seq)
		return ACT_RECURSE;
	if (!vr[0] || is_vr(vr, "UN"))
		return ACT_DROP;
	if (is_vr(vr, "UI")) {
		const uint8_t *v;
		size_t n;
		trimmed(c, e, &v, &n);
		if ((f & STRATA_DEID_RETAIN_UIDS) ||
		    deid__structural_uid(e->tag) ||
		    (n >= 14 && !memcmp(v, "1.2.840.10008.", 14))) {
			*swept = false;
			return ACT_COPY;
		}
		*swept = false;
		return ACT_UID;
	}
	if (is_vr(vr, "DA") || is_vr(vr, "DT") || is_vr(vr, "TM")) {
		if (f & STRATA_DEID_RETAIN_LONG_FULL_DATES)
			return *swept = false, ACT_COPY;
		if (f & STRATA_DEID_RETAIN_LONG_MODIFIED_DATES) {
			*swept = false;
			return is_vr(vr, "TM") ? ACT_COPY : ACT_SHIFT;
		}
		return ACT_EMPTY;
	}
	if (is_vr(vr, "AS"))
		return (f & STRATA_DEID_RETAIN_PATIENT_CHARS)
			   ? (*swept = false, ACT_COPY)
			   : ACT_EMPTY;
	if (is_vr(vr, "PN"))
		return ACT_EMPTY;
	if (is_text(vr))
		return deid__technical_text(e->tag) ? (*swept = false, ACT_COPY)
						    : ACT_EMPTY;
	*swept = false;
	return ACT_COPY;
}

static const char *creator_of(const level *lv, uint32_t tag)
{
	uint16_t g = (uint16_t)(tag >> 16);
	uint8_t b = (uint8_t)((tag >> 8) & 0xff);
	for (int i = 0; i < lv->ncr; i++)
		if (lv->cr[i].group == g && lv->cr[i].block == b)
			return lv->cr[i].name;
	return NULL;
}

static enum act private_act(deid__ctx *c, level *lv, const elem *e, bool seq)
{
	uint16_t g = (uint16_t)(e->tag >> 16), el = (uint16_t)e->tag;
	bool keep = c->flags & STRATA_DEID_RETAIN_SAFE_PRIVATE;
	if (g <= 0x0007 || g == 0xffff || (el > 0 && el < 0x10))
		return ACT_DROP; /* not valid private tags */
	if (el <= 0xff) {
		/* a Private Creator: remembered for its block, kept only
		 * when it names a creator of the safe list */
		const uint8_t *v;
		size_t n;
		trimmed(c, e, &v, &n);
		if (lv->ncr < MAX_CREATORS && n < 65) {
			lv->cr[lv->ncr].group = g;
			lv->cr[lv->ncr].block = (uint8_t)el;
			memcpy(lv->cr[lv->ncr].name, v, n);
			lv->cr[lv->ncr].name[n] = '\0';
			lv->ncr++;
			if (keep && !seq &&
			    deid__safe_creator(lv->cr[lv->ncr - 1].name))
				return ACT_COPY;
		}
		return ACT_DROP;
	}
	const char *cr = creator_of(lv, e->tag);
	if (keep && !seq && cr && deid__safe_private(cr, g, (uint8_t)el))
		return ACT_COPY;
	return ACT_DROP;
}

static enum act decide(deid__ctx *c, level *lv, const elem *e, bool seq,
		       bool *swept)
{
	uint32_t t = e->tag;
	uint16_t g = (uint16_t)(t >> 16);
	*swept = false;
	if (g == 0x0002 || (t & 0xffff) == 0)
		return ACT_DROP; /* File Meta is rebuilt; group lengths go */
	if (is_pixel(t))
		return ACT_PIXEL;
	if (is_private(t))
		return private_act(c, lv, e, seq);
	if (t == 0x00100010 || t == 0x00100020)
		return ACT_PSEUDO;
	/* signatures, encrypted and original attributes, MACs, padding */
	if (t == 0xfffafffa || t == 0x04000500 || t == 0x04000550 ||
	    t == 0x04000561 || t == 0x4ffe0001 || t == 0xfffcfffc)
		return ACT_DROP;
	/* overlays and curves: their data cannot be cleaned here, so the
	 * whole repeating group goes with it */
	if ((g & 0xff01) == 0x6000 || (g & 0xff01) == 0x5000)
		return ACT_DROP;
	const deid__rule *r = deid__rule_find(t);
	if (r)
		return by_rule(c, r, e, seq);
	return sweep(c, e, seq, swept);
}

/* ---- elements ---- */

static int write_pixel(deid__ctx *c, const elem *e, size_t *pos, int depth)
{
	int rc = skip_value(c, e, pos, depth);
	if (rc)
		return rc;
	size_t vlen = *pos - e->voff;
	const char *vr = e->vr[0] ? e->vr : "OB";
	if ((rc = deid__put_header(c, e->tag, vr, e->len)))
		return rc;
	if (depth == 0 && !c->have_pixel) {
		c->have_pixel = true;
		c->rep->pixel_offset = c->o->len; /* dataset-relative for now */
		c->rep->pixel_length = vlen;
	}
	c->rep->kept++;
	return strata_buf_put(c->o, c->p + e->voff, vlen);
}

static int write_seq(deid__ctx *c, const elem *e, level *lv, size_t *pos)
{
	int rc = deid__put_header(c, e->tag, "SQ", DEID_UNDEF);
	if (!rc)
		rc = walk_items(c, e, lv, pos);
	if (!rc && lv->depth == 0 && e->tag == 0x00120064)
		rc = deid__write_method_items(c);
	if (!rc)
		rc = deid__put_header(c, TAG_SEQ_END, "", 0);
	return rc;
}

/* The SOP Instance UID as written, for (0002,0003). */
static void record_sop(deid__ctx *c, const uint8_t *v, size_t n)
{
	if (n >= sizeof(c->sop_uid))
		n = sizeof(c->sop_uid) - 1;
	memcpy(c->sop_uid, v, n);
	c->sop_uid[n] = '\0';
	c->have_sop_uid = true;
}

static int do_elem(deid__ctx *c, level *lv, const elem *e, size_t *pos)
{
	bool seq = is_seq(e), swept = false;
	strata_deid_report *rep = c->rep;
	int rc;
	if (e->len == DEID_UNDEF && !seq && !is_pixel(e->tag))
		return bad(c, e->tag, e->off, "undefined length on a value");
	enum act a = decide(c, lv, e, seq, &swept);
	if (a == ACT_PIXEL)
		return write_pixel(c, e, pos, lv->depth);
	if (a == ACT_RECURSE)
		return write_seq(c, e, lv, pos);
	if ((rc = skip_value(c, e, pos, lv->depth)))
		return rc;
	if (a == ACT_SHIFT && !shift_dates(c, e))
		a = ACT_EMPTY; /* not a full date: nothing to keep */
	rep->swept += swept;
	switch (a) {
	case ACT_DROP:
		rep->removed++;
		rep->private_removed += is_private(e->tag);
		return 0;
	case ACT_EMPTY:
		rep->emptied++;
		return deid__put_header(c, e->tag, seq ? "SQ" : e->evr, 0);
	case ACT_DUMMY:
		rep->replaced++;
		return write_dummy(c, e);
	case ACT_COPY:
		rep->kept++;
		if (lv->depth == 0 && e->tag == 0x00080018) {
			const uint8_t *v;
			size_t n;
			trimmed(c, e, &v, &n);
			record_sop(c, v, n);
		}
		return copy_elem(c, e);
	case ACT_UID:
		if ((rc = write_uids(c, e)))
			return rc;
		if (lv->depth == 0 && e->tag == 0x00080018)
			record_sop(c, c->scratch.ptr, c->scratch.len);
		return 0;
	case ACT_SHIFT:
		rep->replaced++;
		return deid__put_str(c, e->tag, e->evr,
				     (const char *)c->scratch.ptr,
				     c->scratch.len);
	case ACT_PSEUDO:
		rep->replaced++;
		return deid__put_str(c, e->tag, e->evr[0] ? e->evr : "LO",
				     c->pseudonym, strlen(c->pseudonym));
	default:
		return 0;
	}
}

/* Walk one dataset (top level or an item) until `end`, or through its
 * Item Delimitation when `undef`. */
static int walk_dataset(deid__ctx *c, deid__syntax sx, size_t *pos, size_t end,
			bool undef, int depth)
{
	level *lv = strata_malloc(sizeof(*lv));
	if (!lv)
		return STRATA_ENOMEM;
	lv->depth = depth;
	lv->ncr = 0;
	int rc = 0;
	for (;;) {
		if (!undef && *pos >= end)
			break;
		elem e;
		if ((rc = read_header(c, sx, pos, end, &e)))
			break;
		if (e.tag == TAG_ITEM_END && undef)
			break;
		if ((e.tag >> 16) == 0xfffe) {
			rc = bad(c, e.tag, e.off, "unexpected delimiter");
			break;
		}
		if (depth == 0) {
			if ((rc = deid__flush_inserts(c, e.tag)))
				break;
			bool replaced = false;
			for (int i = 0; i < c->nins && !rc; i++)
				if (c->ins[i].tag == e.tag && !c->ins[i].done &&
				    e.tag != 0x00120064) {
					if (!(rc = skip_value(c, &e, pos, 0)))
						rc = deid__write_insert(
						    c, e.tag, c->p + e.voff,
						    e.len == DEID_UNDEF
							? 0
							: e.len);
					c->ins[i].done = true;
					replaced = true;
				}
			if (rc)
				break;
			if (replaced)
				continue;
			if (e.tag == 0x00120064)
				for (int i = 0; i < c->nins; i++)
					if (c->ins[i].tag == e.tag)
						c->ins[i].done = true;
		}
		if ((rc = do_elem(c, lv, &e, pos)))
			break;
	}
	strata_free(lv);
	return rc;
}

/* The items of sequence e (its value starts at e->voff), each walked and
 * written with undefined length. */
static int walk_items(deid__ctx *c, const elem *e, level *parent,
		      size_t *endpos)
{
	int depth = parent->depth + 1;
	if (depth > DEID_MAX_DEPTH)
		return bad(c, e->tag, e->off, "sequences nested too deep");
	size_t pos = e->voff;
	size_t end = e->len == DEID_UNDEF ? c->n : e->voff + e->len;
	int rc = 0;
	while (!rc) {
		if (e->len != DEID_UNDEF && pos >= end)
			break;
		elem it;
		if ((rc = read_header(c, e->sub, &pos, end, &it)))
			break;
		if (it.tag == TAG_SEQ_END && e->len == DEID_UNDEF)
			break;
		if (it.tag != TAG_ITEM)
			return bad(c, it.tag, it.off, "expected an item");
		rc = deid__put_header(c, TAG_ITEM, "", DEID_UNDEF);
		if (!rc)
			rc = it.len == DEID_UNDEF
				 ? walk_dataset(c, e->sub, &pos, end, true,
						depth)
				 : walk_dataset(c, e->sub, &pos,
						it.voff + it.len, false, depth);
		if (!rc)
			rc = deid__put_header(c, TAG_ITEM_END, "", 0);
	}
	if (!rc)
		*endpos = pos;
	return rc;
}

int deid__walk(deid__ctx *c, deid__syntax sx)
{
	size_t pos = 0;
	int rc = walk_dataset(c, sx, &pos, c->n, false, 0);
	return rc ? rc : deid__flush_inserts(c, UINT32_MAX);
}

static void take_str(const deid__ctx *c, const elem *e, char *out, size_t cap)
{
	const uint8_t *v;
	size_t n;
	trimmed(c, e, &v, &n);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

int deid__scan(deid__ctx *c, deid__syntax sx, deid__top *top)
{
	size_t pos = 0;
	memset(top, 0, sizeof(*top));
	while (pos < c->n) {
		elem e;
		int rc = read_header(c, sx, &pos, c->n, &e);
		if (rc)
			return rc;
		if ((e.tag >> 16) == 0xfffe)
			return bad(c, e.tag, e.off, "unexpected delimiter");
		if (e.len != DEID_UNDEF) {
			if (e.tag == 0x00100020)
				take_str(c, &e, top->patient_id,
					 sizeof(top->patient_id));
			else if (e.tag == 0x00080060)
				take_str(c, &e, top->modality,
					 sizeof(top->modality));
			else if (e.tag == 0x00080016)
				take_str(c, &e, top->sop_class,
					 sizeof(top->sop_class));
			else if (e.tag == 0x00080018)
				top->have_sop_uid = true;
			else if (e.tag == 0x00280301) {
				take_str(c, &e, top->bia, sizeof(top->bia));
				top->have_bia = true;
			}
		}
		if ((rc = skip_value(c, &e, &pos, 0)))
			return rc;
	}
	c->elems = 0;
	return 0;
}
