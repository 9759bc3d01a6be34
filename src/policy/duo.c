/*
 * duo.c - GA4GH DUO consent codes and purposes of use: the code tables, the
 * consent and purpose parsers, and the deny-by-default matcher (DUOS rules,
 * DOMAIN_STANDARDS 3.4). Every code is one table row; the matcher
 * dispatches on a few rule kinds and a permission x purpose matrix, never
 * on individual codes.
 */
#include <ctype.h>

#include "common/common.h"
#include "policy/duo.h"

#define TOKEN_MAX 512 /* longest single code or purpose token */
#define CODE_MAX 16   /* longest abbreviation of an unknown code */
#define TS_MONTHS_MAX 1200
#define DISEASE_DEPTH 1000 /* stops a cyclic disease_parent */

/* ---- tables ---- */

/* Primary purposes: the columns of the permission matrix. */
enum prim { P_GRU, P_HMB, P_DS, P_POA, P_MDS, P_NCTRL, P_CC, P_COUNT };

/* Purpose flags; F_ANCESTRY is implied by a POA purpose, not written. */
enum {
	F_COMMERCIAL = 1,
	F_FORPROFIT = 2,
	F_GENETIC = 4,
	F_IRB = 8,
	F_ANCESTRY = 16
};

/* Request attributes, written key=value in a purpose. */
enum attr { AT_LOCATION, AT_USER, AT_PROJECT, AT_INSTITUTION, AT_TYPE, AT_N };

enum kind { K_PERM, K_MOD };
enum argk { A_NONE, A_TERM, A_LIST, A_TS, A_DATE };
enum rule {
	R_NONE,	     /* permissions, and CC (read by the matrix) */
	R_DENY_FLAG, /* deny when the purpose has any of `param` flags */
	R_NEED_FLAG, /* deny unless the purpose has the `param` flag */
	R_LIST,	     /* attribute `param` must be in the argument list */
	R_TS,	     /* deny once the time limit has passed */
	R_NMDS,	     /* methods development only with a DS disease match */
	R_OBLIG	     /* allowed; reported as an obligation */
};

enum code {
	C_NRES, /* the five permissions first: they are the matrix rows */
	C_GRU,
	C_HMB,
	C_DS,
	C_POA,
	C_NPU,
	C_NCU,
	C_NPUNCU,
	C_NPOA,
	C_GSO,
	C_IRB,
	C_NMDS,
	C_GS,
	C_US,
	C_PS,
	C_IS,
	C_RS,
	C_TS,
	C_CC,
	C_PUB,
	C_COL,
	C_RTN,
	C_MOR,
	C_COUNT
};
#define C_NPERM (C_POA + 1)

struct code_def {
	const char *abbr;
	const char *id;
	unsigned char kind, arg, rule, param;
	const char *what; /* the restriction or obligation, for reasons */
};

static const struct code_def codes[C_COUNT] = {
    [C_NRES] = {"NRES", "DUO:0000004", K_PERM, A_NONE, R_NONE, 0,
		"no restriction"},
    [C_GRU] = {"GRU", "DUO:0000042", K_PERM, A_NONE, R_NONE, 0,
	       "general research use"},
    [C_HMB] = {"HMB", "DUO:0000006", K_PERM, A_NONE, R_NONE, 0,
	       "health/medical/biomedical research"},
    [C_DS] = {"DS", "DUO:0000007", K_PERM, A_TERM, R_NONE, 0,
	      "disease-specific research"},
    [C_POA] = {"POA", "DUO:0000011", K_PERM, A_NONE, R_NONE, 0,
	       "population origins or ancestry research only"},
    [C_NPU] = {"NPU", "DUO:0000045", K_MOD, A_NONE, R_DENY_FLAG, F_FORPROFIT,
	       "not-for-profit use only"},
    [C_NCU] = {"NCU", "DUO:0000046", K_MOD, A_NONE, R_DENY_FLAG, F_COMMERCIAL,
	       "non-commercial use only"},
    [C_NPUNCU] = {"NPUNCU", "DUO:0000018", K_MOD, A_NONE, R_DENY_FLAG,
		  F_FORPROFIT | F_COMMERCIAL,
		  "not-for-profit, non-commercial use only"},
    [C_NPOA] = {"NPOA", "DUO:0000044", K_MOD, A_NONE, R_DENY_FLAG, F_ANCESTRY,
		"population origins or ancestry research prohibited"},
    [C_GSO] = {"GSO", "DUO:0000016", K_MOD, A_NONE, R_NEED_FLAG, F_GENETIC,
	       "genetic studies only"},
    [C_IRB] = {"IRB", "DUO:0000021", K_MOD, A_NONE, R_NEED_FLAG, F_IRB,
	       "ethics approval required"},
    [C_NMDS] = {"NMDS", "DUO:0000015", K_MOD, A_NONE, R_NMDS, 0,
		"no general methods research"},
    [C_GS] = {"GS", "DUO:0000022", K_MOD, A_LIST, R_LIST, AT_LOCATION,
	      "geographic restriction"},
    [C_US] = {"US", "DUO:0000026", K_MOD, A_LIST, R_LIST, AT_USER,
	      "user-specific restriction"},
    [C_PS] = {"PS", "DUO:0000027", K_MOD, A_LIST, R_LIST, AT_PROJECT,
	      "project-specific restriction"},
    [C_IS] = {"IS", "DUO:0000028", K_MOD, A_LIST, R_LIST, AT_INSTITUTION,
	      "institution-specific restriction"},
    [C_RS] = {"RS", "DUO:0000012", K_MOD, A_LIST, R_LIST, AT_TYPE,
	      "research-specific restriction"},
    [C_TS] = {"TS", "DUO:0000025", K_MOD, A_TS, R_TS, 0, "time limit"},
    [C_CC] = {"CC", "DUO:0000043", K_MOD, A_NONE, R_NONE, 0,
	      "clinical care use"},
    [C_PUB] = {"PUB", "DUO:0000019", K_MOD, A_NONE, R_OBLIG, 0,
	       "publish results"},
    [C_COL] = {"COL", "DUO:0000020", K_MOD, A_NONE, R_OBLIG, 0,
	       "collaborate with the primary study investigators"},
    [C_RTN] = {"RTN", "DUO:0000029", K_MOD, A_NONE, R_OBLIG, 0,
	       "return derived or enriched data to the provider"},
    [C_MOR] = {"MOR", "DUO:0000024", K_MOD, A_DATE, R_OBLIG, 0,
	       "no publication before that date"},
};

/* Argument needed, for messages: indexed by enum argk. */
static const char *const arg_hint[] = {
    [A_NONE] = "",
    [A_TERM] = "a disease term, e.g. DS:MONDO_0005070",
    [A_LIST] = "a '+'-separated list, e.g. GS:EU+US",
    [A_TS] = "months and an approval date, e.g. TS:12@2026-01-31",
    [A_DATE] = "a date, e.g. MOR:2027-01-01"};

struct attr_def {
	const char *key;
	const char *noun; /* plural, for "restricted to regions EU+US" */
	bool icase;	  /* codes compare case-insensitively, names exactly */
};

static const struct attr_def attrs[AT_N] = {
    [AT_LOCATION] = {"location", "regions", true},
    [AT_USER] = {"user", "users", false},
    [AT_PROJECT] = {"project", "projects", false},
    [AT_INSTITUTION] = {"institution", "institutions", false},
    [AT_TYPE] = {"type", "research types", true},
};

struct flag_def {
	unsigned bit;
	const char *name; /* as written in a purpose; NULL: implied */
	const char *deny_hint;
};

static const struct flag_def flags[] = {
    {F_COMMERCIAL, "commercial", "drop 'commercial' from the purpose"},
    {F_FORPROFIT, "for-profit", "drop 'for-profit' from the purpose"},
    {F_GENETIC, "genetic", "drop 'genetic' from the purpose"},
    {F_IRB, "irb", "drop 'irb' from the purpose"},
    {F_ANCESTRY, NULL, "ancestry research (POA) is not allowed"},
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

enum parg { PA_NONE, PA_OPT, PA_NEED }; /* disease term after the name */

struct prim_def {
	const char *name, *alias;
	const char *id, *id2; /* DUO research-purpose classes */
	unsigned char arg;
	const char *desc;
};

static const struct prim_def prims[P_COUNT] = {
    [P_GRU] = {"GRU", NULL, NULL, NULL, PA_NONE, "general research"},
    [P_HMB] = {"HMB", NULL, "DUO:0000037", "DUO:0000040", PA_NONE,
	       "health/medical/biomedical research"},
    [P_DS] = {"DS", NULL, NULL, NULL, PA_NEED, "disease research"},
    [P_POA] = {"POA", "ancestry", "DUO:0000033", NULL, PA_NONE,
	       "ancestry research"},
    [P_MDS] = {"MDS", "methods", "DUO:0000031", NULL, PA_OPT,
	       "methods development"},
    [P_NCTRL] = {"NCTRL", "control", "DUO:0000036", NULL, PA_OPT,
		 "control-set use"},
    [P_CC] = {"CC", "clinical-care", NULL, NULL, PA_NONE, "clinical care"},
};

/* Which permission covers which primary purpose (DOMAIN_STANDARDS 3.4). */
enum { M_DENY, M_ALLOW, M_DISEASE, M_CCMOD };
static const unsigned char matrix[C_NPERM][P_COUNT] = {
    /*          GRU      HMB      DS         POA      MDS        NCTRL CC */
    [C_NRES] = {M_ALLOW, M_ALLOW, M_ALLOW, M_ALLOW, M_ALLOW, M_ALLOW, M_ALLOW},
    [C_GRU] = {M_ALLOW, M_ALLOW, M_ALLOW, M_ALLOW, M_ALLOW, M_ALLOW, M_CCMOD},
    [C_HMB] = {M_DENY, M_ALLOW, M_ALLOW, M_DENY, M_ALLOW, M_ALLOW, M_CCMOD},
    [C_DS] = {M_DENY, M_DENY, M_DISEASE, M_DENY, M_DISEASE, M_DISEASE, M_CCMOD},
    [C_POA] = {M_DENY, M_DENY, M_DENY, M_ALLOW, M_DENY, M_DENY, M_CCMOD},
};

/* ---- parsed objects ---- */

typedef struct item {
	const struct code_def *def; /* NULL: unknown code */
	char *text;		    /* canonical token, owned */
	const char *arg;	    /* into text after "CODE:", or NULL */
	size_t codelen;		    /* length of the code part of text */
	int64_t day;		    /* TS approval date, MOR date: days */
	int64_t months;		    /* TS */
} item;

struct strata_duo {
	item *v; /* v[0] is the permission */
	size_t n, cap;
	char *text;    /* canonical */
	char *unknown; /* unknown codes, space-separated, or NULL */
};

struct strata_duo_purpose {
	int prim;
	char *disease; /* DS, MDS or NCTRL with a term; else NULL */
	unsigned flags;
	char *attr[AT_N];
	char *text; /* canonical */
};

/* ---- small helpers ---- */

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool chars_ok(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && !(c && strchr(extra, c)))
			return false;
	}
	return n > 0;
}

/* Each '+'-separated item non-empty and made of name characters. */
static bool list_ok(const char *s, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '+')
			continue;
		if (!chars_ok(s + start, i - start, "_.-@"))
			return false;
		start = i + 1;
	}
	return true;
}

static bool in_list(const char *list, const char *v, bool icase)
{
	size_t vn = strlen(v);
	for (const char *p = list;;) {
		const char *e = strchr(p, '+');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == vn &&
		    (icase ? strncasecmp(p, v, n) : memcmp(p, v, n)) == 0)
			return true;
		if (!e)
			return false;
		p = e + 1;
	}
}

/* Split on separators with at most one comma between tokens: "A, B" and
 * "A,B" are two tokens; ",A", "A,,B" and "A," hold an empty one. */
struct lexer {
	const char *p;
	bool any, comma;
};

static int lex(struct lexer *lx, const char **tok, size_t *len,
	       const char *what, const char *input)
{
	for (;; lx->p++) {
		char c = *lx->p;
		if (c == ',') {
			if (!lx->any || lx->comma)
				return strata_error_set(
				    STRATA_EINVAL,
				    "%s '%s': empty code before a comma", what,
				    input);
			lx->comma = true;
		} else if (!c) {
			if (lx->comma)
				return strata_error_set(
				    STRATA_EINVAL,
				    "%s '%s': empty code after the last comma",
				    what, input);
			return 0;
		} else if (!is_sep(c)) {
			break;
		}
	}
	const char *s = lx->p;
	while (*lx->p && !is_sep(*lx->p))
		lx->p++;
	*tok = s;
	*len = (size_t)(lx->p - s);
	if (*len > TOKEN_MAX)
		return strata_error_set(
		    STRATA_EINVAL, "%s: token '%.40s...' is too long", what, s);
	lx->any = true;
	lx->comma = false;
	return 1;
}

/* ---- dates: days since 1970-01-01 (proleptic Gregorian, UTC) ---- */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t month_days(int64_t y, int64_t m)
{
	static const unsigned char n[] = {31, 28, 31, 30, 31, 30,
					  31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return n[m - 1] + (m == 2 && leap);
}

/* Strict YYYY-MM-DD, years 1900-9999. */
static bool parse_date(const char *s, size_t n, int64_t *day)
{
	static const char shape[] = "dddd-dd-dd";
	if (n != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i])
				    : s[i] != '-')
			return false;
	int64_t y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
		    (s[2] - '0') * 10 + (s[3] - '0');
	int64_t m = (s[5] - '0') * 10 + (s[6] - '0');
	int64_t d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return false;
	*day = days_from_civil(y, m, d);
	return true;
}

static void format_date(char out[48], int64_t day)
{
	int64_t y, m, d;
	civil_from_days(day, &y, &m, &d);
	snprintf(out, 48, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
}

/* The same day `months` later, clamped to the end of a shorter month. */
static int64_t add_months(int64_t day, int64_t months)
{
	int64_t y, m, d;
	civil_from_days(day, &y, &m, &d);
	int64_t t = y * 12 + (m - 1) + months;
	y = t / 12;
	m = t % 12 + 1;
	if (d > month_days(y, m))
		d = month_days(y, m);
	return days_from_civil(y, m, d);
}

static int64_t day_of(int64_t s)
{
	return s / 86400 - (s % 86400 < 0);
}

/* ---- consent parsing ---- */

static const struct code_def *find_code(const char *s, size_t n)
{
	for (size_t i = 0; i < C_COUNT; i++) {
		const struct code_def *c = &codes[i];
		if ((strlen(c->abbr) == n && !strncasecmp(c->abbr, s, n)) ||
		    (strlen(c->id) == n && !strncasecmp(c->id, s, n)))
			return c;
	}
	return NULL;
}

/* Length of the code part of a token: up to the first ':', except that a
 * DUO id ("DUO:0000042") has one inside. 0 if malformed. */
static size_t code_len(const char *tok, size_t len)
{
	if (len >= 4 && !strncasecmp(tok, "DUO:", 4)) {
		size_t d = 0;
		while (4 + d < len && isdigit((unsigned char)tok[4 + d]))
			d++;
		return d == 7 && (len == 11 || tok[11] == ':') ? 11 : 0;
	}
	const char *c = memchr(tok, ':', len);
	size_t n = c ? (size_t)(c - tok) : len;
	if (n > CODE_MAX || !isalpha((unsigned char)tok[0]) ||
	    !chars_ok(tok, n, ""))
		return 0;
	return n;
}

/* TS:MONTHS[@DATE]; without a date the approval is `today`, if given.
 * Returns 0, 1 if malformed, or <0 with its own message. */
static int parse_ts(item *it, const char *tok, const char *a, size_t an,
		    const int64_t *today)
{
	const char *at = memchr(a, '@', an);
	size_t mn = at ? (size_t)(at - a) : an;
	uint64_t months;
	char num[8];
	if (mn == 0 || mn >= sizeof(num))
		return 1;
	memcpy(num, a, mn);
	num[mn] = 0;
	if (strata_parse_u64(num, &months) || months < 1 ||
	    months > TS_MONTHS_MAX)
		return 1;
	it->months = (int64_t)months;
	if (at)
		return parse_date(at + 1, an - mn - 1, &it->day) ? 0 : 1;
	if (!today)
		return strata_error_set(STRATA_EINVAL,
					"consent code '%s' needs an approval "
					"date: write TS:%" PRId64 "@YYYY-MM-DD",
					tok, it->months);
	it->day = *today;
	return 0;
}

/* Check the argument of a known code, fill in its parsed values and
 * append its canonical form to b. */
static int parse_arg(item *it, const char *tok, const char *a, size_t an,
		     const int64_t *today, strata_buf *b)
{
	const struct code_def *c = it->def;
	bool ok = false;
	int rc;
	switch (c->arg) {
	case A_TERM:
		ok = chars_ok(a, an, "_:.-");
		break;
	case A_LIST:
		ok = list_ok(a, an);
		break;
	case A_DATE:
		ok = parse_date(a, an, &it->day);
		break;
	case A_TS:
		rc = parse_ts(it, tok, a, an, today);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			char date[48];
			format_date(date, it->day);
			return strata_buf_printf(b, ":%" PRId64 "@%s",
						 it->months, date);
		}
		break;
	}
	if (ok)
		return strata_buf_printf(b, ":%.*s", (int)an, a);
	return strata_error_set(STRATA_EINVAL,
				"consent code '%s': bad argument '%.*s': %s "
				"needs %s",
				tok, (int)an, a, c->abbr, arg_hint[c->arg]);
}

/* The code and argument of one token, checked; canonical text to b. */
static int parse_token(item *it, const char *tok, size_t len,
		       const int64_t *today, strata_buf *b)
{
	size_t cn = code_len(tok, len);
	if (!cn)
		return strata_error_set(
		    STRATA_EINVAL,
		    tok[0] == ':'
			? "consent code '%s': empty code"
			: "consent code '%s' is malformed: write "
			  "CODE or CODE:ARG, e.g. GRU or DS:MONDO_0005070",
		    tok);
	const struct code_def *c = it->def = find_code(tok, cn);
	const char *a = cn < len ? tok + cn + 1 : NULL;
	size_t an = a ? len - cn - 1 : 0;
	int rc = 0;
	if (c && c->arg == A_NONE && a)
		return strata_error_set(STRATA_EINVAL,
					"consent code '%s': %s takes no "
					"argument",
					tok, c->abbr);
	if (c && c->arg != A_NONE && !an)
		return strata_error_set(STRATA_EINVAL,
					"consent code '%s': %s needs %s", tok,
					c->abbr, arg_hint[c->arg]);
	if (!c && a && !chars_ok(a, an, "_:.-+@/="))
		return strata_error_set(STRATA_EINVAL,
					"consent code '%s': bad argument '%s'",
					tok, a);
	if (c)
		rc = strata_buf_puts(b, c->abbr);
	for (size_t i = 0; !c && i < cn && !rc; i++)
		rc = strata_buf_put_u8(b,
				       (uint8_t)toupper((unsigned char)tok[i]));
	it->codelen = b->len;
	if (!rc && c && a)
		rc = parse_arg(it, tok, a, an, today, b);
	else if (!rc && a)
		rc = strata_buf_printf(b, ":%s", a);
	return rc ? rc : strata_buf_cstr(b);
}

/* Parse one token into a new item appended to d. */
static int parse_code(strata_duo *d, const char *t, size_t len,
		      const int64_t *today)
{
	char tok[TOKEN_MAX + 1];
	memcpy(tok, t, len);
	tok[len] = 0;
	item it = {0};
	strata_buf b = STRATA_BUF_INIT;
	int rc = parse_token(&it, tok, len, today, &b);
	if (!rc)
		rc = strata_grow(&d->v, &d->cap, d->n, sizeof(item));
	if (rc) {
		strata_buf_release(&b);
		return rc;
	}
	it.text = (char *)b.ptr;
	if (it.codelen < b.len)
		it.arg = it.text + it.codelen + 1;
	d->v[d->n++] = it;
	return 0;
}

static int cmp_item(const void *pa, const void *pb)
{
	const item *a = pa, *b = pb;
	bool ap = a->def && a->def->kind == K_PERM;
	bool bp = b->def && b->def->kind == K_PERM;
	if (ap != bp)
		return ap ? -1 : 1;
	return strcmp(a->text, b->text);
}

static bool same_code(const item *a, const item *b)
{
	if (a->def || b->def)
		return a->def == b->def;
	return a->codelen == b->codelen &&
	       !memcmp(a->text, b->text, a->codelen);
}

/* Exactly one permission, and no code twice. */
static int check_codes(const strata_duo *d, const char *input)
{
	char names[256] = "";
	size_t np = 0, pos = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (!d->v[i].def || d->v[i].def->kind != K_PERM)
			continue;
		int w = snprintf(names + pos, sizeof(names) - pos, "%s%s",
				 np ? ", " : "", d->v[i].def->abbr);
		if (w > 0 && pos + (size_t)w < sizeof(names))
			pos += (size_t)w;
		np++;
	}
	if (np != 1)
		return strata_error_set(
		    STRATA_EINVAL,
		    "consent '%s' has %zu permission codes%s%s%s: give exactly "
		    "one of NRES, GRU, HMB, DS:TERM or POA",
		    input, np, np ? " (" : "", names, np ? ")" : "");
	for (size_t i = 0; i < d->n; i++)
		for (size_t j = i + 1; j < d->n; j++)
			if (same_code(&d->v[i], &d->v[j]))
				return strata_error_set(
				    STRATA_EINVAL,
				    "consent '%s': code '%.*s' given twice",
				    input, (int)d->v[i].codelen, d->v[i].text);
	return 0;
}

/* Canonical text and the unknown-code list, from the sorted items. */
static int build_text(strata_duo *d)
{
	strata_buf t = STRATA_BUF_INIT, u = STRATA_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < d->n && !rc; i++) {
		rc = strata_buf_printf(&t, "%s%s", i ? " " : "", d->v[i].text);
		if (!rc && !d->v[i].def)
			rc = strata_buf_printf(&u, "%s%s", u.len ? " " : "",
					       d->v[i].text);
	}
	if (!rc)
		rc = strata_buf_cstr(&t);
	if (!rc && u.len)
		rc = strata_buf_cstr(&u);
	if (rc) {
		strata_buf_release(&t);
		strata_buf_release(&u);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	d->text = (char *)t.ptr;
	d->unknown = (char *)u.ptr;
	return 0;
}

static int parse_consent(strata_duo **out, const char *codes_in,
			 const int64_t *today)
{
	const char *input = codes_in ? codes_in : "";
	strata_duo *d = strata_calloc(1, sizeof(*d));
	if (!d)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	struct lexer lx = {.p = input};
	const char *tok = NULL;
	size_t len = 0;
	int rc;
	while ((rc = lex(&lx, &tok, &len, "consent", input)) > 0)
		if ((rc = parse_code(d, tok, len, today)) < 0)
			break;
	if (!rc && !d->n)
		rc = strata_error_set(STRATA_EINVAL,
				      "empty consent: give exactly one of "
				      "NRES, GRU, HMB, DS:TERM or POA");
	if (!rc)
		rc = check_codes(d, input);
	if (!rc) {
		qsort(d->v, d->n, sizeof(item), cmp_item);
		rc = build_text(d);
	}
	if (rc) {
		strata_duo_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int strata_duo_parse(strata_duo **out, const char *codes_in)
{
	return parse_consent(out, codes_in, NULL);
}

int strata_duo_parse_at(strata_duo **out, const char *codes_in, int64_t now_s)
{
	int64_t today = day_of(now_s);
	if (today < days_from_civil(1900, 1, 1) ||
	    today > days_from_civil(9999, 12, 31))
		return strata_error_set(STRATA_EINVAL,
					"consent: time %" PRId64
					" is outside years 1900-9999",
					now_s);
	return parse_consent(out, codes_in, &today);
}

void strata_duo_free(strata_duo *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		strata_free(d->v[i].text);
	strata_free(d->v);
	strata_free(d->text);
	strata_free(d->unknown);
	strata_free(d);
}

int strata_duo_format(const strata_duo *d, char **out)
{
	char *s = strata_strdup(d->text);
	if (!s)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	*out = s;
	return 0;
}

const char *strata_duo_text(const strata_duo *d)
{
	return d->text;
}

const char *strata_duo_permission(const strata_duo *d)
{
	return d->v[0].def->abbr;
}

const char *strata_duo_unknown(const strata_duo *d)
{
	return d->unknown;
}

/* ---- purpose parsing ---- */

static int purpose_einval(const char *tok)
{
	return strata_error_set(
	    STRATA_EINVAL,
	    "unknown purpose '%s': give one of GRU, HMB, DS:TERM, POA "
	    "(ancestry), MDS (methods), NCTRL (control), CC (clinical-care), "
	    "plus any of commercial, for-profit, genetic, irb, location=, "
	    "user=, project=, institution=, type=",
	    tok);
}

static int purpose_keyval(strata_duo_purpose *p, const char *tok,
			  const char *eq)
{
	size_t kn = (size_t)(eq - tok);
	for (size_t i = 0; i < AT_N; i++) {
		if (strlen(attrs[i].key) != kn ||
		    strncasecmp(attrs[i].key, tok, kn))
			continue;
		if (p->attr[i])
			return strata_error_set(STRATA_EINVAL,
						"purpose: '%s=' given twice",
						attrs[i].key);
		if (!chars_ok(eq + 1, strlen(eq + 1), "_.-@"))
			return strata_error_set(
			    STRATA_EINVAL,
			    "purpose '%s': %s needs a name (letters, digits, "
			    "'_', '.', '-', '@')",
			    tok, attrs[i].key);
		p->attr[i] = strata_strdup(eq + 1);
		return p->attr[i]
			   ? 0
			   : strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	return purpose_einval(tok);
}

static int purpose_primary(strata_duo_purpose *p, const char *tok)
{
	size_t n = code_len(tok, strlen(tok));
	const char *name = tok;
	if (!n) /* aliases such as "clinical-care" are not code-shaped */
		n = strcspn(tok, ":");
	for (int i = 0; i < P_COUNT; i++) {
		const struct prim_def *d = &prims[i];
		const char *cand[] = {d->name, d->alias, d->id, d->id2};
		bool hit = false;
		for (size_t k = 0; k < 4 && !hit; k++)
			hit = cand[k] && strlen(cand[k]) == n &&
			      !strncasecmp(cand[k], name, n);
		if (!hit)
			continue;
		if (p->prim >= 0)
			return strata_error_set(
			    STRATA_EINVAL,
			    "purpose: two primary purposes ('%s' and '%s'): "
			    "state exactly one",
			    prims[p->prim].name, d->name);
		const char *term = tok[n] == ':' ? tok + n + 1 : NULL;
		if (d->arg == PA_NONE && term)
			return strata_error_set(STRATA_EINVAL,
						"purpose '%s': %s takes no "
						"disease term",
						tok, d->name);
		if (d->arg == PA_NEED && (!term || !*term))
			return strata_error_set(STRATA_EINVAL,
						"purpose '%s': %s needs a "
						"disease term, e.g. "
						"DS:MONDO_0005070",
						tok, d->name);
		if (term && !chars_ok(term, strlen(term), "_:.-"))
			return strata_error_set(STRATA_EINVAL,
						"purpose '%s': bad disease "
						"term '%s'",
						tok, term);
		p->prim = i;
		if (term && !(p->disease = strata_strdup(term)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		return 0;
	}
	return purpose_einval(tok);
}

static int purpose_token(strata_duo_purpose *p, const char *t, size_t len)
{
	char tok[TOKEN_MAX + 1];
	memcpy(tok, t, len);
	tok[len] = 0;
	const char *eq = strchr(tok, '=');
	if (eq)
		return purpose_keyval(p, tok, eq);
	for (size_t i = 0; i < NFLAGS; i++) {
		if (!flags[i].name || strcasecmp(flags[i].name, tok))
			continue;
		if (p->flags & flags[i].bit)
			return strata_error_set(STRATA_EINVAL,
						"purpose: '%s' given twice",
						flags[i].name);
		p->flags |= flags[i].bit;
		return 0;
	}
	return purpose_primary(p, tok);
}

static int purpose_text(strata_duo_purpose *p)
{
	strata_buf b = STRATA_BUF_INIT;
	int rc = strata_buf_puts(&b, prims[p->prim].name);
	if (!rc && p->disease)
		rc = strata_buf_printf(&b, ":%s", p->disease);
	for (size_t i = 0; i < NFLAGS && !rc; i++)
		if (flags[i].name && (p->flags & flags[i].bit))
			rc = strata_buf_printf(&b, " %s", flags[i].name);
	for (size_t i = 0; i < AT_N && !rc; i++)
		if (p->attr[i])
			rc = strata_buf_printf(&b, " %s=%s", attrs[i].key,
					       p->attr[i]);
	if (!rc)
		rc = strata_buf_cstr(&b);
	if (rc) {
		strata_buf_release(&b);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	p->text = (char *)b.ptr;
	return 0;
}

int strata_duo_purpose_parse(strata_duo_purpose **out, const char *purpose)
{
	const char *input = purpose ? purpose : "";
	strata_duo_purpose *p = strata_calloc(1, sizeof(*p));
	if (!p)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	p->prim = -1;
	struct lexer lx = {.p = input};
	const char *tok = NULL;
	size_t len = 0;
	int rc;
	while ((rc = lex(&lx, &tok, &len, "purpose", input)) > 0)
		if ((rc = purpose_token(p, tok, len)) < 0)
			break;
	if (!rc && p->prim < 0)
		rc =
		    strata_error_set(STRATA_EINVAL,
				     "purpose '%s' states no primary purpose: "
				     "give one of GRU, HMB, DS:TERM, POA, MDS, "
				     "NCTRL or CC",
				     input);
	if (!rc)
		rc = purpose_text(p);
	if (rc) {
		strata_duo_purpose_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void strata_duo_purpose_free(strata_duo_purpose *p)
{
	if (!p)
		return;
	strata_free(p->disease);
	for (size_t i = 0; i < AT_N; i++)
		strata_free(p->attr[i]);
	strata_free(p->text);
	strata_free(p);
}

const char *strata_duo_purpose_text(const strata_duo_purpose *p)
{
	return p->text;
}

/* ---- matching ---- */

/* Appends to a fixed buffer, truncating; always NUL-terminated. */
struct out {
	char *p;
	size_t len, pos;
};

static void __attribute__((format(printf, 2, 3)))
outf(struct out *o, const char *fmt, ...)
{
	if (!o->len || o->pos >= o->len - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n < o->len - o->pos ? (size_t)n
						      : o->len - o->pos - 1;
}

struct req {
	const strata_duo *c;
	const strata_duo_purpose *p;
	const strata_duo_context *ctx;
	const char *attr[AT_N]; /* from the purpose, else the ctx default */
	unsigned flags;		/* purpose flags plus F_ANCESTRY */
	bool disease_ok;	/* DS permission matched the disease */
	struct out *o;
};

static int __attribute__((format(printf, 2, 3)))
deny(struct req *r, const char *fmt, ...)
{
	struct out *o = r->o;
	outf(o, "consent '%s' denies purpose '%s': ", r->c->text, r->p->text);
	if (o->len && o->pos < o->len - 1) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(o->p + o->pos, o->len - o->pos, fmt, ap);
		va_end(ap);
	}
	return STRATA_EDENIED;
}

/* Is `term` equal to `anc` or below it in the disease hierarchy? */
static bool disease_within(const strata_duo_context *ctx, const char *term,
			   const char *anc)
{
	for (int i = 0; term && i < DISEASE_DEPTH; i++) {
		if (!strcasecmp(term, anc))
			return true;
		if (!ctx || !ctx->disease_parent)
			return false;
		term = ctx->disease_parent(term, ctx->payload);
	}
	return false;
}

static bool has_code(const strata_duo *c, int code)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].def == &codes[code])
			return true;
	return false;
}

static int check_disease(struct req *r)
{
	const char *d = r->c->v[0].arg, *x = r->p->disease;
	const struct prim_def *pd = &prims[r->p->prim];
	if (!x)
		return deny(r,
			    "DS:%s excludes %s without a disease (state "
			    "%s:TERM with '%s' or a narrower term)",
			    d, pd->desc, pd->name, d);
	if (disease_within(r->ctx, x, d)) {
		r->disease_ok = true;
		return 0;
	}
	if (disease_within(r->ctx, d, x))
		return deny(r,
			    "DS:%s excludes '%s', which is broader (ask for "
			    "'%s' or a narrower term)",
			    d, x, d);
	return deny(r,
		    "DS:%s excludes research on '%s' (needs '%s' or a "
		    "narrower term)",
		    d, x, d);
}

static int check_permission(struct req *r)
{
	size_t perm = (size_t)(r->c->v[0].def - codes);
	const char *abbr = codes[perm].abbr;
	int prim = r->p->prim;
	switch (matrix[perm][prim]) {
	case M_ALLOW:
		return 0;
	case M_DISEASE:
		return check_disease(r);
	case M_CCMOD:
		if (has_code(r->c, C_CC))
			return 0;
		return deny(r,
			    "%s excludes clinical care (needs the CC "
			    "modifier)",
			    abbr);
	}
	/* name the permissions (other than NRES) that would cover it */
	const char *ok[C_NPERM];
	size_t n = 0;
	for (size_t i = C_GRU; i < C_NPERM; i++)
		if (matrix[i][prim] == M_ALLOW || matrix[i][prim] == M_DISEASE)
			ok[n++] = codes[i].abbr;
	char needs[64] = "";
	struct out o = {needs, sizeof(needs), 0};
	for (size_t i = 0; i < n; i++)
		outf(&o, "%s%s",
		     i == 0	  ? ""
		     : i + 1 == n ? " or "
				  : ", ",
		     ok[i]);
	return deny(r, "%s excludes %s (needs %s)", abbr, prims[prim].desc,
		    needs);
}

static int check_list(struct req *r, const item *m)
{
	const char *abbr = m->def->abbr;
	const struct attr_def *a = &attrs[m->def->param];
	const char *v = r->attr[m->def->param];
	const char *caller = r->ctx ? r->ctx->user : NULL;
	/* the caller's identity is not the purpose's to choose */
	if (m->def->param == AT_USER && r->p->attr[AT_USER] && caller &&
	    strcmp(r->p->attr[AT_USER], caller))
		return deny(r,
			    "%s: purpose names user '%s' but the caller is "
			    "'%s'",
			    abbr, r->p->attr[AT_USER], caller);
	if (!v)
		return deny(r,
			    "%s: use restricted to %s %s; state %s=NAME in the "
			    "purpose",
			    abbr, a->noun, m->arg, a->key);
	if (!in_list(m->arg, v, a->icase))
		return deny(r,
			    "%s: use restricted to %s %s; %s '%s' is not among "
			    "them",
			    abbr, a->noun, m->arg, a->key, v);
	return 0;
}

static int check_ts(struct req *r, const item *m)
{
	int64_t end = add_months(m->day, m->months);
	int64_t now = r->ctx ? r->ctx->now_s : 0;
	if (now < end * 86400)
		return 0;
	char from[48], to[48];
	format_date(from, m->day);
	format_date(to, end);
	return deny(r,
		    "TS: use was allowed for %" PRId64
		    " months from %s and ended on %s; ask the data access "
		    "committee to renew it",
		    m->months, from, to);
}

static int check_modifier(struct req *r, const item *m)
{
	const struct code_def *c = m->def;
	if (!c)
		return deny(r,
			    "unknown code '%s': refer to the data access "
			    "committee",
			    m->text);
	unsigned hit = r->flags & c->param;
	switch (c->rule) {
	case R_DENY_FLAG:
		for (size_t i = 0; i < NFLAGS && hit; i++)
			if (hit & flags[i].bit)
				return deny(r, "%s: %s; %s", c->abbr, c->what,
					    flags[i].deny_hint);
		return 0;
	case R_NEED_FLAG:
		if (hit)
			return 0;
		for (size_t i = 0; i < NFLAGS; i++)
			if (flags[i].bit == c->param)
				return deny(r,
					    "%s: %s; add '%s' to the purpose",
					    c->abbr, c->what, flags[i].name);
		return deny(r, "%s: %s", c->abbr, c->what);
	case R_LIST:
		return check_list(r, m);
	case R_TS:
		return check_ts(r, m);
	case R_NMDS:
		if (r->p->prim != P_MDS || r->disease_ok)
			return 0;
		return deny(r, "NMDS: no general methods research; methods "
			       "development needs a DS consent and a matching "
			       "disease (MDS:TERM)");
	}
	return 0; /* R_NONE, R_OBLIG */
}

/* On allow: the obligations that come with the grant. */
static void obligations(struct req *r)
{
	int64_t now = r->ctx ? r->ctx->now_s : 0;
	size_t n = 0;
	for (size_t i = 1; i < r->c->n; i++) {
		const item *m = &r->c->v[i];
		if (!m->def || m->def->rule != R_OBLIG)
			continue;
		if (m->def->arg == A_DATE && now >= m->day * 86400)
			continue; /* the moratorium is over */
		outf(r->o, "%s%s (%s)", n++ ? ", " : "obligations: ", m->text,
		     m->def->what);
	}
}

int strata_duo_match(const strata_duo *c, const strata_duo_purpose *p,
		     const strata_duo_context *ctx, char *why, size_t whylen)
{
	struct out o = {why, why ? whylen : 0, 0};
	if (o.len)
		why[0] = 0;
	if (!c) {
		outf(&o, "no consent recorded: set one with 'strata consent "
			 "set'");
		return STRATA_EDENIED;
	}
	if (!p) {
		outf(&o, "no purpose stated: pass --purpose");
		return STRATA_EDENIED;
	}
	struct req r = {.c = c, .p = p, .ctx = ctx, .o = &o};
	r.flags = p->flags | (p->prim == P_POA ? F_ANCESTRY : 0u);
	const char *def[AT_N] = {NULL};
	if (ctx) {
		def[AT_USER] = ctx->user;
		def[AT_PROJECT] = ctx->project;
		def[AT_INSTITUTION] = ctx->institution;
	}
	for (size_t i = 0; i < AT_N; i++)
		r.attr[i] = p->attr[i] ? p->attr[i] : def[i];
	int rc = check_permission(&r);
	for (size_t i = 1; i < c->n && !rc; i++)
		rc = check_modifier(&r, &c->v[i]);
	if (!rc)
		obligations(&r);
	return rc;
}
