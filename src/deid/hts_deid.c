/*
 * hts_deid.c - genomic header scrubber: SAM/BAM/CRAM and VCF/BCF headers
 * are rebuilt by rule (docs/deid-genomics.md) and records copied through
 * htslib; FASTQ goes to fastq_deid.c. Output goes to a temporary file that
 * is renamed at the end. CRAM references are only ever read locally.
 */
#include <htslib/cram.h>
#include <htslib/hfile.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/kstring.h>
#include <htslib/sam.h>
#include <htslib/vcf.h>

#include "common/common.h"
#include "deid/hts_deid.h"
#include "strata/formats.h"

#define IDENT_MIN 3    /* shorter identifiers are not searched for */
#define PSEUDO_MAX 256 /* bytes a pseudonym may take, NUL included */
#define LINE_SEP 2     /* kseq KS_SEP_LINE: "\n", dropping a "\r" */

/* The network guard is the format readers' (src/formats/hts.c): CRAM
 * references only from local paths, set once per process. */

/* ---- context: options, the identifiers seen, the read-group renames ---- */

typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

static int sl_add(strlist *l, const char *s, size_t n)
{
	char *d;
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0)
			return 0;
	if (strata_grow(&l->v, &l->cap, l->n, sizeof(*l->v)) ||
	    !(d = strata_strndup(s, n)))
		return STRATA_ENOMEM;
	l->v[l->n++] = d;
	return 0;
}

static void sl_free(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		strata_free(l->v[i]);
	strata_free(l->v);
	memset(l, 0, sizeof(*l));
}

typedef struct ctx {
	const strata_hts_deid_opts *o;
	strata_hts_deid_report rep;
	unsigned tags;
	const char *path;
	strlist samples; /* sample identifiers (SM, VCF columns) */
	strlist idents;	 /* samples plus other replaced @RG values */
	strlist rg_old, rg_new;
} ctx;

static void ctx_free(ctx *c)
{
	sl_free(&c->samples);
	sl_free(&c->idents);
	sl_free(&c->rg_old);
	sl_free(&c->rg_new);
}

/* Pseudonym of "[tag:]value" into out[PSEUDO_MAX], checked printable. */
static int pseudo(ctx *c, const char *tag, const char *v, size_t n, char *out)
{
	char *id = strata_malloc(n + 4);
	if (!id)
		return STRATA_ENOMEM;
	size_t k = tag ? (size_t)snprintf(id, 4, "%s:", tag) : 0;
	memcpy(id + k, v, n);
	id[k + n] = '\0';
	memset(out, 0, PSEUDO_MAX);
	c->o->pseudonym(id, out, PSEUDO_MAX, c->o->payload);
	strata_wipe(id, k + n);
	strata_free(id);
	size_t l = strnlen(out, PSEUDO_MAX);
	bool ok = l > 0 && l < PSEUDO_MAX;
	for (size_t i = 0; ok && i < l; i++)
		ok = out[i] > 0x20 && out[i] < 0x7f;
	/* never name the identifier in a message: it may be logged */
	return ok ? 0
		  : strata_error_set(STRATA_EINVAL,
				     "'%s': the pseudonym callback returned an "
				     "empty, overlong or non-printable value",
				     c->path);
}

static bool alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z');
}

/* Does `t` contain `id` as a whole token (case-insensitive, bounded by
 * non-alphanumerics)? "NA12878_S1.cram" mentions "NA12878"; "LN:123456"
 * does not mention "12345". */
static bool mentions(const char *t, size_t tn, const char *id)
{
	size_t n = strlen(id);
	if (n < IDENT_MIN || n > tn)
		return false;
	for (size_t i = 0; i + n <= tn; i++) {
		if (strncasecmp(t + i, id, n) != 0)
			continue;
		if ((i == 0 || !alnum(t[i - 1])) &&
		    (i + n == tn || !alnum(t[i + n])))
			return true;
	}
	return false;
}

static bool mentions_any(const strlist *l, const char *t, size_t tn)
{
	for (size_t i = 0; i < l->n; i++)
		if (mentions(t, tn, l->v[i]))
			return true;
	return false;
}

/* ---- SAM header text: lines and TAG:value fields ---- */

typedef struct line {
	const char *p;
	size_t n;
} line;

/* Next field of a header line after *pos (tab-separated). */
static bool next_field(line l, size_t *pos, line *f)
{
	if (*pos >= l.n)
		return false;
	size_t s = *pos;
	const char *t = memchr(l.p + s, '\t', l.n - s);
	size_t e = t ? (size_t)(t - l.p) : l.n;
	*f = (line){l.p + s, e - s};
	*pos = e + 1;
	return true;
}

static bool is_tag(line f, const char *tag)
{
	return f.n >= 3 && f.p[0] == tag[0] && f.p[1] == tag[1] &&
	       f.p[2] == ':';
}

static bool is_type(line l, const char *type)
{
	return l.n >= 3 && l.p[0] == '@' && l.p[1] == type[0] &&
	       l.p[2] == type[1] && (l.n == 3 || l.p[3] == '\t');
}

/* @RG tags with a configured action: replaced by a pseudonym or removed */
static const struct {
	const char tag[3];
	unsigned bit;
	bool remove;
} rg_rules[] = {
    {"DT", STRATA_RG_DT, true},	 {"PI", STRATA_RG_PI, true},
    {"CN", STRATA_RG_CN, false}, {"PU", STRATA_RG_PU, false},
    {"LB", STRATA_RG_LB, false}, {"DS", STRATA_RG_DS, false},
    {"PM", STRATA_RG_PM, false}, {"BC", STRATA_RG_BC, false},
};

static int rg_rule(ctx *c, line f)
{
	for (size_t i = 0; i < sizeof(rg_rules) / sizeof(rg_rules[0]); i++)
		if (is_tag(f, rg_rules[i].tag) && (c->tags & rg_rules[i].bit))
			return (int)i;
	return -1;
}

/* Pass 1: sample names and the values of configured @RG tags. */
static int collect_rg(ctx *c, line l)
{
	size_t pos = 4;
	line f = {NULL, 0};
	int rc = 0;
	while (!rc && next_field(l, &pos, &f)) {
		if (f.n <= 3)
			continue;
		if (is_tag(f, "SM")) {
			if (c->samples.n == 0)
				snprintf(c->rep.first_sample,
					 sizeof(c->rep.first_sample), "%.*s",
					 (int)(f.n - 3), f.p + 3);
			rc = sl_add(&c->samples, f.p + 3, f.n - 3);
		}
		if (!rc && (is_tag(f, "SM") || rg_rule(c, f) >= 0))
			rc = sl_add(&c->idents, f.p + 3, f.n - 3);
	}
	return rc;
}

/* Pass 1b: keep each ID unless asked to rename all, or it mentions an
 * identifier (level-1.bam: "ID:NA12878 SM:NA12878"). */
static int plan_rg_id(ctx *c, line l)
{
	size_t pos = 4;
	line f = {NULL, 0};
	char p[PSEUDO_MAX];
	while (next_field(l, &pos, &f) && !is_tag(f, "ID"))
		;
	if (!is_tag(f, "ID") || f.n <= 3)
		return 0;
	if (!(c->tags & STRATA_RG_ID) &&
	    !mentions_any(&c->idents, f.p + 3, f.n - 3))
		return 0;
	int rc = pseudo(c, "ID", f.p + 3, f.n - 3, p);
	size_t before = c->rg_new.n;
	if (!rc)
		rc = sl_add(&c->rg_new, p, strlen(p));
	if (!rc && c->rg_new.n == before)
		return strata_error_set(STRATA_EINVAL,
					"'%s': two @RG IDs got the same "
					"pseudonym; use a longer pseudonym",
					c->path);
	if (!rc)
		rc = sl_add(&c->rg_old, f.p + 3, f.n - 3);
	if (!rc && c->rg_old.n != c->rg_new.n)
		rc = strata_error_set(STRATA_ECORRUPT,
				      "'%s': duplicate @RG ID in the header",
				      c->path);
	c->rep.rg_ids_renamed += !rc;
	return rc;
}

static const char *rg_renamed(const ctx *c, const char *id)
{
	for (size_t i = 0; i < c->rg_old.n; i++)
		if (strcmp(c->rg_old.v[i], id) == 0)
			return c->rg_new.v[i];
	return NULL;
}

static int put_field(strata_buf *b, const char *tag, const char *v, size_t n)
{
	int rc = strata_buf_printf(b, "\t%s:", tag);
	return rc ? rc : strata_buf_put(b, v, n);
}

static int scrub_rg(ctx *c, line l, strata_buf *b)
{
	size_t pos = 4;
	line f = {NULL, 0};
	char p[PSEUDO_MAX];
	int rc = strata_buf_puts(b, "@RG");
	while (!rc && next_field(l, &pos, &f)) {
		char tag[3] = {f.p[0], f.n > 1 ? f.p[1] : '?', 0};
		int r = rg_rule(c, f);
		const char *v = f.p + 3, *nid;
		size_t vn = f.n > 3 ? f.n - 3 : 0;
		if (f.n < 3) { /* malformed: htslib rejects it later */
			rc = strata_buf_put_u8(b, '\t');
			if (!rc)
				rc = strata_buf_put(b, f.p, f.n);
		} else if (is_tag(f, "ID")) {
			char *id = strata_strndup(v, vn);
			if (!id)
				return STRATA_ENOMEM;
			nid = rg_renamed(c, id);
			strata_free(id);
			rc = nid ? put_field(b, "ID", nid, strlen(nid))
				 : put_field(b, "ID", v, vn);
		} else if (is_tag(f, "SM")) {
			if (!(rc = pseudo(c, NULL, v, vn, p)))
				rc = put_field(b, "SM", p, strlen(p));
			c->rep.samples_renamed++;
		} else if (r >= 0 && rg_rules[r].remove) {
			c->rep.rg_fields_replaced++;
		} else if (r >= 0 || mentions_any(&c->samples, v, vn)) {
			if (!(rc = pseudo(c, tag, v, vn, p)))
				rc = put_field(b, tag, p, strlen(p));
			c->rep.rg_fields_replaced++;
		} else {
			rc = put_field(b, tag, v, vn);
		}
	}
	return rc ? rc : strata_buf_put_u8(b, '\n');
}

/* ---- @PG CL: the program name and its options, no operands ---- */

static bool numeric(const char *t, size_t n)
{
	if (n == 0 || n > 8 || !(t[0] >= '0' && t[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789.eE+-", t[i]))
			return false;
	return true;
}

/* Length of the option name at t ("-N", "--min-MQ", "-Xmx4g"): "-" or
 * "--", a letter, then letters, digits, '_' and '-'; 0 if not one. */
static size_t opt_len(const char *t, size_t n)
{
	size_t i = n > 1 && t[1] == '-' ? 2 : 1;
	if (n <= i || t[0] != '-' ||
	    !((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')))
		return 0;
	while (i < n && (alnum(t[i]) || t[i] == '_' || t[i] == '-'))
		i++;
	return i;
}

static int scrub_cl(ctx *c, const char *v, size_t n, strata_buf *b)
{
	size_t i = 0, start = b->len;
	bool first = true, after_opt = false;
	int rc = 0;
	while (!rc && i < n) {
		while (i < n && v[i] == ' ')
			i++;
		size_t s = i;
		while (i < n && v[i] != ' ')
			i++;
		const char *t = v + s;
		size_t tn = i - s, keep = 0;
		if (tn == 0)
			break;
		if (first) { /* the program's basename */
			const char *slash = memrchr(t, '/', tn);
			if (slash) {
				tn -= (size_t)(slash + 1 - t);
				t = slash + 1;
			}
			keep = tn;
		} else if ((keep = opt_len(t, tn)) > 0) {
			if (keep < tn && t[keep] == '=' &&
			    numeric(t + keep + 1, tn - keep - 1))
				keep = tn; /* "--min=30" */
		} else if (after_opt && numeric(t, tn)) {
			keep = tn; /* "-N 20000" */
		}
		if (keep && mentions_any(&c->idents, t, keep))
			keep = 0;
		after_opt = !first && keep && t[0] == '-';
		first = false;
		if (keep && b->len > start)
			rc = strata_buf_put_u8(b, ' ');
		if (keep && !rc)
			rc = strata_buf_put(b, t, keep);
	}
	return rc;
}

static int scrub_pg(ctx *c, line l, strata_buf *b)
{
	size_t pos = 4;
	line f = {NULL, 0};
	int rc = strata_buf_puts(b, "@PG");
	while (!rc && next_field(l, &pos, &f)) {
		if (is_tag(f, "CL")) {
			size_t at = b->len;
			rc = strata_buf_puts(b, "\tCL:");
			if (!rc)
				rc = scrub_cl(c, f.p + 3, f.n - 3, b);
			if (b->len == at + 4)
				b->len = at; /* nothing left: no CL */
			if (b->len - at != f.n + 1 ||
			    memcmp(b->ptr + at + 1, f.p, f.n) != 0)
				c->rep.pg_cl_scrubbed++;
		} else if (is_tag(f, "ID") || is_tag(f, "PN") ||
			   is_tag(f, "PP") || is_tag(f, "VN")) {
			rc = strata_buf_put_u8(b, '\t');
			if (!rc)
				rc = strata_buf_put(b, f.p, f.n);
		} else {
			c->rep.pg_cl_scrubbed++; /* DS and unknown tags */
		}
	}
	return rc ? rc : strata_buf_put_u8(b, '\n');
}

/* @SQ UR survives only as a public URL: http(s)/ftp without user info. */
static bool public_url(const char *v, size_t n)
{
	static const char *const schemes[] = {"http://", "https://", "ftp://"};
	for (size_t i = 0; i < 3; i++) {
		size_t k = strlen(schemes[i]);
		if (n > k && strncasecmp(v, schemes[i], k) == 0) {
			const char *end = memchr(v + k, '/', n - k);
			size_t host = end ? (size_t)(end - v) : n;
			return !memchr(v + k, '@', host - k);
		}
	}
	return false;
}

static int scrub_sq(ctx *c, line l, strata_buf *b)
{
	size_t pos = 4;
	line f = {NULL, 0};
	int rc = strata_buf_puts(b, "@SQ");
	while (!rc && next_field(l, &pos, &f)) {
		if (is_tag(f, "UR") && !public_url(f.p + 3, f.n - 3)) {
			c->rep.sq_ur_removed++;
			continue;
		}
		rc = strata_buf_put_u8(b, '\t');
		if (!rc)
			rc = strata_buf_put(b, f.p, f.n);
	}
	return rc ? rc : strata_buf_put_u8(b, '\n');
}

static int scrub_line(ctx *c, line l, strata_buf *b)
{
	if (l.n == 0)
		return 0;
	if (is_type(l, "RG"))
		return scrub_rg(c, l, b);
	if (is_type(l, "PG"))
		return scrub_pg(c, l, b);
	if (is_type(l, "SQ"))
		return scrub_sq(c, l, b);
	if (is_type(l, "HD") || (is_type(l, "CO") && c->o->keep_comments)) {
		int rc = strata_buf_put(b, l.p, l.n);
		return rc ? rc : strata_buf_put_u8(b, '\n');
	}
	if (is_type(l, "CO"))
		c->rep.comments_dropped++;
	else
		c->rep.meta_lines_removed++;
	return 0;
}

typedef int (*line_fn)(ctx *c, line l, strata_buf *b);

static int each_line(ctx *c, const char *t, size_t n, const char *type,
		     line_fn fn, strata_buf *b)
{
	int rc = 0;
	for (size_t s = 0; s < n && !rc;) {
		const char *nl = memchr(t + s, '\n', n - s);
		size_t e = nl ? (size_t)(nl - t) : n;
		line l = {t + s, e - s};
		if (!type || is_type(l, type))
			rc = fn(c, l, b);
		s = e + 1;
	}
	return rc;
}

static int collect_fn(ctx *c, line l, strata_buf *b)
{
	(void)b;
	return collect_rg(c, l);
}

static int plan_fn(ctx *c, line l, strata_buf *b)
{
	(void)b;
	return plan_rg_id(c, l);
}

/* The rules must leave no identifier behind: refuse rather than leak. */
static int final_scan(ctx *c, const char *t, size_t n)
{
	for (size_t s = 0; s < n;) {
		const char *nl = memchr(t + s, '\n', n - s);
		size_t e = nl ? (size_t)(nl - t) : n;
		if (mentions_any(&c->idents, t + s, e - s))
			return strata_error_set(
			    STRATA_EINVAL,
			    "'%s': a header line of type '%.3s' still names a "
			    "sample or read-group identifier after scrubbing; "
			    "rename it before de-identification",
			    c->path, t + s);
		s = e + 1;
	}
	return 0;
}

/* The scrubbed header must describe the same references, in order. */
static int same_refs(ctx *c, sam_hdr_t *a, sam_hdr_t *b)
{
	int n = sam_hdr_nref(a);
	bool ok = n == sam_hdr_nref(b);
	for (int i = 0; ok && i < n; i++)
		ok = strcmp(sam_hdr_tid2name(a, i), sam_hdr_tid2name(b, i)) ==
			 0 &&
		     sam_hdr_tid2len(a, i) == sam_hdr_tid2len(b, i);
	return ok ? 0
		  : strata_error_set(STRATA_ECORRUPT,
				     "'%s': the header's @SQ lines disagree "
				     "with its reference list",
				     c->path);
}

static int sam_header(ctx *c, sam_hdr_t *h, sam_hdr_t **out)
{
	const char *t = sam_hdr_str(h);
	size_t n = sam_hdr_length(h);
	strata_buf b = STRATA_BUF_INIT;
	sam_hdr_t *nh = NULL;
	int rc;
	if (!t)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': unreadable header", c->path);
	rc = each_line(c, t, n, "RG", collect_fn, NULL);
	if (!rc)
		rc = each_line(c, t, n, "RG", plan_fn, NULL);
	if (!rc)
		rc = each_line(c, t, n, NULL, scrub_line, &b);
	if (!rc && !(nh = sam_hdr_parse(b.len, b.len ? (char *)b.ptr : "")))
		rc = strata_error_set(STRATA_ECORRUPT,
				      "'%s': the scrubbed header does not "
				      "parse (malformed input header)",
				      c->path);
	if (!rc)
		rc = same_refs(c, h, nh);
	if (!rc && sam_hdr_add_pg(nh, "strata-deid", "PN", "strata", "VN",
				  STRATA_VERSION, NULL) < 0)
		rc = STRATA_ENOMEM;
	if (!rc)
		rc = final_scan(c, sam_hdr_str(nh), sam_hdr_length(nh));
	strata_buf_release(&b);
	if (rc) {
		sam_hdr_destroy(nh);
		return rc;
	}
	*out = nh;
	return 0;
}

/* ---- CRAM: the reference must be local ---- */

/* REF_PATH/REF_CACHE pattern: "%s" is the rest of the MD5, "%Ns" the next
 * N characters; what the pattern leaves over is appended as "/rest"
 * (htslib's expand_cache_path). */
static bool m5_in(const char *pat, size_t pn, const char *m5)
{
	strata_buf b = STRATA_BUF_INIT;
	const char *f = m5;
	size_t fl = strlen(m5);
	int rc = 0;
	for (size_t i = 0; i < pn && !rc; i++) {
		size_t k = 0;
		if (pat[i] != '%' || i + 1 >= pn) {
			rc = strata_buf_put_u8(&b, (uint8_t)pat[i]);
			continue;
		}
		while (i + 1 + k < pn && pat[i + 1 + k] >= '0' &&
		       pat[i + 1 + k] <= '9' && k < 3)
			k++;
		if (pat[i + 1 + k] != 's') {
			rc = strata_buf_put_u8(&b, '%');
			continue;
		}
		size_t take = fl;
		if (k) {
			uint64_t v = 0;
			char num[4] = {0};
			memcpy(num, pat + i + 1, k);
			strata_parse_u64(num, &v);
			take = v < fl ? (size_t)v : fl;
		}
		rc = strata_buf_put(&b, f, take);
		f += take;
		fl -= take;
		i += 1 + k;
	}
	if (!rc && fl)
		rc = strata_buf_printf(&b, "/%s", f);
	if (!rc)
		rc = strata_buf_cstr(&b);
	struct stat st;
	bool ok = !rc && stat((char *)b.ptr, &st) == 0 && S_ISREG(st.st_mode);
	strata_buf_release(&b);
	return ok;
}

static bool m5_local(const char *m5)
{
	const char *rp = getenv("REF_PATH"), *rc = getenv("REF_CACHE");
	if (strlen(m5) != 32)
		return false;
	for (const char *s = rp; s && *s;) {
		const char *e = strchr(s, ':');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n && !strata_ref_is_remote(s) && m5_in(s, n, m5))
			return true;
		s = e ? e + 1 : NULL;
	}
	return rc && *rc && !strata_ref_is_remote(rc) &&
	       m5_in(rc, strlen(rc), m5);
}

static bool local_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, R_OK) == 0;
}

/* Per @SQ: M5 under a local REF_PATH/REF_CACHE, else a local UR file
 * (one for all). *fasta: the explicit or UR file to hand to htslib. */
static int cram_ref(ctx *c, sam_hdr_t *h, char **fasta)
{
	kstring_t ks = KS_INITIALIZE;
	int n = sam_hdr_nref(h), rc = 0;
	if (c->o->reference) {
		if (!local_file(c->o->reference))
			return strata_error_set(STRATA_EINVAL,
						"reference '%s': not a "
						"readable local file",
						c->o->reference);
		return (*fasta = strata_strdup(c->o->reference))
			   ? 0
			   : STRATA_ENOMEM;
	}
	for (int i = 0; i < n && !rc; i++) {
		const char *sn = sam_hdr_tid2name(h, i);
		if (sam_hdr_find_tag_id(h, "SQ", "SN", sn, "M5", &ks) == 0 &&
		    m5_local(ks.s))
			continue;
		if (sam_hdr_find_tag_id(h, "SQ", "SN", sn, "UR", &ks) == 0) {
			const char *p = ks.s;
			if (strncmp(p, "file://", 7) == 0)
				p += 7;
			if (!strata_ref_is_remote(p) && local_file(p) &&
			    (!*fasta || strcmp(*fasta, p) == 0)) {
				if (!*fasta && !(*fasta = strata_strdup(p)))
					rc = STRATA_ENOMEM;
				continue;
			}
		}
		rc = strata_error_set(
		    STRATA_EINVAL,
		    "'%s': CRAM needs its reference to be re-encoded, and "
		    "the one for @SQ '%s' is not available locally (its M5 "
		    "is not under REF_PATH/REF_CACHE and its UR names no "
		    "local file); pass a local FASTA as the reference "
		    "(references are never fetched over the network)",
		    c->path, sn);
	}
	free(ks.s);
	if (rc) {
		strata_free(*fasta);
		*fasta = NULL;
	}
	return rc;
}

/* ---- SAM/BAM/CRAM records ---- */

static int rename_rg(ctx *c, bam1_t *b)
{
	uint8_t *a = c->rg_old.n ? bam_aux_get(b, "RG") : NULL;
	const char *v, *nid;
	if (!a || *a != 'Z' || !(v = bam_aux2Z(a)) || !(nid = rg_renamed(c, v)))
		return 0;
	if (bam_aux_update_str(b, "RG", (int)strlen(nid) + 1, nid) < 0)
		return STRATA_ENOMEM;
	return 0;
}

static int read_error(ctx *c, int r, uint64_t n)
{
	return strata_error_set(STRATA_ECORRUPT,
				"'%s': record %" PRIu64
				" is damaged or truncated (htslib %d)",
				c->path, n + 1, r);
}

static int eof_check(ctx *c, htsFile *fp)
{
	return hts_check_EOF(fp) == 0
		   ? strata_error_set(STRATA_ECORRUPT,
				      "'%s': truncated (end-of-file marker "
				      "missing)",
				      c->path)
		   : 0;
}

static int sam_records(ctx *c, htsFile *in, sam_hdr_t *h, htsFile *out,
		       sam_hdr_t *nh)
{
	bam1_t *b = bam_init1();
	int rc = 0, r;
	if (!b)
		return STRATA_ENOMEM;
	while (!rc && (r = sam_read1(in, h, b)) >= 0) {
		rc = rename_rg(c, b);
		if (!rc && sam_write1(out, nh, b) < 0)
			rc = strata_error_set(
			    STRATA_EIO, "'%s': cannot write record %" PRIu64,
			    c->path, c->rep.records + 1);
		c->rep.records += !rc;
	}
	if (!rc && r < -1)
		rc = read_error(c, r, c->rep.records);
	if (!rc)
		rc = eof_check(c, in);
	bam_destroy1(b);
	return rc;
}

static const char *sam_mode(const htsFormat *f)
{
	if (f->format == cram)
		return "wc";
	if (f->format == bam)
		return f->compression == no_compression ? "wbu" : "wb";
	return f->compression == no_compression ? "w" : "wz";
}

static int set_cram_opts(ctx *c, htsFile *in, htsFile *out, const htsFormat *f,
			 const char *fasta)
{
	char v[16];
	snprintf(v, sizeof(v), "%d.%d", f->version.major, f->version.minor);
	/* The output shares the input's loaded reference: a CRAM writer
	 * given a FASTA by name writes its path into every @SQ as UR. */
	if (fasta &&
	    (hts_set_fai_filename(in, fasta) ||
	     hts_set_opt(out, CRAM_OPT_SHARED_REF, cram_get_refs(in)) != 0))
		return strata_error_set(STRATA_EINVAL,
					"'%s': cannot use reference '%s'",
					c->path, fasta);
	if (hts_set_opt(out, CRAM_OPT_VERSION, v) != 0)
		return strata_error_set(
		    STRATA_EINVAL, "'%s': cannot write CRAM %s", c->path, v);
	return 0;
}

static int sam_deid(ctx *c, htsFile *in, const htsFormat *f, hFILE *ohf,
		    htsFile **outp)
{
	sam_hdr_t *h = sam_hdr_read(in), *nh = NULL;
	char *fasta = NULL;
	int rc = 0;
	if (!h)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': unreadable SAM/BAM/CRAM header",
					c->path);
	rc = sam_header(c, h, &nh);
	if (!rc && f->format == cram)
		rc = cram_ref(c, h, &fasta);
	if (!rc && !(*outp = hts_hopen(ohf, c->path, sam_mode(f))))
		rc = strata_error_set(STRATA_EIO, "'%s': cannot open output",
				      c->path);
	if (!rc && f->format == cram)
		rc = set_cram_opts(c, in, *outp, f, fasta);
	if (!rc && sam_hdr_write(*outp, nh) < 0)
		rc = strata_error_set(STRATA_EIO, "'%s': cannot write header",
				      c->path);
	if (!rc)
		rc = sam_records(c, in, h, *outp, nh);
	strata_free(fasta);
	sam_hdr_destroy(nh);
	sam_hdr_destroy(h);
	return rc;
}

/* ---- VCF/BCF ---- */

static bool key_is(line l, const char *key)
{
	size_t k = strlen(key);
	return l.n > k + 3 && memcmp(l.p + 2, key, k) == 0 && l.p[2 + k] == '=';
}

/* Meta keys kept: the dictionary and how to read it, and the reference
 * by name. Everything else (##SAMPLE, ##PEDIGREE, ##GATKCommandLine,
 * ##bcftools_*Command, ##fileDate, ...) is dropped. */
static const char *const vcf_keep[] = {"fileformat", "FILTER", "INFO",
				       "FORMAT",     "ALT",    "contig",
				       "META",	     "phasing"};
static const char *const vcf_trim[] = {"reference", "assembly", "source"};

static int vcf_meta(ctx *c, line l, strata_buf *b)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(vcf_keep) / sizeof(vcf_keep[0]); i++)
		if (key_is(l, vcf_keep[i])) {
			if (i == 0 || i == 7) /* free-text values */
				if (mentions_any(&c->samples, l.p, l.n))
					goto drop;
			rc = strata_buf_put(b, l.p, l.n);
			return rc ? rc : strata_buf_put_u8(b, '\n');
		}
	for (size_t i = 0; i < sizeof(vcf_trim) / sizeof(vcf_trim[0]); i++) {
		if (!key_is(l, vcf_trim[i]))
			continue;
		size_t k = 3 + strlen(vcf_trim[i]);
		const char *v = l.p + k, *slash = memrchr(v, '/', l.n - k);
		size_t vn = l.n - k;
		if (slash) { /* a path or URL: its file name only */
			vn -= (size_t)(slash + 1 - v);
			v = slash + 1;
			c->rep.meta_lines_trimmed++;
		}
		if (vn == 0 || mentions_any(&c->samples, v, vn))
			goto drop;
		rc = strata_buf_printf(b, "##%s=", vcf_trim[i]);
		if (!rc)
			rc = strata_buf_put(b, v, vn);
		return rc ? rc : strata_buf_put_u8(b, '\n');
	}
drop:
	c->rep.meta_lines_removed++;
	return 0;
}

static int vcf_line(ctx *c, line l, strata_buf *b)
{
	if (l.n >= 2 && l.p[0] == '#' && l.p[1] == '#')
		return vcf_meta(c, l, b);
	return 0; /* #CHROM: rebuilt from the sample list */
}

static int vcf_chrom(ctx *c, bcf_hdr_t *h, strata_buf *b)
{
	char p[PSEUDO_MAX];
	int n = bcf_hdr_nsamples(h);
	int rc = strata_buf_puts(b, "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER"
				    "\tINFO");
	if (!rc && n > 0)
		rc = strata_buf_puts(b, "\tFORMAT");
	for (int i = 0; i < n && !rc; i++) {
		const char *s = h->samples[i];
		if (i == 0)
			snprintf(c->rep.first_sample,
				 sizeof(c->rep.first_sample), "%s", s);
		rc = sl_add(&c->samples, s, strlen(s));
		if (!rc)
			rc = pseudo(c, NULL, s, strlen(s), p);
		if (!rc)
			rc = strata_buf_printf(b, "\t%s", p);
		c->rep.samples_renamed += !rc;
	}
	return rc ? rc : strata_buf_puts(b, "\n");
}

/* Records are bound to the header's dictionaries by index: the rebuilt
 * header must have the same IDs, contigs and sample count. */
static bool same_dict(const bcf_hdr_t *a, const bcf_hdr_t *b)
{
	static const int dt[] = {BCF_DT_ID, BCF_DT_CTG};
	for (int d = 0; d < 2; d++) {
		int t = dt[d];
		if (a->n[t] != b->n[t])
			return false;
		for (int i = 0; i < a->n[t]; i++) {
			const bcf_idpair_t *x = &a->id[t][i], *y = &b->id[t][i];
			if (!x->key != !y->key ||
			    (x->key && strcmp(x->key, y->key)))
				return false;
			if (x->val && y->val &&
			    memcmp(x->val->info, y->val->info,
				   sizeof(x->val->info)) != 0)
				return false;
		}
	}
	return bcf_hdr_nsamples(a) == bcf_hdr_nsamples(b);
}

static int vcf_header(ctx *c, bcf_hdr_t *h, bcf_hdr_t **out)
{
	kstring_t ks = KS_INITIALIZE;
	strata_buf b = STRATA_BUF_INIT, chrom = STRATA_BUF_INIT;
	bcf_hdr_t *nh = NULL;
	int rc = 0;
	if (bcf_hdr_format(h, 1, &ks) < 0)
		return STRATA_ENOMEM;
	rc = vcf_chrom(c, h, &chrom); /* first: the meta rules need samples */
	if (!rc)
		rc = each_line(c, ks.s, ks.l, NULL, vcf_line, &b);
	if (!rc)
		rc = strata_buf_put(&b, chrom.ptr, chrom.len);
	if (!rc)
		rc = strata_buf_cstr(&b);
	free(ks.s);
	strata_buf_release(&chrom);
	if (!rc && (!(nh = bcf_hdr_init("r")) ||
		    bcf_hdr_parse(nh, (char *)b.ptr) < 0 || !same_dict(h, nh)))
		rc = strata_error_set(STRATA_EINVAL,
				      "'%s': the scrubbed header does not "
				      "match the records (two samples with "
				      "the same pseudonym?)",
				      c->path);
	strata_buf_release(&b);
	if (rc) {
		if (nh)
			bcf_hdr_destroy(nh);
		return rc;
	}
	*out = nh;
	return 0;
}

/* VCF text: each line is checked by htslib's parser and copied as it is. */
static int vcf_text_records(ctx *c, htsFile *in, bcf_hdr_t *h, htsFile *out)
{
	kstring_t l = KS_INITIALIZE, tmp = KS_INITIALIZE;
	bcf1_t *v = bcf_init();
	int rc = 0, r;
	if (!v)
		return STRATA_ENOMEM;
	while (!rc && (r = hts_getline(in, LINE_SEP, &l)) >= 0) {
		tmp.l = 0;
		if (kputsn(l.s, l.l, &tmp) < 0) {
			rc = STRATA_ENOMEM;
			break;
		}
		if (vcf_parse(&tmp, h, v) < 0)
			rc = read_error(c, -2, c->rep.records);
		else if (vcf_write_line(out, &l) < 0)
			rc = strata_error_set(
			    STRATA_EIO, "'%s': cannot write record %" PRIu64,
			    c->path, c->rep.records + 1);
		c->rep.records += !rc;
	}
	if (!rc && r < -1)
		rc = read_error(c, r, c->rep.records);
	bcf_destroy(v);
	free(l.s);
	free(tmp.s);
	return rc;
}

static int bcf_records(ctx *c, htsFile *in, bcf_hdr_t *h, htsFile *out,
		       bcf_hdr_t *nh)
{
	bcf1_t *v = bcf_init();
	int rc = 0, r;
	if (!v)
		return STRATA_ENOMEM;
	while (!rc && (r = bcf_read(in, h, v)) >= 0) {
		if (bcf_write(out, nh, v) < 0)
			rc = strata_error_set(
			    STRATA_EIO, "'%s': cannot write record %" PRIu64,
			    c->path, c->rep.records + 1);
		c->rep.records += !rc;
	}
	if (!rc && r < -1)
		rc = read_error(c, r, c->rep.records);
	bcf_destroy(v);
	return rc;
}

static int vcf_deid(ctx *c, htsFile *in, const htsFormat *f, hFILE *ohf,
		    htsFile **outp)
{
	bcf_hdr_t *h = bcf_hdr_read(in), *nh = NULL;
	const char *mode =
	    f->format == bcf ? (f->compression == no_compression ? "wbu" : "wb")
			     : (f->compression == no_compression ? "w" : "wz");
	int rc;
	if (!h)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': unreadable VCF/BCF header",
					c->path);
	rc = vcf_header(c, h, &nh);
	if (!rc && !(*outp = hts_hopen(ohf, c->path, mode)))
		rc = strata_error_set(STRATA_EIO, "'%s': cannot open output",
				      c->path);
	if (!rc && bcf_hdr_write(*outp, nh) < 0)
		rc = strata_error_set(STRATA_EIO, "'%s': cannot write header",
				      c->path);
	if (!rc)
		rc = f->format == bcf ? bcf_records(c, in, h, *outp, nh)
				      : vcf_text_records(c, in, h, *outp);
	if (!rc && f->compression == bgzf)
		rc = eof_check(c, in);
	if (nh)
		bcf_hdr_destroy(nh);
	bcf_hdr_destroy(h);
	return rc;
}

/* ---- entry ---- */

static int open_in(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strata_error_set(strata_errno_code(errno), "'%s': %s",
					path, strerror(errno));
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return strata_error_set(STRATA_EINVAL,
					"'%s': not a regular file", path);
	}
	return fd;
}

static int detect(const char *path, int fd, htsFormat *f)
{
	int d = dup(fd);
	hFILE *hf = d >= 0 ? hdopen(d, "r") : NULL;
	int rc = 0;
	if (!hf) {
		if (d >= 0)
			close(d);
		return strata_error_set(STRATA_EIO, "'%s': cannot read", path);
	}
	if (hts_detect_format2(hf, NULL, f) < 0)
		rc = strata_error_set(STRATA_EIO, "'%s': cannot read", path);
	hclose_abruptly(hf);
	if (!rc && lseek(fd, 0, SEEK_SET) != 0)
		rc = strata_error_set(STRATA_EIO, "'%s': %s", path,
				      strerror(errno));
	return rc;
}

/* Run the format's scrubber from in_fd into out_fd (both borrowed). */
static int run(ctx *c, int in_fd, int out_fd, const htsFormat *f)
{
	hFILE *ihf = NULL, *ohf = NULL;
	htsFile *in = NULL, *out = NULL;
	int d1 = -1, d2 = -1, rc = 0;
	if (f->format == fastq_format)
		return strata_deid__fastq(in_fd, out_fd,
					  f->compression != no_compression,
					  c->path, c->o, &c->rep);
	if (f->format != sam && f->format != bam && f->format != cram &&
	    f->format != vcf && f->format != bcf)
		return strata_error_set(
		    STRATA_EINVAL,
		    "'%s': not a SAM/BAM/CRAM/VCF/BCF/FASTQ "
		    "file",
		    c->path);
	if ((d1 = dup(in_fd)) < 0 || !(ihf = hdopen(d1, "r")) ||
	    (d2 = dup(out_fd)) < 0 || !(ohf = hdopen(d2, "w"))) {
		rc = strata_error_set(STRATA_EIO, "'%s': %s", c->path,
				      strerror(errno));
		goto out;
	}
	d1 = d2 = -1;
	if (!(in = hts_hopen(ihf, c->path, "r"))) {
		rc = strata_error_set(STRATA_ECORRUPT,
				      "'%s': htslib cannot open it", c->path);
		goto out;
	}
	ihf = NULL;
	if (f->category == sequence_data)
		rc = sam_deid(c, in, f, ohf, &out);
	else
		rc = vcf_deid(c, in, f, ohf, &out);
	if (out)
		ohf = NULL; /* owned by out */
out:
	if (out && hts_close(out) != 0 && !rc)
		rc = strata_error_set(STRATA_EIO, "'%s': cannot finish output",
				      c->path);
	if (in)
		hts_close(in);
	if (ihf)
		hclose_abruptly(ihf);
	if (ohf)
		hclose_abruptly(ohf);
	if (d1 >= 0)
		close(d1);
	if (d2 >= 0)
		close(d2);
	return rc;
}

static int finish(int fd, const char *tmp, const char *out_path)
{
	if (fsync(fd) != 0 || rename(tmp, out_path) != 0)
		return strata_error_set(strata_errno_code(errno), "'%s': %s",
					out_path, strerror(errno));
	return 0;
}

int strata_hts_deid(const char *in_path, const char *out_path,
		    const strata_hts_deid_opts *o, strata_hts_deid_report *rep)
{
	ctx c = {.o = o, .path = in_path};
	struct stat ist, ost;
	htsFormat f;
	char *tmp = NULL;
	int in = -1, out = -1, rc;
	if (!in_path || !out_path || !o || !o->pseudonym)
		return strata_error_set(STRATA_EINVAL,
					"hts deid: input, output and a "
					"pseudonym callback are required");
	strata_formats_init();
	c.tags = (o->rg_tags ? o->rg_tags : STRATA_RG_DEFAULT) | STRATA_RG_SM;
	if ((in = open_in(in_path, &ist)) < 0)
		return in;
	if (stat(out_path, &ost) == 0 && ost.st_dev == ist.st_dev &&
	    ost.st_ino == ist.st_ino) {
		rc = strata_error_set(
		    STRATA_EINVAL, "'%s': output is the input file", out_path);
		goto out;
	}
	if ((rc = detect(in_path, in, &f)))
		goto out;
	size_t tl = strlen(out_path) + 16;
	if (!(tmp = strata_malloc(tl))) {
		rc = STRATA_ENOMEM;
		goto out;
	}
	snprintf(tmp, tl, "%s.deid-XXXXXX", out_path);
	if ((out = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = strata_error_set(strata_errno_code(errno), "'%s': %s",
				      out_path, strerror(errno));
		goto out;
	}
	rc = run(&c, in, out, &f);
	if (!rc)
		rc = finish(out, tmp, out_path);
	if (rc)
		unlink(tmp);
	if (!rc && rep)
		*rep = c.rep;
out:
	if (out >= 0)
		close(out);
	close(in);
	strata_wipe(c.rep.first_sample, sizeof(c.rep.first_sample));
	ctx_free(&c);
	strata_free(tmp);
	return rc;
}
