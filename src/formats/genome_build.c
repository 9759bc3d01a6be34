/*
 * genome_build.c - which human reference build a contig dictionary belongs
 * to (DOMAIN_STANDARDS §5): known M5 checksums first, then exact lengths of
 * the primary chromosomes, then declared assembly names only when no
 * primary length is known. Toy or non-human dictionaries give "unknown"
 * with the reason, never a guess. Also naming style and the fingerprint.
 */
#include <ctype.h>

#include "common/common.h"
#include "strata/formats.h"
#include "formats/genome_build.h"

enum { B37, B38, CHM13, NCBI36, NBUILD };
#define NPRIMARY 24 /* 1..22, X, Y */
#define KEY_MT 24
#define TEXT_MAX 4096

static const char *const build_name[NBUILD] = {"GRCh37", "GRCh38", "T2T-CHM13",
					       "NCBI36"};

/* Primary assembly lengths of chr1..22, X, Y. */
static const int64_t build_len[NBUILD][NPRIMARY] = {
    {249250621, 243199373, 198022430, 191154276, 180915260, 171115067,
     159138663, 146364022, 141213431, 135534747, 135006516, 133851895,
     115169878, 107349540, 102531392, 90354753,	 81195210,  78077248,
     59128983,	63025520,  48129895,  51304566,	 155270560, 59373566},
    {248956422, 242193529, 198295559, 190214555, 181538259, 170805979,
     159345973, 145138636, 138394717, 133797422, 135086622, 133275309,
     114364328, 107043718, 101991189, 90338345,	 83257441,  80373285,
     58617616,	64444167,  46709983,  50818468,	 156040895, 57227415},
    {248387328, 242696752, 201105948, 193574945, 182045439, 172126628,
     160567428, 146259331, 150617247, 134758134, 135127769, 133324548,
     113566686, 101161492, 99753195,  96330374,	 84276897,  80542538,
     61707364,	66210255,  45090682,  51324926,	 154259566, 62460029},
    {247249719, 242951149, 199501827, 191273063, 180857866, 170899992,
     158821424, 146274826, 140273252, 135374737, 134452384, 132349534,
     114142980, 106368585, 100338915, 88827254,	 78774742,  76117153,
     63811651,	62435964,  46944323,  49691432,	 154913754, 57772954},
};

static const struct {
	const char *md5;
	int build;
} known_m5[] = {
    {"1b22b98cdeb4a9304cb5d48026a85128", B37},
    {"a0d9851da00400dec1098a9255ac712e", B37},
    {"6aef897c3d6ff0c78aff06ac189178dd", B38},
    {"f98db672eb0993dcfdabafe2a882905c", B38},
    {"76635a41ea913a405ded820447d067b0", B38},
};

/* Declared names; `open` ones match as a word prefix (chm13v2, t2t-...). */
static const struct {
	const char *word;
	int build;
	bool open;
} keywords[] = {
    {"chm13", CHM13, true},
    {"t2t", CHM13, true},
    {"grch38", B38, false},
    {"hg38", B38, false},
    {"hs38dh", B38, false},
    {"hs38d1", B38, false},
    {"hs38", B38, false},
    {"b38", B38, false},
    {"ncbi38", B38, false},
    {"gca_000001405.15", B38, false},
    {"grch37", B37, false},
    {"hg19", B37, false},
    {"hs37d5", B37, false},
    {"hs37", B37, false},
    {"b37", B37, false},
    {"ncbi37", B37, false},
    {"human_g1k_v37", B37, true},
    {"g1k_v37", B37, true},
    {"gca_000001405.1", B37, false},
    {"ncbi36", NCBI36, false},
    {"hg18", NCBI36, false},
    {"b36", NCBI36, false},
};

enum { STYLE_UCSC = 1, STYLE_BARE = 2, STYLE_REFSEQ = 4 };

typedef struct tally {
	size_t prim;		/* primary contigs with a length */
	size_t votes[NBUILD];	/* of them, exact length matches */
	size_t best_at[NBUILD]; /* contig (lowest key) matching each build */
	int best_key[NBUILD];
	size_t first_prim; /* contig (lowest key) among primaries */
	int first_key;
	int m5_build; /* -1 none, -2 conflicting */
	size_t m5_at;
	size_t mt_at; /* SIZE_MAX when absent */
	int styles;
	bool decoy, alt, hla, hs37d5;
} tally;

static bool utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	unsigned c = s[0];
	size_t need;
	unsigned min;
	if (c < 0x80) {
		*len = 1;
		return true;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		min = 0x10000;
	} else {
		return false;
	}
	if (need >= n)
		return false;
	unsigned v = c & (0x3fu >> need);
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return false;
		v = v << 6 | (s[i] & 0x3fu);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return false;
	*len = need + 1;
	return true;
}

/*
 * Set a string attribute from header text: bytes that are not UTF-8 (or
 * are control characters) become '?', and text past 4 KiB is cut at a
 * character boundary and marked with "…".
 */
int strata_genome__set_str(strata_attrs *out, const char *key, const char *s,
			   size_t n)
{
	strata_buf b = STRATA_BUF_INIT;
	int rc = 0;
	size_t i = 0, cl;
	while (i < n && rc == 0) {
		const unsigned char *p = (const unsigned char *)s + i;
		if (!utf8_next(p, n - i, &cl) ||
		    (cl == 1 && p[0] < 0x20 && p[0] != '\t')) {
			cl = 1;
			p = (const unsigned char *)"?";
		}
		if (b.len + cl > TEXT_MAX) {
			rc = strata_buf_puts(&b, "\xe2\x80\xa6");
			break;
		}
		rc = strata_buf_put(&b, p, cl);
		i += cl;
	}
	if (rc == 0)
		rc = strata_attrs_set_str(out, key, b.ptr ? (char *)b.ptr : "",
					  b.len);
	strata_buf_release(&b);
	return rc;
}

static int parse_small(const char *s, int max)
{
	int v = 0;
	if (!*s || *s == '0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > max)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v <= max ? v : -1;
}

/* Key 0..23 for chr1..22, X, Y; KEY_MT; -1 for anything else. */
static int contig_key(const char *name, int *style)
{
	const char *r = name;
	*style = STYLE_BARE;
	if (strncasecmp(name, "chr", 3) == 0) {
		*style = STYLE_UCSC;
		r = name + 3;
	} else if (strncmp(name, "NC_0", 4) == 0) {
		*style = STYLE_REFSEQ;
		if (strncmp(name, "NC_012920", 9) == 0 ||
		    strncmp(name, "NC_001807", 9) == 0)
			return KEY_MT;
		if (strncmp(name, "NC_0000", 7) != 0 || !name[7] || !name[8] ||
		    (name[9] && name[9] != '.'))
			return -1;
		char d[3] = {name[7], name[8], 0};
		int v =
		    d[0] == '0' ? parse_small(d + 1, 9) : parse_small(d, 24);
		return v >= 1 && v <= 24 ? v - 1 : -1;
	}
	if (strcasecmp(r, "X") == 0)
		return 22;
	if (strcasecmp(r, "Y") == 0)
		return 23;
	if (strcasecmp(r, "M") == 0 || strcasecmp(r, "MT") == 0)
		return KEY_MT;
	int v = parse_small(r, 22);
	return v >= 1 ? v - 1 : -1;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static void mark_kind(tally *t, const char *name)
{
	if (strcmp(name, "hs37d5") == 0)
		t->hs37d5 = true;
	if (strcasestr(name, "decoy") || strncmp(name, "hs37d5", 6) == 0 ||
	    strncmp(name, "hs38d1", 6) == 0 || strcmp(name, "chrEBV") == 0 ||
	    strncmp(name, "NC_007605", 9) == 0)
		t->decoy = true;
	if (ends_with(name, "_alt"))
		t->alt = true;
	if (strncmp(name, "HLA-", 4) == 0 || strncmp(name, "HLA:", 4) == 0)
		t->hla = true;
}

static void check_m5(tally *t, const strata_contig *c, size_t i)
{
	if (!c->md5 || t->m5_build == -2)
		return;
	for (size_t k = 0; k < sizeof(known_m5) / sizeof(known_m5[0]); k++) {
		if (strcasecmp(c->md5, known_m5[k].md5) != 0)
			continue;
		if (t->m5_build >= 0 && t->m5_build != known_m5[k].build) {
			t->m5_build = -2;
		} else if (t->m5_build == -1) {
			t->m5_build = known_m5[k].build;
			t->m5_at = i;
		}
	}
}

static void count_contig(tally *t, const strata_contig *c, size_t i)
{
	int style, key = contig_key(c->name, &style);
	mark_kind(t, c->name);
	check_m5(t, c, i);
	if (key < 0)
		return;
	t->styles |= style;
	if (key == KEY_MT) {
		if (t->mt_at == SIZE_MAX)
			t->mt_at = i;
		return;
	}
	if (c->len < 0)
		return;
	t->prim++;
	if (t->first_key < 0 || key < t->first_key) {
		t->first_key = key;
		t->first_prim = i;
	}
	for (int b = 0; b < NBUILD; b++) {
		if (build_len[b][key] != c->len)
			continue;
		t->votes[b]++;
		if (t->best_key[b] < 0 || key < t->best_key[b]) {
			t->best_key[b] = key;
			t->best_at[b] = i;
		}
	}
}

/* Which build the declared strings name: -1 none, -2 several. */
static int declared_build(const char *const *hints, size_t n, size_t *which)
{
	int found = -1;
	for (size_t h = 0; h < n; h++) {
		const char *s = hints[h];
		for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]);
		     k++) {
			size_t wl = strlen(keywords[k].word);
			for (const char *p = strcasestr(s, keywords[k].word); p;
			     p = strcasestr(p + 1, keywords[k].word)) {
				bool lb =
				    p == s || !isalnum((unsigned char)p[-1]);
				bool rb = keywords[k].open ||
					  !isalnum((unsigned char)p[wl]);
				if (!lb || !rb)
					continue;
				if (found >= 0 && found != keywords[k].build)
					return -2;
				if (found < 0)
					*which = h;
				found = keywords[k].build;
				break;
			}
		}
	}
	return found;
}

static const char *flavour(const tally *t, int b)
{
	bool ucsc = t->styles == STYLE_UCSC, bare = t->styles == STYLE_BARE;
	if (b == B37 && ucsc)
		return "hg19";
	if (b == B37 && bare)
		return t->hs37d5 ? "hs37d5" : "b37";
	if (b == B38 && ucsc)
		return t->alt && t->decoy && t->hla ? "hs38DH" : "hg38";
	if (b == NCBI36 && ucsc)
		return "hg18";
	if (b == NCBI36 && bare)
		return "b36";
	return NULL;
}

static int best_build(const tally *t)
{
	int best = 0;
	for (int b = 1; b < NBUILD; b++)
		if (t->votes[b] > t->votes[best])
			best = b;
	for (int b = 0; b < NBUILD; b++)
		if (b != best && t->votes[b] == t->votes[best])
			return -1;
	return best;
}

/* Decide the build from lengths and M5; -1 with the reason in `ev`. */
static int by_dictionary(const tally *t, const strata_contig *c, strata_buf *ev)
{
	int best = t->prim ? best_build(t) : -1;
	if (t->m5_build >= 0) {
		strata_buf_printf(ev, "M5 of %s is %s's", c[t->m5_at].name,
				  build_name[t->m5_build]);
		if (t->prim)
			strata_buf_printf(ev, "; %zu/%zu primary lengths match",
					  t->votes[t->m5_build], t->prim);
		return t->m5_build;
	}
	if (best >= 0 && t->votes[best] * 2 > t->prim) {
		const strata_contig *m = &c[t->best_at[best]];
		strata_buf_printf(
		    ev,
		    "%s length %" PRId64 " (%s); %zu/%zu primary lengths match",
		    m->name, m->len, build_name[best], t->votes[best], t->prim);
		return best;
	}
	if (t->prim && (best < 0 ? t->votes[0] : t->votes[best]) == 0) {
		const strata_contig *f = &c[t->first_prim];
		strata_buf_printf(
		    ev, "%s length %" PRId64 " matches no known human build",
		    f->name, f->len);
	} else if (t->prim) {
		strata_buf_printf(ev, "primary lengths disagree (%zu contigs)",
				  t->prim);
	}
	return -1;
}

static int by_declaration(const tally *t, const strata_contig *c, size_t n,
			  const char *const *hints, size_t nh, strata_buf *ev)
{
	size_t which = 0;
	int b = declared_build(hints, nh, &which);
	if (b >= 0 && t->prim == 0) {
		strata_buf_printf(ev, "declared %.120s (no primary lengths)",
				  hints[which]);
		return b;
	}
	if (t->prim == 0 && n == 0)
		strata_buf_puts(ev, "header lists no contigs");
	else if (t->prim == 0)
		strata_buf_printf(ev,
				  "no human primary chromosome among %zu "
				  "contigs (first: %.80s)",
				  n, c[0].name);
	if (b == -2)
		strata_buf_puts(ev, "; declarations name several builds");
	else if (b >= 0)
		strata_buf_printf(ev, "; declared %.120s not trusted",
				  hints[which]);
	return -1;
}

static const char *naming(int styles)
{
	switch (styles) {
	case 0:
		return "other";
	case STYLE_UCSC:
		return "ucsc";
	case STYLE_BARE:
		return "ensembl";
	case STYLE_REFSEQ:
		return "refseq";
	default:
		return "mixed";
	}
}

typedef struct line_ref {
	size_t off, len;
	const uint8_t *base;
} line_ref;

static int cmp_line(const void *a, const void *b)
{
	const line_ref *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->base + x->off, y->base + y->off, n);
	if (r)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* SHA-256 of the sorted "name\tlength\n" lines (length empty if unknown). */
static int fingerprint(const strata_contig *c, size_t n, char hex[65])
{
	strata_buf b = STRATA_BUF_INIT;
	line_ref *v = NULL;
	strata_sha256_ctx *h = NULL;
	uint8_t md[32];
	size_t sz;
	int rc = STRATA_ENOMEM;
	if (strata_size_mul(&sz, n ? n : 1, sizeof(*v)) ||
	    !(v = strata_malloc(sz)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		v[i].off = b.len;
		rc = c[i].len >= 0 ? strata_buf_printf(&b, "%s\t%" PRId64 "\n",
						       c[i].name, c[i].len)
				   : strata_buf_printf(&b, "%s\t\n", c[i].name);
		if (rc)
			goto out;
		v[i].len = b.len - v[i].off;
	}
	for (size_t i = 0; i < n; i++)
		v[i].base = b.ptr;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_line);
	if ((rc = strata_sha256_new(&h)))
		goto out;
	for (size_t i = 0; i < n; i++)
		strata_sha256_update(h, b.ptr + v[i].off, v[i].len);
	strata_sha256_final(h, md);
	strata_hex(hex, md, sizeof(md));
	rc = 0;
out:
	strata_sha256_free(h);
	strata_free(v);
	strata_buf_release(&b);
	return rc;
}

static int set_counts(strata_attrs *out, const strata_contig *c, size_t n,
		      const tally *t)
{
	int64_t total = 0;
	bool known = n > 0;
	int rc = strata_attrs_set_int(out, "genome.contigs", (int64_t)n);
	for (size_t i = 0; i < n && known; i++)
		if (c[i].len < 0 ||
		    __builtin_add_overflow(total, c[i].len, &total))
			known = false;
	if (!rc && known)
		rc = strata_attrs_set_int(out, "genome.total_length", total);
	if (!rc)
		rc = strata_attrs_set_str(out, "genome.naming",
					  naming(t->styles),
					  strlen(naming(t->styles)));
	if (!rc)
		rc = strata_attrs_set_int(out, "genome.has_decoy", t->decoy);
	if (!rc)
		rc = strata_attrs_set_int(out, "genome.has_alt", t->alt);
	if (!rc)
		rc = strata_attrs_set_int(out, "genome.has_hla", t->hla);
	return rc;
}

static int set_build(strata_attrs *out, const strata_contig *c, int b,
		     const tally *t, strata_buf *ev)
{
	const char *name = b >= 0 ? build_name[b] : "unknown";
	const char *fl = b >= 0 ? flavour(t, b) : NULL;
	int rc;
	if (b == B37 && fl && t->mt_at != SIZE_MAX && c[t->mt_at].len >= 0)
		strata_buf_printf(ev, "; %s %" PRId64 " (%s)", c[t->mt_at].name,
				  c[t->mt_at].len,
				  c[t->mt_at].len == 16571 ? "UCSC hg19"
							   : "rCRS");
	rc = strata_attrs_set_str(out, "genome.build", name, strlen(name));
	if (!rc && fl)
		rc = strata_attrs_set_str(out, "genome.build_flavour", fl,
					  strlen(fl));
	if (!rc)
		rc = strata_genome__set_str(out, "genome.build_evidence",
					    ev->ptr ? (char *)ev->ptr : "",
					    ev->len);
	return rc;
}

int strata_genome__attrs(strata_attrs *out, const strata_contig *c, size_t n,
			 const char *const *hints, size_t nhints)
{
	tally t;
	strata_buf ev = STRATA_BUF_INIT;
	char hex[65];
	int b, rc;
	memset(&t, 0, sizeof(t));
	t.m5_build = -1;
	t.mt_at = SIZE_MAX;
	t.first_key = -1;
	for (int i = 0; i < NBUILD; i++)
		t.best_key[i] = -1;
	for (size_t i = 0; i < n; i++)
		count_contig(&t, &c[i], i);
	ev.limit = 1024;
	b = by_dictionary(&t, c, &ev);
	if (b < 0)
		b = by_declaration(&t, c, n, hints, nhints, &ev);
	rc = set_counts(out, c, n, &t);
	if (!rc)
		rc = set_build(out, c, b, &t, &ev);
	if (!rc && n > 0 && !(rc = fingerprint(c, n, hex)))
		rc = strata_attrs_set_str(out, "genome.dict_fingerprint", hex,
					  64);
	strata_buf_release(&ev);
	return rc;
}
