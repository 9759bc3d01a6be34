/*
 * gen_annexe.c - build-time generator: turns the PS3.15 Table E.1-1
 * (ps3.15-annexE-table-E1-1-<rev>.tsv, from the shared reference folder)
 * and the PS3.6 data dictionary (dicom.dic of Debian's libdcmtk17) into
 * annexe_table.c, the rule and VR tables of the de-identifier. Nothing in them
 * is hand-typed.
 *
 * usage: gen_annexe TABLE.tsv DICOM.dic OUT.c
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCOLS 11 /* basicProfile .. cleanGraphOpt */
#define MAXLINE 4096

typedef struct rule {
	uint32_t tag, mask;
	int code[NCOLS];
	int kind; /* 0 exact, 1 wildcard, 2 private */
} rule;

typedef struct vrent {
	unsigned glo, ghi, gstep, elo, ehi;
	char vr[3];
	int seq; /* input order: later entries override earlier ones */
} vrent;

static const char *const codes[] = {
    "", "D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"};
static const char *const code_names[] = {
    "DEID_NONE", "DEID_D",  "DEID_Z",  "DEID_X",  "DEID_K",   "DEID_C",
    "DEID_U",	 "DEID_ZD", "DEID_XZ", "DEID_XD", "DEID_XZD", "DEID_XZU"};

static void die(const char *what, const char *file, int line)
{
	fprintf(stderr, "gen_annexe: %s: line %d: %s\n", file, line, what);
	exit(1);
}

static void *grow(void *p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 256;
	p = realloc(p, *cap * elem);
	if (!p) {
		fprintf(stderr, "gen_annexe: out of memory\n");
		exit(1);
	}
	return p;
}

/* Split s at tabs in place; returns the number of fields. */
static int split(char *s, char **f, int max)
{
	int n = 0;
	f[n++] = s;
	for (char *p = s; *p && n < max; p++)
		if (*p == '\t') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static int code_of(const char *s, const char *file, int line)
{
	while (*s == ' ')
		s++;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(s, codes[i]))
			return (int)i;
	die("unknown action code", file, line);
	return 0;
}

/* "(gggg,eeee)" with X wildcards, or the odd-group private row. */
static void parse_rule_tag(const char *s, rule *r, const char *file, int line)
{
	if (!strncmp(s, "(GGGG,EEEE)", 11)) {
		r->kind = 2;
		r->tag = r->mask = 0;
		return;
	}
	if (strlen(s) != 11 || s[0] != '(' || s[5] != ',' || s[10] != ')')
		die("bad tag", file, line);
	r->tag = r->mask = 0;
	r->kind = 0;
	for (int i = 1; i < 10; i++) {
		if (i == 5)
			continue;
		int c = toupper((unsigned char)s[i]), v;
		if (c == 'X') {
			v = 0;
			r->kind = 1;
		} else if (isxdigit(c)) {
			v = isdigit(c) ? c - '0' : c - 'A' + 10;
		} else {
			die("bad tag digit", file, line);
			v = 0;
		}
		r->tag = r->tag << 4 | (uint32_t)v;
		r->mask = r->mask << 4 | (c == 'X' ? 0u : 0xfu);
	}
}

static int cmp_rule(const void *a, const void *b)
{
	const rule *x = a, *y = b;
	return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static int cmp_vr(const void *a, const void *b)
{
	const vrent *x = a, *y = b;
	uint32_t tx = x->glo << 16 | x->elo, ty = y->glo << 16 | y->elo;
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return x->seq - y->seq;
}

static unsigned hex4(const char *s, const char *file, int line)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int c = toupper((unsigned char)s[i]);
		if (!isxdigit(c))
			die("bad dictionary tag", file, line);
		v = v << 4 | (unsigned)(isdigit(c) ? c - '0' : c - 'A' + 10);
	}
	return v;
}

/* "(gggg[-[o-|u-]gggg],eeee[-eeee])" */
static void parse_dic_tag(const char *s, vrent *v, const char *file, int line)
{
	if (*s++ != '(')
		die("bad dictionary tag", file, line);
	v->glo = v->ghi = hex4(s, file, line);
	v->gstep = 1;
	s += 4;
	if (*s == '-') {
		s++;
		v->gstep = 2;
		if ((s[0] == 'o' || s[0] == 'u') && s[1] == '-') {
			v->gstep = s[0] == 'u' ? 1 : 2;
			s += 2;
		}
		v->ghi = hex4(s, file, line);
		s += 4;
	}
	if (*s++ != ',')
		die("bad dictionary tag", file, line);
	v->elo = v->ehi = hex4(s, file, line);
	s += 4;
	if (*s == '-') {
		s++;
		if ((s[0] == 'o' || s[0] == 'u') && s[1] == '-')
			s += 2;
		v->ehi = hex4(s, file, line);
		s += 4;
	}
	if (*s != ')')
		die("bad dictionary tag", file, line);
}

static void emit_rule(FILE *o, const rule *r, const char *end)
{
	fprintf(o, "    {0x%08xu, 0x%08xu, {", r->tag, r->mask);
	for (int c = 0; c < NCOLS; c++)
		fprintf(o, "%s%s", c ? ", " : "", code_names[r->code[c]]);
	fprintf(o, "}}%s\n", end);
}

static void emit_vr(FILE *o, const vrent *v)
{
	fprintf(o, "    {0x%04x, 0x%04x, %u, 0x%04x, 0x%04x, \"%s\"},\n",
		v->glo, v->ghi, v->gstep, v->elo, v->ehi, v->vr);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr,
			"usage: gen_annexe TABLE.tsv DICOM.dic OUT.c\n");
		return 2;
	}
	/* the revision is the last "-" field of the table's file name */
	const char *base = strrchr(argv[1], '/');
	base = base ? base + 1 : argv[1];
	const char *dash = strrchr(base, '-'), *dot = strrchr(base, '.');
	if (!dash || !dot || dot <= dash + 1 || dot - dash > 16)
		die("cannot find the revision in the file name", argv[1], 0);
	char rev[16];
	memcpy(rev, dash + 1, (size_t)(dot - dash - 1));
	rev[dot - dash - 1] = '\0';

	char line[MAXLINE], *f[32];
	rule *rules = NULL, priv = {0};
	size_t nrules = 0, rcap = 0;
	int have_priv = 0, ln = 0;
	FILE *in = fopen(argv[1], "r");
	if (!in)
		die("cannot open", argv[1], 0);
	while (fgets(line, sizeof(line), in)) {
		ln++;
		chomp(line);
		int n = split(line, f, 32);
		if (ln == 1) {
			if (n < 14 || strcmp(f[0], "tag") ||
			    strcmp(f[3], "basicProfile") ||
			    strcmp(f[13], "cleanGraphOpt"))
				die("unexpected header", argv[1], ln);
			continue;
		}
		if (!line[0])
			continue;
		if (n < 4)
			die("too few columns", argv[1], ln);
		rule r = {0};
		parse_rule_tag(f[0], &r, argv[1], ln);
		for (int c = 0; c < NCOLS; c++)
			r.code[c] =
			    3 + c < n ? code_of(f[3 + c], argv[1], ln) : 0;
		if (!r.code[0])
			die("row without a basic profile action", argv[1], ln);
		if (r.kind == 2) {
			priv = r;
			have_priv = 1;
			continue;
		}
		rules = grow(rules, &rcap, nrules, sizeof(*rules));
		rules[nrules++] = r;
	}
	fclose(in);
	if (!have_priv || nrules < 100)
		die("table incomplete", argv[1], ln);
	qsort(rules, nrules, sizeof(*rules), cmp_rule);
	for (size_t i = 1; i < nrules; i++)
		if (rules[i].kind == 0 && rules[i - 1].kind == 0 &&
		    rules[i].tag == rules[i - 1].tag)
			die("duplicate tag", argv[1], (int)i);

	vrent *vrs = NULL;
	size_t nvrs = 0, vcap = 0;
	ln = 0;
	if (!(in = fopen(argv[2], "r")))
		die("cannot open", argv[2], 0);
	while (fgets(line, sizeof(line), in)) {
		ln++;
		chomp(line);
		if (line[0] != '(' || strchr(line, '"'))
			continue; /* comments, private entries */
		int n = split(line, f, 32);
		if (n < 5 || strlen(f[1]) != 2)
			die("bad dictionary line", argv[2], ln);
		if (strncmp(f[4], "DICOM", 5))
			continue; /* private, illegal, generic group length */
		if (!strcmp(f[1], "na"))
			continue; /* item and delimiter tags */
		vrent v = {0};
		parse_dic_tag(f[0], &v, argv[2], ln);
		memcpy(v.vr, f[1], 3);
		v.seq = ln;
		vrs = grow(vrs, &vcap, nvrs, sizeof(*vrs));
		vrs[nvrs++] = v;
	}
	fclose(in);
	qsort(vrs, nvrs, sizeof(*vrs), cmp_vr);

	FILE *o = fopen(argv[3], "w");
	if (!o)
		die("cannot create", argv[3], 0);
	fprintf(o,
		"/* annexe_table.c - GENERATED by gen_annexe from %s and "
		"%s; do not edit. */\n",
		base,
		strrchr(argv[2], '/') ? strrchr(argv[2], '/') + 1 : argv[2]);
	fprintf(o, "#include \"deid/deid_int.h\"\n\n");
	fprintf(o, "const char deid__revision[] = \"%s\";\n\n", rev);
	size_t nexact = 0, nwild = 0;
	fprintf(o, "const deid__rule deid__rules[] = {\n");
	for (size_t i = 0; i < nrules; i++)
		if (rules[i].kind == 0) {
			emit_rule(o, &rules[i], ",");
			nexact++;
		}
	fprintf(o, "};\nconst size_t deid__nrules = %zu;\n\n", nexact);
	fprintf(o, "const deid__rule deid__wild_rules[] = {\n");
	for (size_t i = 0; i < nrules; i++)
		if (rules[i].kind == 1) {
			emit_rule(o, &rules[i], ",");
			nwild++;
		}
	fprintf(o, "};\nconst size_t deid__nwild_rules = %zu;\n\n", nwild);
	fprintf(o, "const deid__rule deid__private_rule =\n");
	emit_rule(o, &priv, ";");
	fprintf(o, "\n");

	size_t nsingle = 0, nrange = 0;
	fprintf(o, "const deid__vrent deid__vrs[] = {\n");
	for (size_t i = 0; i < nvrs; i++) {
		const vrent *v = &vrs[i];
		if (v->glo != v->ghi || v->elo != v->ehi)
			continue;
		/* a later entry for the same tag overrides this one */
		if (i + 1 < nvrs && vrs[i + 1].glo == v->glo &&
		    vrs[i + 1].ghi == v->ghi && vrs[i + 1].elo == v->elo &&
		    vrs[i + 1].ehi == v->ehi)
			continue;
		emit_vr(o, v);
		nsingle++;
	}
	fprintf(o, "};\nconst size_t deid__nvrs = %zu;\n\n", nsingle);
	fprintf(o, "const deid__vrent deid__vr_ranges[] = {\n");
	for (size_t i = 0; i < nvrs; i++)
		if (vrs[i].glo != vrs[i].ghi || vrs[i].elo != vrs[i].ehi) {
			emit_vr(o, &vrs[i]);
			nrange++;
		}
	fprintf(o, "};\nconst size_t deid__nvr_ranges = %zu;\n", nrange);
	if (fclose(o)) {
		fprintf(stderr, "gen_annexe: cannot write %s\n", argv[3]);
		return 1;
	}
	free(rules);
	free(vrs);
	return 0;
}
