/*
 * test_deid_dicom.c - the DICOM de-identifier on the real files of
 * $STRATA_TESTDATA/dicom: every file de-identified or held back, no PN/DA/
 * DT/TM value left, Table E.1-1 X/Z/D honoured, UIDs keyed and consistent,
 * pixel bytes identical, markers present, private tags, determinism and
 * truncated or hostile input. With --write DIR it writes the outputs for
 * golden_deid_dicom.sh instead.
 */
#include <ctype.h>
#include <zlib.h>

#include "unit.h"
#include "deid/deid.h"
#include "deid/deid_int.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";

/* ---- a small independent reader of the outputs (and inputs) ---- */

typedef struct tel {
	uint32_t tag;
	char vr[3];
	int depth;
	const uint8_t *v;
	size_t len;
	size_t voff;
	bool undef;
} tel;

typedef struct tds {
	tel *e;
	size_t n, cap;
} tds;

static uint16_t g16(const uint8_t *p, bool big)
{
	unsigned hi = big ? p[0] : p[1], lo = big ? p[1] : p[0];
	return (uint16_t)(hi << 8 | lo);
}

static uint32_t g32(const uint8_t *p, bool big)
{
	return big ? (uint32_t)g16(p, true) << 16 | g16(p + 2, true)
		   : (uint32_t)g16(p + 2, false) << 16 | g16(p, false);
}

static bool longvr(const char *vr)
{
	static const char *const l[] = {"OB", "OD", "OF", "OL", "OV",
					"OW", "SQ", "UC", "UN", "UR",
					"UT", "SV", "UV"};
	for (size_t i = 0; i < sizeof(l) / sizeof(l[0]); i++)
		if (!strcmp(vr, l[i]))
			return true;
	return false;
}

static void add(tds *d, tel e)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		d->e = realloc(d->e, d->cap * sizeof(tel));
		assert_non_null(d->e);
	}
	d->e[d->n++] = e;
}

/* Parse p[*pos..end) (or through an item delimiter); returns false on
 * malformed input. */
static bool tparse(const uint8_t *p, size_t *pos, size_t end, bool expl,
		   bool big, int depth, bool item_undef, tds *d)
{
	while (*pos < end) {
		if (end - *pos < 8)
			return false;
		const uint8_t *h = p + *pos;
		uint32_t tag = (uint32_t)g16(h, big) << 16 | g16(h + 2, big);
		tel e = {.tag = tag, .depth = depth};
		size_t hl = 8;
		uint32_t len;
		if (!expl || (tag >> 16) == 0xfffe) {
			len = g32(h + 4, big);
			const char *vr = deid__vr_find(tag);
			snprintf(e.vr, 3, "%s", vr[0] ? vr : "UN");
		} else {
			e.vr[0] = (char)h[4];
			e.vr[1] = (char)h[5];
			if (longvr(e.vr)) {
				if (end - *pos < 12)
					return false;
				len = g32(h + 8, big);
				hl = 12;
			} else {
				len = g16(h + 6, big);
			}
		}
		*pos += hl;
		if (tag == 0xfffee00d && item_undef)
			return true;
		if (tag == 0xfffee0dd)
			return false;
		e.voff = *pos;
		e.undef = len == 0xffffffffu;
		if (!e.undef && len > end - *pos)
			return false;
		bool sq = !strcmp(e.vr, "SQ") || (e.undef && tag != 0x7fe00010);
		if (sq) {
			bool sexpl = expl && strcmp(e.vr, "UN");
			bool sbig = big && sexpl;
			e.len = 0;
			add(d, e);
			size_t send = e.undef ? end : *pos + len;
			while (*pos < send) {
				if (send - *pos < 8)
					return false;
				uint32_t it = (uint32_t)g16(p + *pos, sbig)
						  << 16 |
					      g16(p + *pos + 2, sbig);
				uint32_t il = g32(p + *pos + 4, sbig);
				*pos += 8;
				if (it == 0xfffee0dd)
					break;
				if (it != 0xfffee000)
					return false;
				if (il == 0xffffffffu) {
					if (!tparse(p, pos, send, sexpl, sbig,
						    depth + 1, true, d))
						return false;
				} else {
					if (il > send - *pos)
						return false;
					size_t ipos = *pos;
					if (!tparse(p, &ipos, *pos + il, sexpl,
						    sbig, depth + 1, false, d))
						return false;
					*pos += il;
				}
			}
			continue;
		}
		if (e.undef) { /* encapsulated pixel data */
			size_t q = *pos;
			for (;;) {
				if (end - q < 8)
					return false;
				uint32_t it = (uint32_t)g16(p + q, big) << 16 |
					      g16(p + q + 2, big);
				uint32_t il = g32(p + q + 4, big);
				q += 8;
				if (it == 0xfffee0dd)
					break;
				if (il > end - q)
					return false;
				q += il;
			}
			len = (uint32_t)(q - *pos);
		}
		e.v = p + *pos;
		e.len = len;
		add(d, e);
		*pos += len;
	}
	return !item_undef;
}

/* Parse a Part 10 file (or a bare dataset); meta elements are depth -1. */
static bool tparse_file(const uint8_t *p, size_t n, tds *d, char *ts)
{
	size_t pos = 0;
	memset(d, 0, sizeof(*d));
	snprintf(ts, 80, "1.2.840.10008.1.2");
	if (n >= 132 && !memcmp(p + 128, "DICM", 4))
		pos = 132;
	size_t start = pos;
	while (n - pos >= 8 && p[pos] == 2 && p[pos + 1] == 0)
		pos += 8 + (p[pos + 4] == 'O' || p[pos + 4] == 'U'
				? 4 + g32(p + pos + 8, false)
				: g16(p + pos + 6, false));
	if (pos > n)
		return false;
	size_t q = start;
	tds meta = {0};
	if (!tparse(p, &q, pos, true, false, -1, false, &meta))
		return false;
	for (size_t i = 0; i < meta.n; i++) {
		meta.e[i].depth = -1;
		add(d, meta.e[i]);
		if (meta.e[i].tag == 0x00020010) {
			size_t k = meta.e[i].len;
			memcpy(ts, meta.e[i].v, k);
			while (k && (ts[k - 1] == 0 || ts[k - 1] == ' '))
				k--;
			ts[k] = 0;
		}
	}
	free(meta.e);
	if (start == 0 && pos == 0 && n >= 6 && p[4] >= 'A' && p[4] <= 'Z' &&
	    p[5] >= 'A' && p[5] <= 'Z')
		snprintf(ts, 80, "1.2.840.10008.1.2.1");
	bool expl = strcmp(ts, "1.2.840.10008.1.2") != 0;
	bool big = !strcmp(ts, "1.2.840.10008.1.2.2");
	if (!strcmp(ts, "1.2.840.10008.1.2.1.99"))
		return true; /* deflated input: meta only */
	return tparse(p, &pos, n, expl, big, 0, false, d);
}

static const tel *find(const tds *d, uint32_t tag, int depth)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->e[i].tag == tag &&
		    (depth < -1 || d->e[i].depth == depth))
			return &d->e[i];
	return NULL;
}

/* The value as a trimmed C string in a static buffer. */
static const char *str(const tel *e)
{
	static char b[4][1024];
	static int k;
	char *s = b[k++ & 3];
	size_t n = e && e->v ? e->len : 0;
	if (n > 1023)
		n = 1023;
	if (n)
		memcpy(s, e->v, n);
	while (n && (s[n - 1] == ' ' || s[n - 1] == 0))
		n--;
	s[n] = 0;
	return s;
}

/* ---- files ---- */

static char *testdata(const char *name)
{
	const char *root = getenv("STRATA_TESTDATA");
	if (!root)
		root = "../shared/testdata";
	size_t n = strlen(root) + strlen(name) + 16;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/dicom/%s", root, name);
	return p;
}

static uint8_t *load(const char *path, size_t *n)
{
	gzFile f = gzopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, len = 0;
	uint8_t *p = malloc(cap);
	for (;;) {
		if (len == cap)
			p = realloc(p, cap *= 2);
		int k = gzread(f, p + len, (unsigned)(cap - len));
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	gzclose(f);
	*n = len;
	uint8_t *q = unit_dup(p, len); /* exact size: ASan sees overreads */
	free(p);
	return q;
}

static uint8_t *load_name(const char *name, size_t *n)
{
	char *path = testdata(name);
	uint8_t *p = load(path, n);
	free(path);
	if (!p)
		fail_msg("cannot read %s (set STRATA_TESTDATA)", name);
	return p;
}

static int deid(const uint8_t *in, size_t n, unsigned opts, const char *dom,
		strata_buf *out, strata_deid_report *rep)
{
	strata_deid_opts o = {
	    .options = opts, .key = KEY, .keylen = sizeof(KEY), .domain = dom};
	return strata_deid_dicom(in, n, &o, out, rep);
}

static char **list_files(size_t *count)
{
	char *dir = testdata("");
	DIR *d = opendir(dir);
	free(dir);
	assert_non_null(d);
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if ((l > 4 && !strcmp(de->d_name + l - 4, ".dcm")) ||
		    (l > 7 && !strcmp(de->d_name + l - 7, ".dcm.gz"))) {
			v = realloc(v, (n + 1) * sizeof(*v));
			v[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	for (size_t i = 1; i < n; i++) /* sorted: stable order */
		for (size_t j = i; j && strcmp(v[j - 1], v[j]) > 0; j--) {
			char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*count = n;
	return v;
}

/* ---- checks on one output ---- */

static bool valid_uid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isdigit((unsigned char)s[i]) || s[i] == '.') ||
		    (s[i] == '.' && s[i + 1] == '.') ||
		    (s[i] == '0' && (i == 0 || s[i - 1] == '.') &&
		     isdigit((unsigned char)s[i + 1])))
			return false;
	return true;
}

static bool is_temporal_or_pn(const char *vr)
{
	return !strcmp(vr, "PN") || !strcmp(vr, "DA") || !strcmp(vr, "DT") ||
	       !strcmp(vr, "TM");
}

static void check_output(const char *name, const tds *in, const tds *out,
			 const strata_deid_report *rep, unsigned opts)
{
	const char *pseudo = rep->pseudonym;
	/* markers */
	assert_string_equal(str(find(out, 0x00120062, 0)), "YES");
	assert_non_null(strstr(str(find(out, 0x00120063, 0)), "strata"));
	assert_non_null(find(out, 0x00120064, 0));
	bool has113100 = false;
	for (size_t i = 0; i < out->n; i++)
		if (out->e[i].tag == 0x00080100 && out->e[i].depth == 1 &&
		    !strcmp(str(&out->e[i]), "113100"))
			has113100 = true;
	assert_true(has113100);
	if (!(opts & (STRATA_DEID_RETAIN_LONG_FULL_DATES |
		      STRATA_DEID_RETAIN_LONG_MODIFIED_DATES)))
		assert_string_equal(str(find(out, 0x00280303, 0)), "REMOVED");
	/* pseudonym */
	assert_string_equal(str(find(out, 0x00100010, 0)), pseudo);
	assert_string_equal(str(find(out, 0x00100020, 0)), pseudo);
	/* File Meta */
	const tel *ms = find(out, 0x00020003, -1),
		  *si = find(out, 0x00080018, 0);
	assert_non_null(ms);
	assert_non_null(si);
	assert_string_equal(str(ms), str(si));
	if (!(opts & STRATA_DEID_RETAIN_UIDS))
		assert_memory_equal(str(si), "2.25.", 5);
	assert_string_equal(str(find(out, 0x00020012, -1)),
			    STRATA_DEID_IMPL_UID);
	/* no PN/DA/DT/TM value of the input left, no private element */
	for (size_t i = 0; i < out->n; i++) {
		const tel *o = &out->e[i];
		if (o->depth >= 0 && ((o->tag >> 16) & 1) &&
		    !(opts & STRATA_DEID_RETAIN_SAFE_PRIVATE))
			fail_msg("%s: private (%04x,%04x) left", name,
				 o->tag >> 16, o->tag & 0xffff);
		if (o->depth < 0 || !is_temporal_or_pn(o->vr) || !o->len)
			continue;
		char ov[1024];
		snprintf(ov, sizeof(ov), "%s", str(o));
		if (!strcmp(ov, pseudo))
			continue;
		for (size_t j = 0; j < in->n; j++) {
			const tel *x = &in->e[j];
			if (x->depth >= 0 && is_temporal_or_pn(x->vr) &&
			    x->len >= 4 && !strcmp(str(x), ov))
				fail_msg("%s: input value '%s' of (%04x,%04x) "
					 "left in (%04x,%04x)",
					 name, ov, x->tag >> 16,
					 x->tag & 0xffff, o->tag >> 16,
					 o->tag & 0xffff);
		}
	}
	/* Table E.1-1 X, Z, D and U at every depth */
	for (size_t j = 0; j < in->n; j++) {
		const tel *x = &in->e[j];
		if (x->depth < 0 || x->tag == 0x00100010 ||
		    x->tag == 0x00100020)
			continue;
		const deid__rule *r = deid__rule_find(x->tag);
		if (!r)
			continue;
		for (size_t i = 0; i < out->n; i++) {
			const tel *o = &out->e[i];
			if (o->tag != x->tag || o->depth < 0)
				continue;
			switch (r->code[DEID_COL_BASIC]) {
			case DEID_X:
				fail_msg("%s: X attribute (%04x,%04x) present",
					 name, o->tag >> 16, o->tag & 0xffff);
				break;
			case DEID_Z:
				if (o->len && strcmp(o->vr, "SQ"))
					fail_msg("%s: Z attribute (%04x,%04x) "
						 "not empty",
						 name, o->tag >> 16,
						 o->tag & 0xffff);
				break;
			case DEID_D:
				if (x->len >= 2 && strcmp(o->vr, "SQ") &&
				    o->len == x->len &&
				    !memcmp(o->v, x->v, x->len))
					fail_msg("%s: D attribute (%04x,%04x) "
						 "unchanged",
						 name, o->tag >> 16,
						 o->tag & 0xffff);
				break;
			case DEID_U:
				if (!(opts & STRATA_DEID_RETAIN_UIDS) &&
				    o->len && strncmp(str(o), "2.25.", 5))
					fail_msg("%s: U attribute (%04x,%04x) "
						 "not remapped: %s",
						 name, o->tag >> 16,
						 o->tag & 0xffff, str(o));
				break;
			default:
				break;
			}
		}
	}
	/* every UID written is valid */
	for (size_t i = 0; i < out->n; i++)
		if (!strcmp(out->e[i].vr, "UI") && out->e[i].len) {
			char buf[1024];
			snprintf(buf, sizeof(buf), "%s", str(&out->e[i]));
			for (char *tok = buf, *next; tok; tok = next) {
				next = strchr(tok, '\\');
				if (next)
					*next++ = 0;
				if (*tok && !valid_uid(tok))
					fail_msg("%s: bad UID '%s' in "
						 "(%04x,%04x)",
						 name, tok, out->e[i].tag >> 16,
						 out->e[i].tag & 0xffff);
			}
		}
}

static void check_pixels(const char *name, const tds *in, const uint8_t *o,
			 size_t on, const strata_deid_report *rep)
{
	const tel *px = find(in, 0x7fe00010, 0);
	if (!px) {
		assert_int_equal(rep->pixel_offset, 0);
		return;
	}
	if (rep->pixel_length != px->len ||
	    rep->pixel_offset + rep->pixel_length > on)
		fail_msg("%s: pixel data %" PRIu64 "+%" PRIu64
			 " (input %zu bytes)",
			 name, rep->pixel_offset, rep->pixel_length, px->len);
	assert_memory_equal(o + rep->pixel_offset, px->v, px->len);
}

/* ---- tests ---- */

static void test_options(void **state)
{
	(void)state;
	unsigned f = 0;
	assert_int_equal(strata_deid_parse_options(
			     "retain-safe-private, clean-descriptors", &f),
			 0);
	assert_int_equal(f, STRATA_DEID_RETAIN_SAFE_PRIVATE |
				STRATA_DEID_CLEAN_DESCRIPTORS);
	assert_int_equal(strata_deid_parse_options("", &f), 0);
	assert_int_equal(f, 0);
	f = 7;
	assert_int_equal(strata_deid_parse_options("retain-uids,bogus", &f),
			 STRATA_EINVAL);
	assert_int_equal(f, 7);
	assert_non_null(strstr(strata_error_msg(), "bogus"));
	assert_int_equal(
	    strata_deid_parse_options(
		"retain-long-full-dates,retain-long-modified-dates", &f),
	    STRATA_EINVAL);
	assert_string_equal(strata_deid_revision(), "2024b");
	assert_string_equal(strata_deid_option_name(STRATA_DEID_RETAIN_UIDS),
			    "retain-uids");
	strata_buf out = STRATA_BUF_INIT;
	strata_deid_report rep;
	strata_deid_opts o = {.key = KEY, .keylen = 8};
	assert_int_equal(
	    strata_deid_dicom((const uint8_t *)"x", 1, &o, &out, &rep),
	    STRATA_EINVAL);
}

/* Files of the test set that are not DICOM: no_meta.dcm has a stray
 * byte before its first element (dcmdump and pydicom fail on it too;
 * golden_deid_dicom.sh checks that they do). */
static bool malformed(const char *name)
{
	return !strcmp(name, "no_meta.dcm");
}

/* Every real file: de-identified and checked, or held back. */
static void test_all_files(void **state)
{
	(void)state;
	size_t nf;
	char **files = list_files(&nf);
	assert_true(nf >= 20);
	unsigned done = 0, held = 0;
	for (size_t k = 0; k < nf; k++) {
		size_t n;
		uint8_t *in = load_name(files[k], &n);
		strata_buf out = STRATA_BUF_INIT, again = STRATA_BUF_INIT;
		strata_deid_report rep, rep2;
		int rc = deid(in, n, 0, "test", &out, &rep);
		if (rc && malformed(files[k])) {
			assert_int_equal(rc, STRATA_ECORRUPT);
			free(in);
			free(files[k]);
			continue;
		}
		if (rc)
			fail_msg("%s: %s", files[k], strata_error_msg());
		if (rep.held_back) {
			assert_true(rep.reason[0]);
			assert_int_equal(out.len, 0);
			held++;
		} else {
			tds din, dout;
			char ts_in[80], ts_out[80];
			assert_true(tparse_file(in, n, &din, ts_in));
			if (!tparse_file(out.ptr, out.len, &dout, ts_out))
				fail_msg("%s: output does not parse", files[k]);
			if (strcmp(ts_in, "1.2.840.10008.1.2.1.99"))
				assert_string_equal(ts_in, ts_out);
			check_output(files[k], &din, &dout, &rep, 0);
			if (strcmp(ts_in, "1.2.840.10008.1.2.1.99"))
				check_pixels(files[k], &din, out.ptr, out.len,
					     &rep);
			/* determinism */
			assert_int_equal(deid(in, n, 0, "test", &again, &rep2),
					 0);
			assert_int_equal(again.len, out.len);
			assert_memory_equal(again.ptr, out.ptr, out.len);
			free(din.e);
			free(dout.e);
			done++;
		}
		strata_buf_release(&out);
		strata_buf_release(&again);
		free(in);
		free(files[k]);
	}
	free(files);
	print_message("deid: %u de-identified, %u held back\n", done, held);
	assert_true(done >= 15);
	assert_true(held >= 3);
}

static void deid_file(const char *name, unsigned opts, const char *dom,
		      strata_buf *out, strata_deid_report *rep, tds *d)
{
	size_t n;
	uint8_t *in = load_name(name, &n);
	if (deid(in, n, opts, dom, out, rep))
		fail_msg("%s: %s", name, strata_error_msg());
	assert_false(rep->held_back);
	char ts[80];
	assert_true(tparse_file(out->ptr, out->len, d, ts));
	free(in);
}

static void expect_uid(const char *dom, const char *orig, const char *got)
{
	uint8_t h[32];
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(strata_buf_puts(&b, dom), 0);
	assert_int_equal(strata_buf_put_u8(&b, 0), 0);
	assert_int_equal(strata_buf_puts(&b, orig), 0);
	strata_hmac_once(h, KEY, sizeof(KEY), b.ptr, b.len);
	strata_buf_release(&b);
	unsigned __int128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | h[i];
	v &= ~((unsigned __int128)1 << 127);
	char d[48], want[64] = "2.25.";
	int k = 0;
	do
		d[k++] = (char)('0' + (int)(v % 10));
	while (v /= 10);
	for (int i = 0; i < k; i++)
		want[5 + i] = d[k - 1 - i];
	want[5 + k] = 0;
	assert_string_equal(got, want);
}

/* Same study in two files -> same new Study UID; other domain -> other. */
static void test_uids(void **state)
{
	(void)state;
	strata_buf a = STRATA_BUF_INIT, b = STRATA_BUF_INIT,
		   c = STRATA_BUF_INIT;
	strata_deid_report ra, rb, rc;
	tds da, db, dc, ia;
	deid_file("MR_small.dcm", 0, "d1", &a, &ra, &da);
	deid_file("MR_small_implicit.dcm", 0, "d1", &b, &rb, &db);
	deid_file("MR_small.dcm", 0, "d2", &c, &rc, &dc);
	size_t n;
	char ts[80];
	uint8_t *in = load_name("MR_small.dcm", &n);
	assert_true(tparse_file(in, n, &ia, ts));
	char orig[80], sa[80];
	snprintf(orig, sizeof(orig), "%s", str(find(&ia, 0x0020000d, 0)));
	snprintf(sa, sizeof(sa), "%s", str(find(&da, 0x0020000d, 0)));
	assert_string_equal(sa, str(find(&db, 0x0020000d, 0)));
	assert_string_not_equal(sa, str(find(&dc, 0x0020000d, 0)));
	assert_string_not_equal(sa, orig);
	expect_uid("d1", orig, sa);
	expect_uid("d1", str(find(&ia, 0x00080018, 0)),
		   str(find(&da, 0x00020003, -1)));
	assert_string_equal(ra.pseudonym, rb.pseudonym);
	assert_string_not_equal(ra.pseudonym, rc.pseudonym);
	assert_string_equal(ra.subject_id, str(find(&ia, 0x00100020, 0)));
	/* Retain UIDs keeps them */
	strata_buf r = STRATA_BUF_INIT;
	strata_deid_report rr;
	tds dr;
	deid_file("MR_small.dcm", STRATA_DEID_RETAIN_UIDS, "d1", &r, &rr, &dr);
	assert_string_equal(str(find(&dr, 0x0020000d, 0)), orig);
	assert_string_equal(str(find(&dr, 0x00020003, -1)),
			    str(find(&ia, 0x00080018, 0)));
	free(da.e), free(db.e), free(dc.e), free(ia.e), free(dr.e), free(in);
	strata_buf_release(&a), strata_buf_release(&b);
	strata_buf_release(&c), strata_buf_release(&r);
}

/* Every Referenced SOP Instance UID, at every depth, maps as the
 * instance it points at would: in order, by the keyed formula. */
static void nested_refs(const char *name, int min_depth)
{
	size_t n;
	char ts[80];
	tds in, out;
	uint8_t *raw = load_name(name, &n);
	assert_true(tparse_file(raw, n, &in, ts));
	strata_buf o = STRATA_BUF_INIT;
	strata_deid_report rep;
	deid_file(name, 0, "d1", &o, &rep, &out);
	size_t j = 0;
	unsigned refs = 0, deep = 0;
	for (size_t i = 0; i < in.n; i++) {
		if (in.e[i].tag != 0x00081155)
			continue;
		while (j < out.n && out.e[j].tag != 0x00081155)
			j++;
		assert_true(j < out.n);
		assert_int_equal(out.e[j].depth, in.e[i].depth);
		char orig[80];
		snprintf(orig, sizeof(orig), "%s", str(&in.e[i]));
		expect_uid("d1", orig, str(&out.e[j]));
		refs++;
		deep += in.e[i].depth >= min_depth;
		j++;
	}
	assert_true(refs > 0);
	assert_true(deep > 0);
	free(in.e), free(out.e), free(raw);
	strata_buf_release(&o);
}

static void test_nested(void **state)
{
	(void)state;
	strata_buf o = STRATA_BUF_INIT;
	strata_deid_report rep;
	tds out;
	nested_refs("rtstruct.dcm", 2);
	nested_refs("liver_1frame.dcm", 3);
	/* CT_small: Other Patient IDs Sequence (X) holds PatientIDs */
	deid_file("CT_small.dcm", 0, "d1", &o, &rep, &out);
	assert_null(find(&out, 0x00101002, -2));
	unsigned pids = 0;
	for (size_t i = 0; i < out.n; i++)
		pids += out.e[i].tag == 0x00100020;
	assert_int_equal(pids, 1);
	free(out.e);
	strata_buf_release(&o);
}

static void test_private(void **state)
{
	(void)state;
	strata_buf o = STRATA_BUF_INIT;
	strata_deid_report rep;
	tds out;
	const char *name = "nibabel_siemens_mosaic_0.dcm";
	deid_file(name, 0, "d1", &o, &rep, &out);
	assert_true(rep.private_removed > 10);
	for (size_t i = 0; i < out.n; i++)
		assert_false((out.e[i].tag >> 16) & 1);
	free(out.e);
	strata_buf_release(&o);
	deid_file(name, STRATA_DEID_RETAIN_SAFE_PRIVATE, "d1", &o, &rep, &out);
	unsigned kept = 0;
	for (size_t i = 0; i < out.n; i++) {
		uint32_t t = out.e[i].tag;
		if (!((t >> 16) & 1) || out.e[i].depth < 0)
			continue;
		uint16_t g = (uint16_t)(t >> 16), el = (uint16_t)t;
		if (el <= 0xff) {
			assert_true(deid__safe_creator(str(&out.e[i])));
			continue;
		}
		const tel *cr = NULL;
		for (size_t j = 0; j < out.n; j++)
			if (out.e[j].tag == ((uint32_t)g << 16 | el >> 8))
				cr = &out.e[j];
		assert_non_null(cr);
		assert_true(deid__safe_private(str(cr), g, (uint8_t)el));
		kept++;
	}
	assert_true(kept >= 3); /* mosaic count, b-value, ... */
	free(out.e);
	strata_buf_release(&o);
}

static void test_dates(void **state)
{
	(void)state;
	size_t n;
	char ts[80];
	tds in, out, out2;
	uint8_t *raw = load_name("CT_small.dcm", &n);
	assert_true(tparse_file(raw, n, &in, ts));
	strata_buf o = STRATA_BUF_INIT, o2 = STRATA_BUF_INIT;
	strata_deid_report rep, rep2;
	deid_file("CT_small.dcm", STRATA_DEID_RETAIN_LONG_MODIFIED_DATES, "d1",
		  &o, &rep, &out);
	assert_string_equal(str(find(&out, 0x00280303, 0)), "MODIFIED");
	assert_true(rep.date_shift_days <= -365 &&
		    rep.date_shift_days >= -3650);
	char d0[80], d1[80];
	snprintf(d0, sizeof(d0), "%s", str(find(&in, 0x00080020, 0)));
	snprintf(d1, sizeof(d1), "%s", str(find(&out, 0x00080020, 0)));
	assert_int_equal(strlen(d1), 8);
	struct tm a = {0}, b = {0};
	assert_non_null(strptime(d0, "%Y%m%d", &a));
	assert_non_null(strptime(d1, "%Y%m%d", &b));
	long days = (long)((timegm(&b) - timegm(&a)) / 86400);
	assert_int_equal(days, rep.date_shift_days);
	/* same subject, same shift; times kept */
	deid_file("CT_small.dcm", STRATA_DEID_RETAIN_LONG_MODIFIED_DATES, "d1",
		  &o2, &rep2, &out2);
	assert_int_equal(rep2.date_shift_days, rep.date_shift_days);
	free(out.e), free(out2.e);
	strata_buf_release(&o), strata_buf_release(&o2);
	deid_file("CT_small.dcm", STRATA_DEID_RETAIN_LONG_FULL_DATES, "d1", &o,
		  &rep, &out);
	assert_string_equal(str(find(&out, 0x00280303, 0)), "UNMODIFIED");
	assert_string_equal(str(find(&out, 0x00080020, 0)), d0);
	free(out.e), free(in.e), free(raw);
	strata_buf_release(&o);
}

static void test_held_back(void **state)
{
	(void)state;
	size_t n;
	uint8_t *in = load_name("US1_J2KR.dcm", &n);
	strata_buf o = STRATA_BUF_INIT;
	strata_deid_report rep;
	assert_int_equal(deid(in, n, 0, "d1", &o, &rep), 0);
	assert_true(rep.held_back);
	assert_non_null(strstr(rep.reason, "US"));
	assert_int_equal(o.len, 0);
	tds out;
	deid_file("US1_J2KR.dcm",
		  STRATA_DEID_CLEAN_PIXEL_DATA |
		      STRATA_DEID_CLEAN_VISUAL_FEATURES,
		  "d1", &o, &rep, &out);
	assert_string_equal(str(find(&out, 0x00280301, 0)), "NO");
	assert_string_equal(str(find(&out, 0x00280302, 0)), "NO");
	unsigned codes = 0;
	for (size_t i = 0; i < out.n; i++)
		codes += out.e[i].tag == 0x00080100 && out.e[i].depth == 1;
	assert_int_equal(codes, 3);
	free(out.e), free(in);
	strata_buf_release(&o);
	/* a given pseudonym */
	strata_deid_opts op = {
	    .key = KEY, .keylen = sizeof(KEY), .patient_pseudonym = "sub-0042"};
	in = load_name("MR_small.dcm", &n);
	assert_int_equal(strata_deid_dicom(in, n, &op, &o, &rep), 0);
	char ts[80];
	assert_true(tparse_file(o.ptr, o.len, &out, ts));
	assert_string_equal(str(find(&out, 0x00100010, 0)), "sub-0042");
	assert_string_equal(str(find(&out, 0x00100020, 0)), "sub-0042");
	free(out.e), free(in);
	strata_buf_release(&o);
}

/* Every truncation of a small file fails cleanly, or (cut exactly between
 * two top-level elements) yields a shorter valid file; cuts into the
 * Pixel Data value always fail. Flipped bytes never crash. */
static void test_hostile(void **state)
{
	(void)state;
	size_t n;
	uint8_t *in = load_name("MR_small.dcm", &n);
	tds d;
	char ts[80];
	assert_true(tparse_file(in, n, &d, ts));
	const tel *px = find(&d, 0x7fe00010, 0);
	assert_non_null(px);
	unsigned ok = 0;
	for (size_t cut = 0; cut < n; cut += cut < px->voff ? 1 : 61) {
		uint8_t *p = unit_dup(in, cut);
		strata_buf o = STRATA_BUF_INIT;
		strata_deid_report rep;
		int rc = deid(p, cut, 0, "d1", &o, &rep);
		if (rc == 0)
			ok++;
		else
			assert_int_equal(rc, STRATA_ECORRUPT);
		if (cut > px->voff - 12)
			assert_int_equal(rc, STRATA_ECORRUPT);
		strata_buf_release(&o);
		free(p);
	}
	assert_true(ok < 120); /* at most one per element boundary */
	uint64_t seed = 42;
	for (int k = 0; k < 400; k++) {
		uint8_t *p = unit_dup(in, px->voff);
		for (int f = 0; f < 4; f++)
			p[unit_rand(&seed) % px->voff] =
			    (uint8_t)unit_rand(&seed);
		strata_buf o = STRATA_BUF_INIT;
		strata_deid_report rep;
		(void)deid(p, px->voff, 0, "d1", &o, &rep);
		strata_buf_release(&o);
		free(p);
	}
	free(d.e), free(in);
	/* absurd nesting: 40 undefined-length sequences */
	strata_buf b = STRATA_BUF_INIT;
	static const uint8_t sop[] = {0x08, 0, 0x18, 0,	  'U', 'I',
				      4,    0, '1',  '.', '2', 0};
	assert_int_equal(strata_buf_put(&b, sop, sizeof(sop)), 0);
	for (int i = 0; i < 40; i++) {
		static const uint8_t sq[] = {
		    0x08, 0x00, 0x15, 0x11, 'S',  'Q',	0,    0,    0xff, 0xff,
		    0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff};
		assert_int_equal(strata_buf_put(&b, sq, sizeof(sq)), 0);
	}
	strata_buf o = STRATA_BUF_INIT;
	strata_deid_report rep;
	assert_int_equal(deid(b.ptr, b.len, 0, "d1", &o, &rep),
			 STRATA_ECORRUPT);
	assert_non_null(strstr(strata_error_msg(), "(0008,1115)"));
	strata_buf_release(&b);
}

static void put_el(strata_buf *b, uint32_t tag, const char *vr, const char *v,
		   size_t n)
{
	uint8_t h[12] = {(uint8_t)(tag >> 16), (uint8_t)(tag >> 24),
			 (uint8_t)tag,	       (uint8_t)(tag >> 8),
			 (uint8_t)vr[0],       (uint8_t)vr[1]};
	size_t hl = 8;
	if (longvr(vr)) {
		strata_le32(h + 8, (uint32_t)n);
		hl = 12;
	} else {
		h[6] = (uint8_t)n;
		h[7] = (uint8_t)(n >> 8);
	}
	assert_int_equal(strata_buf_put(b, h, hl), 0);
	assert_int_equal(strata_buf_put(b, v, n), 0);
}

/* The VR sweep on attributes outside Table E.1-1 (a bare explicit VR
 * dataset; (0040,FFxx) are not defined by the standard). */
static void test_sweep(void **state)
{
	(void)state;
	strata_buf b = STRATA_BUF_INIT, o = STRATA_BUF_INIT;
	put_el(&b, 0x00080018, "UI", "1.2.3.4\0", 8);
	put_el(&b, 0x00080070, "LO", "ACME", 4);
	put_el(&b, 0x00081090, "LO", "Model X ", 8);
	put_el(&b, 0x00180015, "CS", "HEAD", 4);
	put_el(&b, 0x0040fff0, "PN", "Doe^John", 8);
	put_el(&b, 0x0040fff2, "DA", "20200102", 8);
	put_el(&b, 0x0040fff4, "ST", "seen by Dr X", 12);
	put_el(&b, 0x0040fff6, "UI", "1.9.9.9\0", 8);
	put_el(&b, 0x0040fff8, "UN", "ab", 2);
	put_el(&b, 0x0040fffa, "US", "\x05\0", 2);
	strata_deid_report rep;
	assert_int_equal(deid(b.ptr, b.len, 0, "d1", &o, &rep), 0);
	tds d;
	char ts[80];
	assert_true(tparse_file(o.ptr, o.len, &d, ts));
	assert_string_equal(ts, "1.2.840.10008.1.2.1");
	assert_string_equal(str(find(&d, 0x00080070, 0)), "ACME");
	assert_int_equal(find(&d, 0x00081090, 0)->len, 0);
	assert_string_equal(str(find(&d, 0x00180015, 0)), "HEAD");
	assert_int_equal(find(&d, 0x0040fff0, 0)->len, 0);
	assert_int_equal(find(&d, 0x0040fff2, 0)->len, 0);
	assert_int_equal(find(&d, 0x0040fff4, 0)->len, 0);
	expect_uid("d1", "1.9.9.9", str(find(&d, 0x0040fff6, 0)));
	expect_uid("d1", "1.2.3.4", str(find(&d, 0x00020003, -1)));
	assert_null(find(&d, 0x0040fff8, 0));
	assert_int_equal(find(&d, 0x0040fffa, 0)->len, 2);
	assert_int_equal(rep.swept, 5);
	free(d.e);
	strata_buf_release(&o);
	/* full dates keep the date, modified dates shift it */
	assert_int_equal(deid(b.ptr, b.len, STRATA_DEID_RETAIN_LONG_FULL_DATES,
			      "d1", &o, &rep),
			 0);
	assert_true(tparse_file(o.ptr, o.len, &d, ts));
	assert_string_equal(str(find(&d, 0x0040fff2, 0)), "20200102");
	free(d.e);
	strata_buf_release(&o);
	assert_int_equal(deid(b.ptr, b.len,
			      STRATA_DEID_RETAIN_LONG_MODIFIED_DATES, "d1", &o,
			      &rep),
			 0);
	assert_true(tparse_file(o.ptr, o.len, &d, ts));
	assert_int_equal(strlen(str(find(&d, 0x0040fff2, 0))), 8);
	assert_string_not_equal(str(find(&d, 0x0040fff2, 0)), "20200102");
	free(d.e);
	strata_buf_release(&o);
	strata_buf_release(&b);
}

/* --write DIR: the outputs for golden_deid_dicom.sh, and a manifest of
 * name, input path, pixel offset and length (held-back files: reason). */
static int write_outputs(const char *dir)
{
	size_t nf;
	char **files = list_files(&nf);
	char path[4096];
	snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
	FILE *m = fopen(path, "w");
	if (!m)
		return 1;
	for (size_t k = 0; k < nf; k++) {
		size_t n;
		char *src = testdata(files[k]);
		uint8_t *in = load(src, &n);
		for (int pass = 0; pass < 2 && in; pass++) {
			unsigned opts =
			    pass ? STRATA_DEID_CLEAN_PIXEL_DATA |
				       STRATA_DEID_RETAIN_SAFE_PRIVATE |
				       STRATA_DEID_RETAIN_LONG_MODIFIED_DATES
				 : 0;
			strata_buf out = STRATA_BUF_INIT;
			strata_deid_report rep;
			if (deid(in, n, opts, "golden", &out, &rep)) {
				fprintf(m, "%s\t%s\terror\t%s\n", files[k], src,
					strata_error_msg());
				if (!malformed(files[k]))
					return 1;
				break;
			}
			if (rep.held_back) {
				fprintf(m, "%s\t%s\theld\t%s\n", files[k], src,
					rep.reason);
				continue;
			}
			snprintf(path, sizeof(path), "%s/%s.%d.dcm", dir,
				 files[k], pass);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(out.ptr, 1, out.len, f) != out.len ||
			    fclose(f))
				return 1;
			fprintf(m, "%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%u\n",
				files[k], src, path, rep.pixel_offset,
				rep.pixel_length, opts);
			strata_buf_release(&out);
		}
		free(in);
		free(src);
		free(files[k]);
	}
	free(files);
	return fclose(m) != 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write"))
		return write_outputs(argv[2]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_options),   cmocka_unit_test(test_all_files),
	    cmocka_unit_test(test_uids),      cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_private),   cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_held_back), cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
