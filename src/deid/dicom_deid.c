/*
 * dicom_deid.c - the de-identifier's entry point: options, the keyed
 * derivations (UIDs, pseudonym, date shift), File Meta in and out, the
 * held-back check for burned-in text, and the conformance markers the
 * walker (dicom_walk.c) inserts at the top level.
 */
#include <zlib.h>

#include "common/common.h"
#include "deid/deid_int.h"

#define TS_IMPLICIT "1.2.840.10008.1.2"
#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_DEFLATED "1.2.840.10008.1.2.1.99"
#define TS_BIG "1.2.840.10008.1.2.2"
#define MAX_INFLATE ((size_t)1 << 30)

static const struct {
	unsigned flag;
	const char *name;
	const char *code;
	const char *meaning; /* PS3.16 CID 7050 */
} options[] = {
    {STRATA_DEID_CLEAN_PIXEL_DATA, "clean-pixel-data", "113101",
     "Clean Pixel Data Option"},
    {STRATA_DEID_CLEAN_VISUAL_FEATURES, "clean-visual-features", "113102",
     "Clean Recognizable Visual Features Option"},
    {STRATA_DEID_CLEAN_GRAPHICS, "clean-graphics", "113103",
     "Clean Graphics Option"},
    {STRATA_DEID_CLEAN_STRUCTURED_CONTENT, "clean-structured-content", "113104",
     "Clean Structured Content Option"},
    {STRATA_DEID_CLEAN_DESCRIPTORS, "clean-descriptors", "113105",
     "Clean Descriptors Option"},
    {STRATA_DEID_RETAIN_LONG_FULL_DATES, "retain-long-full-dates", "113106",
     "Retain Longitudinal Temporal Information Full Dates Option"},
    {STRATA_DEID_RETAIN_LONG_MODIFIED_DATES, "retain-long-modified-dates",
     "113107",
     "Retain Longitudinal Temporal Information Modified Dates Option"},
    {STRATA_DEID_RETAIN_PATIENT_CHARS, "retain-patient-chars", "113108",
     "Retain Patient Characteristics Option"},
    {STRATA_DEID_RETAIN_DEVICE_ID, "retain-device-id", "113109",
     "Retain Device Identity Option"},
    {STRATA_DEID_RETAIN_UIDS, "retain-uids", "113110", "Retain UIDs Option"},
    {STRATA_DEID_RETAIN_SAFE_PRIVATE, "retain-safe-private", "113111",
     "Retain Safe Private Option"},
    {STRATA_DEID_RETAIN_INSTITUTION_ID, "retain-institution-id", "113112",
     "Retain Institution Identity Option"},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

const char *strata_deid_revision(void)
{
	return deid__revision;
}

const char *strata_deid_option_name(unsigned flag)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].flag == flag)
			return options[i].name;
	return NULL;
}

static int check_flags(unsigned f)
{
	if (f & ~STRATA_DEID_ALL_OPTIONS)
		return strata_error_set(STRATA_EINVAL,
					"unknown de-identification option bits "
					"0x%x",
					f & ~STRATA_DEID_ALL_OPTIONS);
	if ((f & STRATA_DEID_RETAIN_LONG_FULL_DATES) &&
	    (f & STRATA_DEID_RETAIN_LONG_MODIFIED_DATES))
		return strata_error_set(STRATA_EINVAL,
					"options 'retain-long-full-dates' and "
					"'retain-long-modified-dates' exclude "
					"each other; choose one");
	return 0;
}

int strata_deid_parse_options(const char *list, unsigned *flags)
{
	unsigned f = 0;
	const char *s = list ? list : "";
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		while (n && s[0] == ' ') {
			s++;
			n--;
		}
		while (n && s[n - 1] == ' ')
			n--;
		if (n) {
			size_t i = 0;
			while (i < NOPTIONS && (strlen(options[i].name) != n ||
						memcmp(options[i].name, s, n)))
				i++;
			if (i == NOPTIONS)
				return strata_error_set(
				    STRATA_EINVAL,
				    "unknown de-identification option '%.*s'",
				    (int)n, s);
			f |= options[i].flag;
		}
		if (!comma)
			break;
		s = comma + 1;
	}
	int rc = check_flags(f);
	if (!rc)
		*flags = f;
	return rc;
}

/* ---- keyed derivations ---- */

static int mac(deid__ctx *c, uint8_t out[32], const char *label,
	       size_t labellen, const void *p, size_t n)
{
	strata_buf *b = &c->macbuf;
	strata_buf_reset(b);
	int rc = strata_buf_puts(b, c->domain);
	if (!rc && labellen)
		rc = strata_buf_put(b, label, labellen);
	if (!rc)
		rc = strata_buf_put(b, p, n);
	if (!rc)
		strata_hmac_calc(c->h, out, b->ptr, b->len);
	return rc;
}

int deid__uid(deid__ctx *c, const char *uid, size_t len, char *out)
{
	uint8_t d[32];
	/* new UID = "2.25." + decimal(HMAC(key, domain || 0x00 || uid)[0..16]
	 * with the top bit cleared) */
	int rc = mac(c, d, "", 1, uid, len);
	if (rc)
		return rc;
	unsigned __int128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | d[i];
	v &= ~((unsigned __int128)1 << 127);
	char digits[48];
	int k = 0;
	do {
		digits[k++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	memcpy(out, "2.25.", 5);
	for (int i = 0; i < k; i++)
		out[5 + i] = digits[k - 1 - i];
	out[5 + k] = '\0';
	return 0;
}

/* ---- File Meta ---- */

typedef struct meta {
	char ts[68];
	char sop_class[68];
	char sop_uid[68];
	size_t end; /* offset of the dataset */
} meta;

static void meta_str(const uint8_t *v, size_t n, char *out, size_t cap)
{
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\0'))
		n--;
	while (n && v[0] == ' ') {
		v++;
		n--;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* Group 0002 from `pos`: always explicit VR little endian. */
static int read_meta(const uint8_t *in, size_t n, size_t pos, meta *m)
{
	while (n - pos >= 8 && in[pos] == 0x02 && in[pos + 1] == 0) {
		uint32_t tag =
		    0x00020000u | (uint32_t)(in[pos + 3] << 8 | in[pos + 2]);
		char vr[3] = {(char)in[pos + 4], (char)in[pos + 5], 0};
		if (vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z')
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "dicom element (0002,%04x) at offset %zu: bad VR "
			    "in File Meta",
			    tag & 0xffff, pos);
		size_t hl = 8;
		uint32_t len = (uint32_t)(in[pos + 7] << 8 | in[pos + 6]);
		if (!strcmp(vr, "OB") || !strcmp(vr, "UN") ||
		    !strcmp(vr, "SQ") || !strcmp(vr, "UT")) {
			if (n - pos < 12)
				return strata_error_set(
				    STRATA_ECORRUPT,
				    "dicom element (0002,%04x) at offset %zu: "
				    "truncated header",
				    tag & 0xffff, pos);
			len = strata_get_le32(in + pos + 8);
			hl = 12;
		}
		if (len > n - pos - hl)
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "dicom element (0002,%04x) at offset %zu: value "
			    "runs past the end",
			    tag & 0xffff, pos);
		const uint8_t *v = in + pos + hl;
		if (tag == 0x00020010)
			meta_str(v, len, m->ts, sizeof(m->ts));
		else if (tag == 0x00020002)
			meta_str(v, len, m->sop_class, sizeof(m->sop_class));
		else if (tag == 0x00020003)
			meta_str(v, len, m->sop_uid, sizeof(m->sop_uid));
		pos += hl + len;
	}
	m->end = pos;
	return 0;
}

static bool vr_like(const uint8_t *p)
{
	return p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'A' && p[1] <= 'Z';
}

/* Find the dataset and its syntax: a Part 10 file, File Meta without
 * the preamble, or a bare dataset (implicit or explicit little endian). */
static int locate(const uint8_t *in, size_t n, meta *m, deid__syntax *sx,
		  bool *deflated)
{
	memset(m, 0, sizeof(*m));
	*deflated = false;
	size_t start = 0;
	if (n >= 132 && !memcmp(in + 128, "DICM", 4))
		start = 132;
	else if (n < 132 && n >= 4 && !memcmp(in, "\0\0\0\0", 4))
		return strata_error_set(STRATA_ECORRUPT,
					"dicom file truncated in its preamble "
					"(%zu bytes)",
					n);
	int rc = read_meta(in, n, start, m);
	if (rc)
		return rc;
	if (!m->ts[0]) {
		/* no Transfer Syntax: guess from the first element */
		bool expl = n - m->end >= 8 && vr_like(in + m->end + 4);
		snprintf(m->ts, sizeof(m->ts), "%s",
			 expl ? TS_EXPLICIT : TS_IMPLICIT);
	}
	*sx = (deid__syntax){true, false};
	if (!strcmp(m->ts, TS_IMPLICIT))
		sx->explicit_vr = false;
	else if (!strcmp(m->ts, TS_BIG))
		sx->big = true;
	else if (!strcmp(m->ts, TS_DEFLATED))
		*deflated = true;
	return 0;
}

static int inflate_all(const uint8_t *p, size_t n, strata_buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
		return strata_error_set(STRATA_ENOMEM, "cannot start inflate");
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = n > UINT_MAX ? UINT_MAX : (uInt)n;
	int rc = 0, zr = Z_OK;
	while (zr != Z_STREAM_END) {
		if ((rc = strata_buf_reserve(out, 65536)))
			break;
		z.next_out = out->ptr + out->len;
		z.avail_out = 65536;
		zr = inflate(&z, Z_NO_FLUSH);
		out->len += 65536 - z.avail_out;
		if (out->len > MAX_INFLATE) {
			rc = strata_error_set(STRATA_ECORRUPT,
					      "deflated dicom dataset inflates "
					      "past %zu bytes",
					      MAX_INFLATE);
			break;
		}
		if (zr == Z_BUF_ERROR || (zr != Z_OK && zr != Z_STREAM_END)) {
			rc = strata_error_set(STRATA_ECORRUPT,
					      "deflated dicom dataset is %s "
					      "at input offset %lu",
					      zr == Z_BUF_ERROR ? "truncated"
								: "corrupt",
					      z.total_in);
			break;
		}
	}
	inflateEnd(&z);
	return rc;
}

/* ---- markers ---- */

static int put_elem_str(strata_buf *b, uint16_t el, const char *vr,
			const char *s)
{
	size_t n = strlen(s), pad = n & 1;
	uint8_t h[8] = {0x02,
			0x00,
			(uint8_t)el,
			(uint8_t)(el >> 8),
			(uint8_t)vr[0],
			(uint8_t)vr[1],
			(uint8_t)(n + pad),
			(uint8_t)((n + pad) >> 8)};
	int rc = strata_buf_put(b, h, 8);
	if (!rc)
		rc = strata_buf_put(b, s, n);
	if (!rc && pad)
		rc = strata_buf_put_u8(b, vr[0] == 'U' ? 0 : ' ');
	return rc;
}

static int write_meta(strata_buf *b, const char *sop_class, const char *sop_uid,
		      const char *ts)
{
	strata_buf g = STRATA_BUF_INIT;
	static const uint8_t version[] = {
	    0x02, 0x00, 0x01, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0x00, 0x01};
	int rc = strata_buf_put(&g, version, sizeof(version));
	if (!rc)
		rc = put_elem_str(&g, 0x0002, "UI", sop_class);
	if (!rc)
		rc = put_elem_str(&g, 0x0003, "UI", sop_uid);
	if (!rc)
		rc = put_elem_str(&g, 0x0010, "UI", ts);
	if (!rc)
		rc = put_elem_str(&g, 0x0012, "UI", STRATA_DEID_IMPL_UID);
	if (!rc)
		rc = put_elem_str(&g, 0x0013, "SH", STRATA_DEID_IMPL_VERSION);
	static const uint8_t zero[128] = {0};
	uint8_t glen[12] = {0x02, 0, 0, 0, 'U', 'L', 4, 0};
	strata_le32(glen + 8, (uint32_t)g.len);
	if (!rc)
		rc = strata_buf_put(b, zero, sizeof(zero));
	if (!rc)
		rc = strata_buf_put(b, "DICM", 4);
	if (!rc)
		rc = strata_buf_put(b, glen, sizeof(glen));
	if (!rc)
		rc = strata_buf_put(b, g.ptr, g.len);
	strata_buf_release(&g);
	return rc;
}

static const char *temporal_marker(unsigned f)
{
	if (f & STRATA_DEID_RETAIN_LONG_FULL_DATES)
		return "UNMODIFIED";
	if (f & STRATA_DEID_RETAIN_LONG_MODIFIED_DATES)
		return "MODIFIED";
	return "REMOVED";
}

static int put_cs(deid__ctx *c, uint32_t tag, const char *vr, const char *s)
{
	return deid__put_str(c, tag, vr, s, strlen(s));
}

int deid__write_method_items(deid__ctx *c)
{
	int rc = 0;
	for (size_t i = 0; i <= NOPTIONS && !rc; i++) {
		const char *code = "113100",
			   *meaning = "Basic Application Confidentiality "
				      "Profile";
		if (i) {
			if (!(c->flags & options[i - 1].flag))
				continue;
			code = options[i - 1].code;
			meaning = options[i - 1].meaning;
		}
		rc = deid__put_header(c, 0xfffee000u, "", DEID_UNDEF);
		if (!rc)
			rc = put_cs(c, 0x00080100, "SH", code);
		if (!rc)
			rc = put_cs(c, 0x00080102, "SH", "DCM");
		if (!rc)
			rc = put_cs(c, 0x00080104, "LO", meaning);
		if (!rc)
			rc = deid__put_header(c, 0xfffee00du, "", 0);
	}
	return rc;
}

/* De-identification Method: the previous values, then strata's. */
static int write_method(deid__ctx *c, const uint8_t *old, size_t oldlen)
{
	strata_buf b = STRATA_BUF_INIT;
	while (oldlen && (old[oldlen - 1] == ' ' || old[oldlen - 1] == 0))
		oldlen--;
	int rc = 0;
	if (oldlen)
		rc = strata_buf_put(&b, old, oldlen);
	if (!rc)
		rc = strata_buf_printf(
		    &b, "%sstrata %s PS3.15 %s Basic Profile",
		    oldlen ? "\\" : "", STRATA_VERSION, deid__revision);
	for (size_t i = 0; i < NOPTIONS && !rc; i++)
		if (c->flags & options[i].flag)
			rc = strata_buf_printf(&b, "\\%s", options[i].meaning);
	if (!rc)
		rc = deid__put_str(c, 0x00120063, "LO", (const char *)b.ptr,
				   b.len);
	strata_buf_release(&b);
	return rc;
}

int deid__write_insert(deid__ctx *c, uint32_t tag, const uint8_t *old,
		       size_t oldlen)
{
	int rc;
	switch (tag) {
	case 0x00100010:
	case 0x00100020:
		c->rep->replaced++;
		return deid__put_str(c, tag, tag == 0x00100010 ? "PN" : "LO",
				     c->pseudonym, strlen(c->pseudonym));
	case 0x00080016:
		return put_cs(c, tag, "UI", c->sop_class);
	case 0x00080018:
		return put_cs(c, tag, "UI", c->sop_uid);
	case 0x00120062:
		return put_cs(c, tag, "CS", "YES");
	case 0x00120063:
		return write_method(c, old, oldlen);
	case 0x00120064:
		rc = deid__put_header(c, tag, "SQ", DEID_UNDEF);
		if (!rc)
			rc = deid__write_method_items(c);
		return rc ? rc : deid__put_header(c, 0xfffee0ddu, "", 0);
	case 0x00280301:
	case 0x00280302:
		return put_cs(c, tag, "CS", "NO");
	case 0x00280303:
		return put_cs(c, tag, "CS", temporal_marker(c->flags));
	default:
		return 0;
	}
}

int deid__flush_inserts(deid__ctx *c, uint32_t tag)
{
	for (int i = 0; i < c->nins; i++)
		if (!c->ins[i].done && c->ins[i].tag < tag) {
			c->ins[i].done = true;
			int rc = deid__write_insert(c, c->ins[i].tag, NULL, 0);
			if (rc)
				return rc;
		}
	return 0;
}

static void add_insert(deid__ctx *c, uint32_t tag)
{
	assert(c->nins < DEID_MAX_INSERTS);
	int i = c->nins++;
	for (; i > 0 && c->ins[i - 1].tag > tag; i--)
		c->ins[i] = c->ins[i - 1]; /* kept sorted by tag */
	c->ins[i] = (deid__insert){tag, false};
}

/* ---- held back for review ---- */

static bool held_back(const deid__top *t, unsigned f, char *why, size_t cap)
{
	if (f & STRATA_DEID_CLEAN_PIXEL_DATA)
		return false;
	const char *sc = "1.2.840.10008.5.1.4.1.1.7";
	size_t scn = strlen(sc);
	bool is_sc = !strncmp(t->sop_class, sc, scn) &&
		     (t->sop_class[scn] == '\0' || t->sop_class[scn] == '.');
	if (t->have_bia && !strcmp(t->bia, "YES")) {
		snprintf(why, cap, "Burned In Annotation (0028,0301) is YES");
		return true;
	}
	if (!strcmp(t->modality, "US")) {
		snprintf(why, cap,
			 "modality US: ultrasound images usually carry "
			 "burned-in text");
		return true;
	}
	if (!t->have_bia && (is_sc || !strcmp(t->modality, "XC") ||
			     !strcmp(t->modality, "OT"))) {
		snprintf(why, cap,
			 "%s without Burned In Annotation (0028,0301): may "
			 "carry burned-in text",
			 is_sc ? "Secondary Capture" : t->modality);
		return true;
	}
	return false;
}

/* ---- entry ---- */

static void derive_subject(deid__ctx *c, const deid__top *top,
			   const strata_deid_opts *o, strata_deid_report *rep)
{
	uint8_t d[32];
	const char *pid = top->patient_id;
	snprintf(rep->subject_id, sizeof(rep->subject_id), "%s", pid);
	if (o->patient_pseudonym) {
		snprintf(c->pseudonym, sizeof(c->pseudonym), "%s",
			 o->patient_pseudonym);
	} else {
		/* "sub-" + 16 hex of HMAC(key, domain || "\x01pseudonym" ||
		 * PatientID) */
		if (mac(c, d, "\x01pseudonym", 10, pid, strlen(pid)))
			memset(d, 0, sizeof(d));
		char hex[17];
		strata_hex(hex, d, 8);
		snprintf(c->pseudonym, sizeof(c->pseudonym), "sub-%s", hex);
	}
	snprintf(rep->pseudonym, sizeof(rep->pseudonym), "%s", c->pseudonym);
	if (c->flags & STRATA_DEID_RETAIN_LONG_MODIFIED_DATES) {
		/* one whole-day shift per subject and domain: 1 to 10 years
		 * back, from HMAC(key, domain || PatientID) */
		c->shift =
		    strata_deid_date_shift(c->key, c->keylen, c->domain, pid);
		rep->date_shift_days = c->shift;
	}
}

static int check_opts(const strata_deid_opts *o)
{
	if (!o || !o->key || o->keylen < 16)
		return strata_error_set(STRATA_EINVAL,
					"de-identification needs a key of at "
					"least 16 bytes");
	if (o->patient_pseudonym && (strlen(o->patient_pseudonym) > 64 ||
				     strpbrk(o->patient_pseudonym, "\\^=")))
		return strata_error_set(STRATA_EINVAL,
					"pseudonym '%s' must be at most 64 "
					"characters without '\\', '^' or '='",
					o->patient_pseudonym);
	return check_flags(o->options);
}

/* A dataset without SOP Instance UID (fragments, broken writers) gets
 * the File Meta's remapped, or one derived from its content. */
static int missing_sop(deid__ctx *c, const deid__top *top, const meta *m,
		       const uint8_t *in, size_t n)
{
	if (!top->sop_class[0])
		snprintf(c->sop_class, sizeof(c->sop_class), "%s",
			 m->sop_class);
	if (!top->sop_class[0] && c->sop_class[0])
		add_insert(c, 0x00080016);
	if (top->have_sop_uid)
		return 0;
	int rc = 0;
	if (m->sop_uid[0] && (c->flags & STRATA_DEID_RETAIN_UIDS)) {
		snprintf(c->sop_uid, sizeof(c->sop_uid), "%s", m->sop_uid);
	} else if (m->sop_uid[0]) {
		rc = deid__uid(c, m->sop_uid, strlen(m->sop_uid), c->sop_uid);
	} else {
		uint8_t h[32];
		char label[80] = "strata-content:";
		strata_sha256(h, in, n);
		strata_hex(label + 15, h, 32);
		rc = deid__uid(c, label, strlen(label), c->sop_uid);
	}
	c->have_sop_uid = true;
	c->rep->uids_remapped++;
	add_insert(c, 0x00080018);
	return rc;
}

static int run(deid__ctx *c, const strata_deid_opts *o, deid__syntax sx,
	       const char *ts, const meta *m, const uint8_t *in, size_t n,
	       strata_buf *out)
{
	deid__top top;
	strata_deid_report *rep = c->rep;
	int rc = deid__scan(c, sx, &top);
	if (rc)
		return rc;
	derive_subject(c, &top, o, rep);
	if (held_back(&top, c->flags, rep->reason, sizeof(rep->reason))) {
		rep->held_back = true;
		return 0;
	}
	if ((rc = missing_sop(c, &top, m, in, n)))
		return rc;
	add_insert(c, 0x00100010);
	add_insert(c, 0x00100020);
	add_insert(c, 0x00120062);
	add_insert(c, 0x00120063);
	add_insert(c, 0x00120064);
	if (c->flags & STRATA_DEID_CLEAN_PIXEL_DATA)
		add_insert(c, 0x00280301);
	if (c->flags & STRATA_DEID_CLEAN_VISUAL_FEATURES)
		add_insert(c, 0x00280302);
	add_insert(c, 0x00280303);
	strata_buf ds = STRATA_BUF_INIT;
	ds.limit = out->limit;
	c->o = &ds;
	if ((rc = deid__walk(c, sx)))
		goto out;
	const char *cls = top.sop_class[0] ? top.sop_class : c->sop_class;
	strata_buf res = STRATA_BUF_INIT;
	res.limit = out->limit;
	if (!(rc = write_meta(&res, cls, c->sop_uid, ts)))
		rc = strata_buf_put(&res, ds.ptr, ds.len);
	if (rc) {
		strata_buf_release(&res);
		goto out;
	}
	if (c->have_pixel)
		rep->pixel_offset += res.len - ds.len;
	strata_buf_release(out);
	*out = res;
out:
	strata_buf_release(&ds);
	return rc;
}

int strata_deid_dicom(const uint8_t *in, size_t n, const strata_deid_opts *o,
		      strata_buf *out, strata_deid_report *rep)
{
	int rc = check_opts(o);
	if (rc)
		return rc;
	strata_deid_report r;
	memset(&r, 0, sizeof(r));
	meta m;
	deid__syntax sx;
	bool deflated;
	if ((rc = locate(in, n, &m, &sx, &deflated)))
		return rc;
	deid__ctx *c = strata_calloc(1, sizeof(*c));
	if (!c)
		return STRATA_ENOMEM;
	strata_buf inflated = STRATA_BUF_INIT;
	c->flags = o->options;
	c->domain = o->domain ? o->domain : "";
	c->rep = &r;
	c->p = in + m.end;
	c->n = n - m.end;
	c->base = m.end;
	const char *ts = m.ts;
	if (deflated) {
		if ((rc = inflate_all(in + m.end, n - m.end, &inflated)))
			goto out;
		c->p = inflated.ptr;
		c->n = inflated.len;
		c->base = 0;
		c->inflated = true;
		ts = TS_EXPLICIT; /* written inflated */
	}
	c->out_sx = sx;
	c->key = o->key;
	c->keylen = o->keylen;
	if ((rc = strata_hmac_new(&c->h, o->key, o->keylen)))
		goto out;
	if ((rc = run(c, o, sx, ts, &m, in, n, out)))
		goto out;
	if (r.held_back)
		strata_buf_reset(out);
	*rep = r;
out:
	strata_hmac_free(c->h);
	strata_buf_release(&c->scratch);
	strata_buf_release(&c->macbuf);
	strata_buf_release(&inflated);
	strata_free(c);
	return rc;
}

int32_t strata_deid_date_shift(const uint8_t *key, size_t keylen,
			       const char *domain, const char *patient_id)
{
	uint8_t d[32];
	strata_buf b = STRATA_BUF_INIT;
	if (strata_buf_puts(&b, domain ? domain : "") ||
	    strata_buf_puts(&b, patient_id ? patient_id : ""))
		memset(d, 0, sizeof(d));
	else
		strata_hmac_once(d, key, keylen, b.ptr, b.len);
	strata_buf_release(&b);
	uint32_t v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
		     (uint32_t)d[2] << 8 | d[3];
	return -(int32_t)(365 + v % 3286);
}
