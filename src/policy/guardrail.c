/*
 * guardrail.c - the guardrails policy file: a line-oriented parser that
 * builds rules (match conditions, requirements, deny) and the check that
 * runs them against one operation before it starts. The format is
 * specified in docs/policy.md; a parse error names file, line and problem.
 */
#include <fnmatch.h>

#include "policy/guardrail.h"
#include "common/common.h"

/* ---- vocabulary ---- */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const action_names[] = {"read",   "ingest", "restore",
					   "export", "push",   "pull",
					   "deid",   "derive", "any"};
#define ACTION_ANY (1u << (NELEM(action_names) - 1))

static const char *const layer_names[] = {"raw", "curated", "model-ready"};
static const char *const class_names[] = {"phi", "limited", "deid", "aggregate",
					  "public"};
static const char *const req_names[] = {"files", "consent", "purpose"};

enum kw {
	KW_RULE,
	KW_ACTIONS,
	KW_DATASET,
	KW_LAYER,
	KW_CLASS,
	KW_ZONE,
	KW_PURPOSE,
	KW_ALLOW_ROLES,
	KW_REQUIRE,
	KW_DENY,
	KW_MESSAGE,
	KW_COUNT
};
static const char *const kw_names[KW_COUNT] = {
    "rule",    "actions",     "dataset", "layer", "class",  "zone",
    "purpose", "allow-roles", "require", "deny",  "message"};
#define KW_EXPECTED                                                            \
	"rule, actions, dataset, layer, class, zone, purpose, allow-roles, "   \
	"require, deny, message"

enum req_kind { REQ_FILES, REQ_CONSENT, REQ_PURPOSE };

/* ---- the parsed policy ---- */

struct strv {
	char **v;
	size_t n, cap;
};

struct req {
	enum req_kind kind;
	char *query; /* REQ_FILES: passed to files_failing verbatim */
};

struct rule {
	char *name, *message;
	unsigned line;
	unsigned kw_line[KW_COUNT]; /* where each keyword was seen; 0 = not */
	unsigned actions;	    /* bit i: action_names[i] */
	unsigned layers, classes;   /* bit masks; 0 = any */
	struct strv datasets, zones, purposes, roles;
	struct req *reqs;
	size_t nreqs, reqcap;
	bool deny;
	/* rendered at the end of the rule, for strata_guardrails_each */
	char *actions_s, *cond_s, *req_s;
};

struct strata_guardrails {
	char *name;
	struct rule *rules;
	size_t n, cap;
};

static int lookup(const char *const *tab, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tab[i], s))
			return (int)i;
	return -1;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		strata_free(s->v[i]);
	strata_free(s->v);
}

static int strv_add(struct strv *s, const char *str)
{
	int rc = strata_grow(&s->v, &s->cap, s->n, sizeof(*s->v));
	if (rc)
		return rc;
	if (!(s->v[s->n] = strata_strdup(str)))
		return STRATA_ENOMEM;
	s->n++;
	return 0;
}

static void rule_release(struct rule *r)
{
	strata_free(r->name);
	strata_free(r->message);
	strv_free(&r->datasets);
	strv_free(&r->zones);
	strv_free(&r->purposes);
	strv_free(&r->roles);
	for (size_t i = 0; i < r->nreqs; i++)
		strata_free(r->reqs[i].query);
	strata_free(r->reqs);
	strata_free(r->actions_s);
	strata_free(r->cond_s);
	strata_free(r->req_s);
}

void strata_guardrails_free(strata_guardrails *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		rule_release(&g->rules[i]);
	strata_free(g->rules);
	strata_free(g->name);
	strata_free(g);
}

size_t strata_guardrails_count(const strata_guardrails *g)
{
	return g ? g->n : 0;
}

/* ---- parser ---- */

/* One tokenized line: values point into the parser's scratch buffer;
 * start/end are byte offsets of each token in the raw line. */
struct line {
	size_t n;
	char *tok[STRATA_GUARD_MAX_VALUES + 1];
	size_t start[STRATA_GUARD_MAX_VALUES + 1];
	size_t end[STRATA_GUARD_MAX_VALUES + 1];
	size_t comment; /* offset of the comment's '#', or the line length */
};

struct parser {
	const char *name;
	unsigned line;
	strata_guardrails *g;
	bool in_rule; /* the last of g->rules is still being read */
	struct line ln;
	/* tokens are never longer than their raw text, so this holds all of a
	 * line's tokens with their NULs */
	char scratch[STRATA_GUARD_MAX_LINE + STRATA_GUARD_MAX_VALUES + 2];
};

static int perr_at(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr_at(struct parser *p, unsigned line, const char *fmt, ...)
{
	char m[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return strata_error_set(STRATA_EINVAL, "policy '%s' line %u: %s",
				p->name, line, m);
}
#define perr(p, ...) perr_at((p), (p)->line, __VA_ARGS__)

static struct rule *cur(struct parser *p)
{
	return &p->g->rules[p->g->n - 1];
}

/* Levenshtein distance of two short words (at most 32 bytes each). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[33];
	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The closest entry of tab to a misspelt s, or NULL if none is close. */
static const char *suggest(const char *const *tab, size_t n, const char *s)
{
	const char *best = NULL;
	size_t bd = 3; /* at most two edits */
	for (size_t i = 0; i < n; i++) {
		size_t d = distance(s, tab[i]);
		if (d < bd && d < strlen(tab[i])) {
			bd = d;
			best = tab[i];
		}
	}
	return best;
}

/* An "unknown WHAT 'x'" error, with a suggestion and the valid words. */
static int unknown(struct parser *p, const char *what, const char *s,
		   const char *const *tab, size_t n)
{
	char exp[256];
	size_t o = 0;
	exp[0] = 0;
	for (size_t i = 0; i < n && o < sizeof(exp); i++) {
		int k = snprintf(exp + o, sizeof(exp) - o, "%s%s",
				 i ? ", " : "", tab[i]);
		o += k > 0 ? (size_t)k : 0;
	}
	const char *sg = suggest(tab, n, s);
	if (sg)
		return perr(
		    p, "unknown %s '%.64s', did you mean '%s'? (expected %s)",
		    what, s, sg, exp);
	return perr(p, "unknown %s '%.64s' (expected %s)", what, s, exp);
}

/* Reject bytes that have no business in a text file: NUL and control
 * characters other than tab (a hostile file must not reach the tokenizer
 * with them, nor echo them into a terminal). */
static int check_bytes(struct parser *p, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == 0)
			return perr(p,
				    "NUL byte at column %zu (not a text file?)",
				    i + 1);
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return perr(p, "control character 0x%02x at column %zu",
				    ch, i + 1);
	}
	return 0;
}

/*
 * Split a line into words. Whitespace separates words; '"' or '\'' quote
 * (a backslash inside quotes escapes the quote or a backslash), and quoted
 * and bare parts of one word join as in a shell; a '#' outside quotes
 * starts a comment.
 */
static int tokenize(struct parser *p, const char *s, size_t len)
{
	struct line *ln = &p->ln;
	size_t i = 0, o = 0;
	ln->n = 0;
	ln->comment = len;
	for (;;) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (s[i] == '#') {
			ln->comment = i;
			break;
		}
		if (ln->n == STRATA_GUARD_MAX_VALUES)
			return perr(p, "too many words on one line (max %d)",
				    STRATA_GUARD_MAX_VALUES);
		ln->tok[ln->n] = p->scratch + o;
		ln->start[ln->n] = i;
		while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '#') {
			char q = s[i];
			if (q != '"' && q != '\'') {
				p->scratch[o++] = s[i++];
				continue;
			}
			size_t open = i++;
			for (;;) {
				if (i == len)
					return perr(p,
						    "unterminated quote %c "
						    "opened at column %zu",
						    q, open + 1);
				if (s[i] == q) {
					i++;
					break;
				}
				if (s[i] == '\\' && i + 1 < len &&
				    (s[i + 1] == q || s[i + 1] == '\\'))
					i++;
				p->scratch[o++] = s[i++];
			}
		}
		ln->end[ln->n] = i;
		p->scratch[o++] = 0;
		ln->n++;
	}
	return 0;
}

/* The words tok[from..] joined by single spaces, as one new string. */
static char *join(const struct line *ln, size_t from)
{
	strata_buf b = STRATA_BUF_INIT;
	for (size_t i = from; i < ln->n; i++)
		if ((i > from && strata_buf_puts(&b, " ")) ||
		    strata_buf_puts(&b, ln->tok[i]))
			goto fail;
	if (strata_buf_cstr(&b))
		goto fail;
	return (char *)b.ptr;
fail:
	strata_buf_release(&b);
	return NULL;
}

/* A value as `strata policy show` prints it: bare if that reads back. */
static int put_value(strata_buf *b, const char *v)
{
	if (*v && !strpbrk(v, " \t#\"'\\;"))
		return strata_buf_puts(b, v);
	int rc = strata_buf_puts(b, "\"");
	for (const char *s = v; !rc && *s; s++) {
		if (*s == '"' || *s == '\\')
			rc = strata_buf_puts(b, "\\");
		if (!rc)
			rc = strata_buf_put(b, s, 1);
	}
	return rc ? rc : strata_buf_puts(b, "\"");
}

static int put_sep(strata_buf *b, const char *sep)
{
	return b->len ? strata_buf_puts(b, sep) : 0;
}

static int put_strv(strata_buf *b, const char *kw, const struct strv *s)
{
	int rc = 0;
	if (!s->n)
		return 0;
	if ((rc = put_sep(b, "; ")) || (rc = strata_buf_puts(b, kw)))
		return rc;
	for (size_t i = 0; !rc && i < s->n; i++)
		if (!(rc = strata_buf_puts(b, " ")))
			rc = put_value(b, s->v[i]);
	return rc;
}

static int put_mask(strata_buf *b, const char *kw, unsigned mask,
		    const char *const *tab, size_t n)
{
	int rc = 0;
	if (!mask)
		return 0;
	if (kw && ((rc = put_sep(b, "; ")) || (rc = strata_buf_puts(b, kw))))
		return rc;
	bool first = !kw;
	for (size_t i = 0; !rc && i < n; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (!first)
			rc = strata_buf_puts(b, " ");
		if (!rc)
			rc = strata_buf_puts(b, tab[i]);
		first = false;
	}
	return rc;
}

/* Move a finished buffer's text to *out (an empty string if unused). */
static int take(strata_buf *b, char **out)
{
	int rc = strata_buf_cstr(b);
	if (rc) {
		strata_buf_release(b);
		return rc;
	}
	*out = (char *)b->ptr;
	b->ptr = NULL;
	return 0;
}

static int render(struct rule *r)
{
	strata_buf a = STRATA_BUF_INIT, c = STRATA_BUF_INIT,
		   q = STRATA_BUF_INIT;
	int rc = put_mask(&a, NULL,
			  r->actions & ACTION_ANY ? ACTION_ANY : r->actions,
			  action_names, NELEM(action_names));
	if (!rc)
		rc = put_strv(&c, "dataset", &r->datasets);
	if (!rc)
		rc = put_mask(&c, "layer", r->layers, layer_names,
			      NELEM(layer_names));
	if (!rc)
		rc = put_mask(&c, "class", r->classes, class_names,
			      NELEM(class_names));
	if (!rc)
		rc = put_strv(&c, "zone", &r->zones);
	if (!rc)
		rc = put_strv(&c, "purpose", &r->purposes);
	if (!rc)
		rc = put_strv(&c, "allow-roles", &r->roles);
	for (size_t i = 0; !rc && i < r->nreqs; i++) {
		rc = put_sep(&q, "; ");
		if (!rc)
			rc = strata_buf_puts(&q, req_names[r->reqs[i].kind]);
		if (!rc && r->reqs[i].query)
			rc = strata_buf_printf(&q, " %s", r->reqs[i].query);
	}
	if (!rc && !(rc = take(&a, &r->actions_s)) &&
	    !(rc = take(&c, &r->cond_s)))
		rc = take(&q, &r->req_s);
	strata_buf_release(&a);
	strata_buf_release(&c);
	strata_buf_release(&q);
	return rc;
}

/* A rule ends at the next `rule` line or the end of the file; check that
 * it is complete and says what it means. */
static int finish_rule(struct parser *p)
{
	if (!p->in_rule)
		return 0;
	p->in_rule = false;
	struct rule *r = cur(p);
	if (!r->actions)
		return perr_at(p, r->line,
			       "rule '%s' has no 'actions' line (write "
			       "'actions any' to match every operation)",
			       r->name);
	if (!r->deny && !r->nreqs)
		return perr_at(p, r->line,
			       "rule '%s' has neither 'require' nor 'deny', so "
			       "it would do nothing",
			       r->name);
	if (r->deny && r->nreqs)
		return perr_at(p, r->kw_line[KW_DENY],
			       "rule '%s' has both 'deny' and 'require'; a "
			       "'deny' rule refuses everything it matches, so "
			       "keep one of them",
			       r->name);
	return render(r);
}

static int start_rule(struct parser *p)
{
	strata_guardrails *g = p->g;
	int rc = finish_rule(p);
	if (rc)
		return rc;
	if (p->ln.n < 2)
		return perr(p, "'rule' needs a name, e.g. rule \"no phi in the "
			       "cloud\"");
	char *name = join(&p->ln, 1);
	if (!name)
		return STRATA_ENOMEM;
	if (!*name) {
		strata_free(name);
		return perr(p, "rule name is empty");
	}
	for (size_t i = 0; i < g->n; i++) {
		if (!strcmp(g->rules[i].name, name)) {
			rc = perr(p,
				  "duplicate rule name '%.64s' (first on "
				  "line %u)",
				  name, g->rules[i].line);
			strata_free(name);
			return rc;
		}
	}
	if ((rc = strata_grow(&g->rules, &g->cap, g->n, sizeof(*g->rules)))) {
		strata_free(name);
		return rc;
	}
	struct rule *r = &g->rules[g->n++];
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->line = p->line;
	r->kw_line[KW_RULE] = p->line;
	p->in_rule = true;
	return 0;
}

static int parse_mask(struct parser *p, unsigned *mask, const char *what,
		      const char *const *tab, size_t n)
{
	for (size_t i = 1; i < p->ln.n; i++) {
		int k = lookup(tab, n, p->ln.tok[i]);
		if (k < 0)
			return unknown(p, what, p->ln.tok[i], tab, n);
		*mask |= 1u << k;
	}
	return 0;
}

static int parse_strv(struct parser *p, struct strv *s, const char *kw)
{
	for (size_t i = 1; i < p->ln.n; i++) {
		if (!*p->ln.tok[i])
			return perr(p, "empty value in '%s'", kw);
		int rc = strv_add(s, p->ln.tok[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_require(struct parser *p, const char *s)
{
	struct line *ln = &p->ln;
	struct rule *r = cur(p);
	int k = lookup(req_names, NELEM(req_names), ln->tok[1]);
	if (k < 0)
		return unknown(p, "requirement", ln->tok[1], req_names,
			       NELEM(req_names));
	struct req q = {(enum req_kind)k, NULL};
	if (q.kind == REQ_FILES) {
		/* the query is the raw rest of the line: its quoting is the
		 * catalog query language's, not ours */
		size_t a = ln->end[1], z = ln->comment;
		while (a < z && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t'))
			z--;
		if (a == z)
			return perr(p, "'require files' needs a catalog query, "
				       "e.g. require files genome.build = "
				       "GRCh38");
		if (!(q.query = strata_strndup(s + a, z - a)))
			return STRATA_ENOMEM;
	} else if (ln->n > 2) {
		return perr(p, "'require %s' takes no values", req_names[k]);
	}
	int rc = strata_grow(&r->reqs, &r->reqcap, r->nreqs, sizeof(*r->reqs));
	if (rc) {
		strata_free(q.query);
		return rc;
	}
	r->reqs[r->nreqs++] = q;
	return 0;
}

/* One keyword line inside a rule. */
static int parse_keyword(struct parser *p, enum kw kw, const char *s)
{
	struct rule *r = cur(p);
	const char *name = kw_names[kw];
	size_t nv = p->ln.n - 1;
	if (kw != KW_REQUIRE && r->kw_line[kw])
		return perr(p,
			    "duplicate '%s' in rule '%s' (first on line %u)%s",
			    name, r->name, r->kw_line[kw],
			    kw == KW_DENY || kw == KW_MESSAGE
				? ""
				: "; list all values on one line");
	r->kw_line[kw] = p->line;
	if (kw == KW_DENY)
		return nv ? perr(p, "'deny' takes no values")
			  : (r->deny = true, 0);
	if (!nv && kw == KW_REQUIRE)
		return perr(p, "'require' needs what to require (expected "
			       "files, consent, purpose)");
	if (!nv)
		return perr(p, "'%s' needs %s", name,
			    kw == KW_MESSAGE ? "a text" : "at least one value");
	switch (kw) {
	case KW_ACTIONS:
		return parse_mask(p, &r->actions, "action", action_names,
				  NELEM(action_names));
	case KW_LAYER:
		return parse_mask(p, &r->layers, "layer", layer_names,
				  NELEM(layer_names));
	case KW_CLASS:
		return parse_mask(p, &r->classes, "class", class_names,
				  NELEM(class_names));
	case KW_DATASET:
		return parse_strv(p, &r->datasets, name);
	case KW_ZONE:
		return parse_strv(p, &r->zones, name);
	case KW_PURPOSE:
		return parse_strv(p, &r->purposes, name);
	case KW_ALLOW_ROLES:
		return parse_strv(p, &r->roles, name);
	case KW_REQUIRE:
		return parse_require(p, s);
	case KW_MESSAGE:
		return (r->message = join(&p->ln, 1)) ? 0 : STRATA_ENOMEM;
	default:
		assert(0 && "unreachable keyword");
		return STRATA_EINVAL;
	}
}

static int parse_line(struct parser *p, const char *s, size_t len)
{
	if (len > STRATA_GUARD_MAX_LINE)
		return perr(p, "line too long (%zu bytes, max %d)", len,
			    STRATA_GUARD_MAX_LINE);
	int rc = check_bytes(p, s, len);
	if (!rc)
		rc = tokenize(p, s, len);
	if (rc || !p->ln.n)
		return rc;
	const char *word = p->ln.tok[0];
	int kw = lookup(kw_names, KW_COUNT, word);
	if (kw < 0)
		return unknown(p, "keyword", word, kw_names, KW_COUNT);
	if (kw == KW_RULE)
		return start_rule(p);
	if (!p->in_rule)
		return perr(p,
			    "'%s' before any rule; start one with: rule "
			    "\"NAME\"",
			    word);
	return parse_keyword(p, (enum kw)kw, s);
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	/* editors on some systems start a file with a UTF-8 byte order mark */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		p->line++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		if (n && text[pos + n - 1] == '\r')
			n--;
		int rc = parse_line(p, text + pos, n);
		if (rc)
			return rc;
		pos = nl ? end + 1 : len;
	}
	return finish_rule(p);
}

int strata_guardrails_parse(strata_guardrails **out, const char *text,
			    size_t len, const char *name)
{
	assert(out);
	assert(text || !len);
	if (!name)
		name = "policy";
	if (len > STRATA_GUARD_MAX_FILE)
		return strata_error_set(STRATA_EINVAL,
					"policy '%s': file too large (%zu "
					"bytes, max %zu)",
					name, len, STRATA_GUARD_MAX_FILE);
	int rc = STRATA_ENOMEM;
	struct parser *p = strata_calloc(1, sizeof(*p));
	strata_guardrails *g = strata_calloc(1, sizeof(*g));
	if (!p || !g || !(g->name = strata_strdup(name)))
		goto out;
	p->name = name;
	p->g = g;
	if ((rc = parse_text(p, text, len)))
		goto out;
	*out = g;
	g = NULL;
out:
	if (rc == STRATA_ENOMEM)
		strata_error_set(rc, "policy '%s': out of memory", name);
	strata_guardrails_free(g);
	strata_free(p);
	return rc;
}

/* ---- checking ---- */

static bool glob_any(const struct strv *s, const char *v)
{
	if (!s->n)
		return true;
	if (!v)
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (!fnmatch(s->v[i], v, 0))
			return true;
	return false;
}

/* Dataset globs see "NAME" unless they mention a version themselves. */
static bool dataset_match(const struct strv *s, const char *full,
			  const char *name)
{
	if (!s->n)
		return true;
	if (!full)
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (!fnmatch(s->v[i], strchr(s->v[i], '@') ? full : name, 0))
			return true;
	return false;
}

static bool mask_match(unsigned mask, const char *const *tab, size_t n,
		       const char *v)
{
	if (!mask)
		return true;
	int k = v ? lookup(tab, n, v) : -1;
	return k >= 0 && (mask & (1u << k));
}

static bool rule_matches(const struct rule *r, const strata_guard_ctx *c,
			 const char *dsname)
{
	int a = c->action
		    ? lookup(action_names, NELEM(action_names) - 1, c->action)
		    : -1;
	if (!(r->actions & ACTION_ANY) && (a < 0 || !(r->actions & (1u << a))))
		return false;
	if (!dataset_match(&r->datasets, c->dataset, dsname) ||
	    !mask_match(r->layers, layer_names, NELEM(layer_names), c->layer) ||
	    !mask_match(r->classes, class_names, NELEM(class_names),
			c->klass) ||
	    !glob_any(&r->zones, c->zone) ||
	    !glob_any(&r->purposes, c->purpose))
		return false;
	/* allow-roles: the listed roles are exempt from the rule */
	for (size_t i = 0; c->role && i < r->roles.n; i++)
		if (!strcmp(r->roles.v[i], c->role))
			return false;
	return true;
}

/* Evaluate one requirement: 0 holds, 1 fails with reason[], or an error
 * from files_failing. */
static int eval_req(const struct req *q, const strata_guard_ctx *c,
		    char *reason, size_t rlen)
{
	switch (q->kind) {
	case REQ_CONSENT:
		if (c->has_consent)
			return 0;
		snprintf(reason, rlen,
			 "no DUO consent is recorded for the dataset");
		return 1;
	case REQ_PURPOSE:
		if (c->purpose && *c->purpose)
			return 0;
		snprintf(reason, rlen, "no purpose was stated");
		return 1;
	case REQ_FILES:
		break;
	}
	if (!c->files_failing) {
		snprintf(reason, rlen,
			 "cannot evaluate '%s': the files of the version are "
			 "not available here",
			 q->query);
		return 1;
	}
	char ex[1024] = {0};
	uint64_t nbad = 0;
	int rc = c->files_failing(c->payload, q->query, &nbad, ex, sizeof(ex));
	if (rc > 0)
		rc = strata_error_set(STRATA_EINVAL,
				      "cannot evaluate '%s': files_failing "
				      "returned %d",
				      q->query, rc);
	if (rc)
		return rc;
	if (!nbad)
		return 0;
	ex[sizeof(ex) - 1] = 0;
	int k = snprintf(reason, rlen, "%" PRIu64 " file%s not match '%s'",
			 nbad, nbad == 1 ? " does" : "s do", q->query);
	if (ex[0] && k > 0 && (size_t)k < rlen)
		snprintf(reason + k, rlen - (size_t)k, " (first: '%s')", ex);
	return 1;
}

static int deny_with(const struct rule *r, const strata_guard_ctx *c,
		     const char *reason, char *why, size_t whylen)
{
	char m[2 * STRATA_GUARD_MAX_LINE + 1024];
	snprintf(m, sizeof(m), "policy rule '%s' denies %s%s%s%s%s%s%s: %s%s%s",
		 r->name, c->action ? c->action : "the operation",
		 c->dataset ? " of '" : "", c->dataset ? c->dataset : "",
		 c->dataset ? "'" : "", c->zone ? " to '" : "",
		 c->zone ? c->zone : "", c->zone ? "'" : "", reason,
		 r->message && reason[0] ? ": " : "",
		 r->message ? r->message : "");
	if (why && whylen)
		snprintf(why, whylen, "%s", m);
	return strata_error_set(STRATA_EDENIED, "%s", m);
}

static int check_rule(const struct rule *r, const strata_guard_ctx *c,
		      char *why, size_t whylen)
{
	char reason[STRATA_GUARD_MAX_LINE + 1200];
	if (r->deny)
		return deny_with(r, c,
				 r->message ? "" : "refused unconditionally",
				 why, whylen);
	for (size_t i = 0; i < r->nreqs; i++) {
		reason[0] = 0;
		int rc = eval_req(&r->reqs[i], c, reason, sizeof(reason));
		if (rc == 1)
			return deny_with(r, c, reason, why, whylen);
		if (rc) {
			strata_error_prefix(rc, "policy rule '%s': ", r->name);
			if (why && whylen)
				snprintf(why, whylen, "%s", strata_error_msg());
			return rc;
		}
	}
	return 0;
}

int strata_guardrails_check(const strata_guardrails *g,
			    const strata_guard_ctx *c, char *why, size_t whylen)
{
	assert(c);
	if (why && whylen)
		why[0] = 0;
	if (!g || !g->n)
		return 0;
	char *dsname = NULL;
	if (c->dataset) {
		const char *at = strchr(c->dataset, '@');
		dsname =
		    at ? strata_strndup(c->dataset, (size_t)(at - c->dataset))
		       : strata_strdup(c->dataset);
		if (!dsname) {
			if (why && whylen)
				snprintf(why, whylen, "out of memory");
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		}
	}
	int rc = 0;
	for (size_t i = 0; !rc && i < g->n; i++)
		if (rule_matches(&g->rules[i], c, dsname))
			rc = check_rule(&g->rules[i], c, why, whylen);
	strata_free(dsname);
	return rc;
}

int strata_guardrails_each(const strata_guardrails *g,
			   int (*cb)(const strata_guard_rule_info *ri,
				     void *payload),
			   void *payload)
{
	for (size_t i = 0; g && i < g->n; i++) {
		const struct rule *r = &g->rules[i];
		strata_guard_rule_info ri = {
		    r->name,  r->message, r->actions_s, r->cond_s,
		    r->req_s, r->deny,	  r->line};
		int rc = cb(&ri, payload);
		if (rc)
			return rc;
	}
	return 0;
}
