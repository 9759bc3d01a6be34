/*
 * test_guardrail.c - unit tests for the guardrails policy file
 * (src/policy/guardrail.c): parsing good and malformed files, rule
 * matching, each requirement, deny and exemptions, the refusal messages,
 * and hostile input (long lines, NUL bytes, random bytes, failed
 * allocations) that must end in EINVAL or ENOMEM, never a crash.
 */
#include "unit.h"
#include "policy/guardrail.h"

static strata_guardrails *parse_ok(const char *text)
{
	strata_guardrails *g = NULL;
	size_t n = strlen(text);
	uint8_t *copy = unit_dup(text, n); /* exact size: ASan sees overreads */
	int rc = strata_guardrails_parse(&g, (const char *)copy, n, "p.txt");
	free(copy);
	if (rc)
		fail_msg("parse failed: %s", strata_error_msg());
	assert_non_null(g);
	return g;
}

/* Parse must fail with EINVAL naming p.txt, `line`, and `want`. */
static void parse_bad(const char *text, unsigned line, const char *want)
{
	strata_guardrails *g = (strata_guardrails *)(uintptr_t)1;
	size_t n = strlen(text);
	uint8_t *copy = unit_dup(text, n);
	int rc = strata_guardrails_parse(&g, (const char *)copy, n, "p.txt");
	free(copy);
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "policy 'p.txt' line %u: ", line);
	const char *m = strata_error_msg();
	if (rc != STRATA_EINVAL || strncmp(m, prefix, strlen(prefix)) ||
	    !strstr(m, want))
		fail_msg("for %s\nwant EINVAL '%s...%s'\ngot %d '%s'", text,
			 prefix, want, rc, m);
	/* outputs are untouched on failure */
	assert_ptr_equal(g, (strata_guardrails *)(uintptr_t)1);
}

/* ---- a fake catalog for `require files` ---- */
struct fake {
	uint64_t nbad;
	const char *example;
	int rc;
	int calls;
	char query[256];
};

static int fake_failing(void *payload, const char *query, uint64_t *nbad,
			char *example, size_t exlen)
{
	struct fake *f = payload;
	f->calls++;
	snprintf(f->query, sizeof(f->query), "%s", query);
	if (f->rc)
		return strata_error_set(f->rc, "catalog exploded");
	*nbad = f->nbad;
	if (f->example)
		snprintf(example, exlen, "%s", f->example);
	return 0;
}

static const char *const full_policy =
    "\xef\xbb\xbf# Training exports must use GRCh38.\n"
    "\n"
    "rule \"training data is GRCh38\"\r\n"
    "  actions export push          # which operations\n"
    "  dataset \"train-*\" 'val-*'\n"
    "  layer model-ready curated\n"
    "  require files genome.build = GRCh38     # every file\n"
    "  require files dicom.BodyPartExamined ~ \"CHEST#*\"\n"
    "  message \"model-ready training data must be aligned to GRCh38\"\n"
    "\n"
    "   # indented comment\n"
    "rule no export without consent\n"
    "\tactions export push\n"
    "\trequire consent\n"
    "\trequire purpose\n"
    "\tpurpose research* \"clinical care\"\n"
    "\tallow-roles admin steward\n"
    "rule 'phi never leaves'\n"
    "  actions push\n"
    "  class phi limited\n"
    "  zone \"cloud*\" offsite\n"
    "  deny\n"
    "  message phi must be de-identified first\n"
    "rule \"quote \\\"inside\\\" name\"\n"
    "  actions any\n"
    "  deny";

struct seen {
	int n;
	strata_guard_rule_info ri[8];
};

static int collect(const strata_guard_rule_info *ri, void *payload)
{
	struct seen *s = payload;
	if (s->n < 8)
		s->ri[s->n] = *ri;
	s->n++;
	return 0;
}

static int stop_at_two(const strata_guard_rule_info *ri, void *payload)
{
	(void)ri;
	return ++*(int *)payload == 2 ? 42 : 0;
}

static void test_parse_good(void **state)
{
	(void)state;
	strata_guardrails *g = parse_ok(full_policy);
	assert_int_equal(strata_guardrails_count(g), 4);
	struct seen s = {0};
	assert_int_equal(strata_guardrails_each(g, collect, &s), 0);
	assert_int_equal(s.n, 4);

	assert_string_equal(s.ri[0].name, "training data is GRCh38");
	assert_int_equal(s.ri[0].line, 3);
	assert_string_equal(s.ri[0].actions, "export push");
	assert_string_equal(s.ri[0].conditions,
			    "dataset train-* val-*; layer curated model-ready");
	assert_string_equal(s.ri[0].requirements,
			    "files genome.build = GRCh38; files "
			    "dicom.BodyPartExamined ~ \"CHEST#*\"");
	assert_string_equal(s.ri[0].message,
			    "model-ready training data must be aligned to "
			    "GRCh38");
	assert_false(s.ri[0].deny);

	assert_string_equal(s.ri[1].name, "no export without consent");
	assert_int_equal(s.ri[1].line, 12);
	assert_string_equal(s.ri[1].conditions,
			    "purpose research* \"clinical care\"; allow-roles "
			    "admin steward");
	assert_string_equal(s.ri[1].requirements, "consent; purpose");
	assert_null(s.ri[1].message);

	assert_string_equal(s.ri[2].name, "phi never leaves");
	assert_string_equal(s.ri[2].actions, "push");
	assert_string_equal(s.ri[2].conditions,
			    "class phi limited; zone cloud* offsite");
	assert_string_equal(s.ri[2].requirements, "");
	assert_string_equal(s.ri[2].message, "phi must be de-identified first");
	assert_true(s.ri[2].deny);

	assert_string_equal(s.ri[3].name, "quote \"inside\" name");
	assert_string_equal(s.ri[3].actions, "any");
	assert_string_equal(s.ri[3].conditions, "");
	assert_true(s.ri[3].deny);

	int k = 0;
	assert_int_equal(strata_guardrails_each(g, stop_at_two, &k), 42);
	assert_int_equal(k, 2);
	strata_guardrails_free(g);
	strata_guardrails_free(NULL);
}

/* The query after `require files` reaches the catalog exactly as written,
 * quotes included, without the comment. */
static void test_query_verbatim(void **state)
{
	(void)state;
	strata_guardrails *g =
	    parse_ok("rule r\n actions read\n"
		     "  require files  a = 'x y' and b ~ \"*#1\"  # tail \n");
	struct fake f = {.nbad = 0};
	strata_guard_ctx c = {
	    .action = "read", .files_failing = fake_failing, .payload = &f};
	char why[256];
	assert_int_equal(strata_guardrails_check(g, &c, why, sizeof(why)), 0);
	assert_int_equal(f.calls, 1);
	assert_string_equal(f.query, "a = 'x y' and b ~ \"*#1\"");
	assert_string_equal(why, "");
	strata_guardrails_free(g);
}

static void test_parse_empty(void **state)
{
	(void)state;
	static const char *const texts[] = {"", "\n\n", "# only\n  # comments",
					    "   \t\n\r\n"};
	strata_guard_ctx c = {.action = "push",
			      .dataset = "x@v1",
			      .klass = "phi",
			      .zone = "cloud"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		strata_guardrails *g = parse_ok(texts[i]);
		assert_int_equal(strata_guardrails_count(g), 0);
		char why[16] = "junk";
		assert_int_equal(strata_guardrails_check(g, &c, why, 16), 0);
		assert_string_equal(why, "");
		strata_guardrails_free(g);
	}
	strata_guardrails *g = NULL;
	assert_int_equal(strata_guardrails_parse(&g, NULL, 0, NULL), 0);
	assert_int_equal(strata_guardrails_count(g), 0);
	strata_guardrails_free(g);
	assert_int_equal(strata_guardrails_count(NULL), 0);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_bad("# c\nrule a\n actions read\n deny\n\n\n  requre consent\n",
		  7,
		  "unknown keyword 'requre', did you mean 'require'? "
		  "(expected rule, actions, dataset");
	parse_bad("rule a\n actions read exprot\n deny\n", 2,
		  "unknown action 'exprot', did you mean 'export'?");
	parse_bad("rule a\n actions read\n layer modelready\n deny\n", 3,
		  "unknown layer 'modelready'");
	parse_bad("rule a\n actions read\n layer raw\n class PHI\n deny\n", 4,
		  "unknown class 'PHI' (expected phi, limited, deid, "
		  "aggregate, public)");
	parse_bad("rule a\n actions read\n require consnet\n", 3,
		  "unknown requirement 'consnet', did you mean 'consent'?");
	parse_bad("rule a\n actions read\n require\n", 3,
		  "'require' needs what to require");
	parse_bad("\n  actions read\n", 2, "'actions' before any rule");
	parse_bad("rule\n", 1, "'rule' needs a name");
	parse_bad("rule \"\"\n actions any\n deny\n", 1, "rule name is empty");
	parse_bad("rule a\n actions any\n deny\nrule a\n actions any\n deny\n",
		  4, "duplicate rule name 'a' (first on line 1)");
	parse_bad("rule a\n dataset x\n deny\nrule b\n actions any\n deny\n", 1,
		  "rule 'a' has no 'actions' line");
	parse_bad("rule a\n actions read\n dataset x\n", 1,
		  "rule 'a' has neither 'require' nor 'deny'");
	parse_bad("rule a\n actions read\n deny\n require consent\n", 3,
		  "both 'deny' and 'require'");
	parse_bad("rule a\n actions read\n deny now\n", 3,
		  "'deny' takes no values");
	parse_bad("rule a\n actions read\n require consent please\n", 3,
		  "'require consent' takes no values");
	parse_bad("rule a\n actions read\n require files   # nothing\n", 3,
		  "'require files' needs a catalog query");
	parse_bad(
	    "rule a\n actions read\n dataset x\n dataset y\n deny\n", 4,
	    "duplicate 'dataset' in rule 'a' (first on line 3); list all");
	parse_bad("rule a\n actions read\n deny\n message x\n message y\n", 5,
		  "duplicate 'message'");
	parse_bad("rule a\n actions\n deny\n", 2,
		  "'actions' needs at least one value");
	parse_bad("rule a\n actions read\n message\n deny\n", 3,
		  "'message' needs a text");
	parse_bad("rule a\n actions read\n zone \"cloud*\n deny\n", 3,
		  "unterminated quote \" opened at column 7");
	parse_bad("rule a\n actions read\n message don't\n deny\n", 3,
		  "unterminated quote '");
	parse_bad("rule a\n actions read\n dataset ''\n deny\n", 3,
		  "empty value in 'dataset'");
	parse_bad("rule a\n actions read\n zone a\tb\x01\n deny\n", 3,
		  "control character 0x01 at column 10");
}

static void test_hostile(void **state)
{
	(void)state;
	/* a line over the limit, even inside a comment */
	size_t n = STRATA_GUARD_MAX_LINE + 10;
	char *big = malloc(n + 32);
	assert_non_null(big);
	memcpy(big, "rule a\n#", 8);
	memset(big + 8, 'x', n);
	big[8 + n] = 0;
	parse_bad(big, 2, "line too long");

	/* the longest allowed line is fine */
	memcpy(big, "rule a\nactions any\ndeny\n#", 25);
	memset(big + 25, 'x', STRATA_GUARD_MAX_LINE - 1);
	big[25 + STRATA_GUARD_MAX_LINE - 1] = 0;
	strata_guardrails_free(parse_ok(big));
	free(big);

	/* too many words */
	strata_buf b = STRATA_BUF_INIT;
	assert_int_equal(strata_buf_puts(&b, "rule a\n dataset"), 0);
	for (int i = 0; i < STRATA_GUARD_MAX_VALUES + 1; i++)
		assert_int_equal(strata_buf_puts(&b, " x"), 0);
	assert_int_equal(strata_buf_cstr(&b), 0);
	parse_bad((char *)b.ptr, 2, "too many words");
	strata_buf_release(&b);

	/* a NUL byte inside the text, which strlen would never see */
	static const char nul[] = "rule a\n actions read\n dep\0y\n deny\n";
	strata_guardrails *g = NULL;
	assert_int_equal(strata_guardrails_parse(&g, nul, sizeof(nul) - 1, "n"),
			 STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(),
			       "policy 'n' line 3: NUL byte at column 5"));
	assert_null(g);

	/* a file over the size limit is refused before reading it */
	size_t huge = STRATA_GUARD_MAX_FILE + 1;
	char *h = calloc(1, huge);
	assert_non_null(h);
	assert_int_equal(strata_guardrails_parse(&g, h, huge, "h"),
			 STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(), "file too large"));
	free(h);

	/* every prefix of a good file parses or fails cleanly */
	size_t flen = strlen(full_policy);
	for (size_t i = 0; i <= flen; i++) {
		uint8_t *c = unit_dup(full_policy, i);
		int rc = strata_guardrails_parse(&g, (char *)c, i, "pre");
		assert_true(rc == 0 || rc == STRATA_EINVAL);
		if (!rc)
			strata_guardrails_free(g);
		g = NULL;
		free(c);
	}

	/* random bytes, and random words from the vocabulary */
	static const char *const words[] = {
	    "rule",    "actions", "dataset",	 "layer",	"class",
	    "zone",    "purpose", "allow-roles", "require",	"deny",
	    "message", "files",	  "consent",	 "any",		"push",
	    "phi",     "raw",	  "\"",		 "'",		"#",
	    "\n",      "\\",	  "x*",		 "model-ready", "\t",
	    " "};
	uint64_t seed = 7;
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = unit_rand(&seed) % 300;
		uint8_t *t = malloc(len + 1);
		assert_non_null(t);
		if (iter % 2) {
			unit_fill(t, len, seed);
		} else {
			size_t o = 0;
			while (o < len) {
				const char *w =
				    words[unit_rand(&seed) %
					  (sizeof(words) / sizeof(words[0]))];
				size_t wl = strlen(w);
				if (wl > len - o)
					wl = len - o;
				memcpy(t + o, w, wl);
				o += wl;
				if (o < len)
					t[o++] =
					    unit_rand(&seed) % 3 ? ' ' : '\n';
			}
		}
		uint8_t *c = unit_dup(t, len);
		int rc = strata_guardrails_parse(&g, (char *)c, len, "r");
		assert_true(rc == 0 || rc == STRATA_EINVAL);
		if (!rc) {
			strata_guard_ctx ctx = {.action = "push",
						.dataset = "x@v1"};
			char why[64];
			rc = strata_guardrails_check(g, &ctx, why, sizeof(why));
			assert_true(rc == 0 || rc == STRATA_EDENIED);
			strata_guardrails_free(g);
		}
		g = NULL;
		free(c);
		free(t);
	}
}

static int check(strata_guardrails *g, strata_guard_ctx *c, char *why,
		 size_t whylen)
{
	return strata_guardrails_check(g, c, why, whylen);
}

static void test_match(void **state)
{
	(void)state;
	strata_guardrails *g = parse_ok("rule m\n"
					"  actions export push\n"
					"  dataset \"train-*\" exact\n"
					"  layer model-ready\n"
					"  class deid aggregate\n"
					"  zone cloud*\n"
					"  purpose research*\n"
					"  deny\n");
	strata_guard_ctx c = {.action = "export",
			      .dataset = "train-x@v3",
			      .layer = "model-ready",
			      .klass = "deid",
			      .zone = "cloud-eu",
			      .purpose = "research-oncology"};
	char why[512];
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_string_equal(why, "policy rule 'm' denies export of "
				 "'train-x@v3' to 'cloud-eu': refused "
				 "unconditionally");
	assert_string_equal(strata_error_msg(), why);

	/* change one field at a time: each stops the match */
	strata_guard_ctx d;
#define NOMATCH(field, value)                                                  \
	do {                                                                   \
		d = c;                                                         \
		d.field = value;                                               \
		assert_int_equal(check(g, &d, why, sizeof(why)), 0);           \
		assert_string_equal(why, "");                                  \
	} while (0)
#define MATCH(field, value)                                                    \
	do {                                                                   \
		d = c;                                                         \
		d.field = value;                                               \
		assert_int_equal(check(g, &d, why, sizeof(why)),               \
				 STRATA_EDENIED);                              \
	} while (0)
	NOMATCH(action, "read");
	NOMATCH(action, "any");
	NOMATCH(action, NULL);
	MATCH(action, "push");
	NOMATCH(dataset, "val-x@v3");
	NOMATCH(dataset, "xtrain-x");
	NOMATCH(dataset, NULL);
	MATCH(dataset, "exact");
	MATCH(dataset, "exact@v9");
	NOMATCH(dataset, "exact2@v9");
	MATCH(dataset, "train-");
	NOMATCH(layer, "raw");
	NOMATCH(layer, "bogus");
	NOMATCH(layer, NULL);
	NOMATCH(klass, "phi");
	NOMATCH(klass, NULL);
	MATCH(klass, "aggregate");
	NOMATCH(zone, "onprem");
	NOMATCH(zone, NULL); /* nothing moves */
	MATCH(zone, "cloud");
	NOMATCH(purpose, "clinical");
	NOMATCH(purpose, NULL);
	MATCH(purpose, "research");
	strata_guardrails_free(g);

	/* a glob with '@' sees the version too; absent conditions match all */
	g = parse_ok("rule v\n actions any\n dataset 'ct@v1*'\n deny\n");
	d = c;
	d.action = "frobnicate"; /* unknown actions match only `any` */
	d.dataset = "ct@v12";
	assert_int_equal(check(g, &d, why, sizeof(why)), STRATA_EDENIED);
	d.dataset = "ct@v2";
	assert_int_equal(check(g, &d, why, sizeof(why)), 0);
	d.dataset = "ct";
	assert_int_equal(check(g, &d, why, sizeof(why)), 0);
	strata_guardrails_free(g);
#undef MATCH
#undef NOMATCH
}

static const char *const grch38 =
    "rule \"training data is GRCh38\"\n"
    "  actions export push\n"
    "  dataset \"train-*\"\n"
    "  layer model-ready\n"
    "  require files genome.build = GRCh38\n"
    "  message \"model-ready training data must be aligned to GRCh38\"\n";

static void test_require_files(void **state)
{
	(void)state;
	strata_guardrails *g = parse_ok(grch38);
	struct fake f = {.nbad = 12, .example = "a.bam"};
	strata_guard_ctx c = {.action = "export",
			      .dataset = "train-x@v3",
			      .layer = "model-ready",
			      .klass = "deid",
			      .files_failing = fake_failing,
			      .payload = &f};
	char why[512];
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_string_equal(why,
			    "policy rule 'training data is GRCh38' denies "
			    "export of 'train-x@v3': 12 files do not match "
			    "'genome.build = GRCh38' (first: 'a.bam'): "
			    "model-ready training data must be aligned to "
			    "GRCh38");
	assert_string_equal(f.query, "genome.build = GRCh38");
	assert_int_equal(f.calls, 1);

	f.nbad = 1;
	f.example = NULL;
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_non_null(strstr(why, ": 1 file does not match "
				    "'genome.build = GRCh38': model-ready"));
	assert_null(strstr(why, "first"));

	f.nbad = 0;
	assert_int_equal(check(g, &c, why, sizeof(why)), 0);
	assert_string_equal(why, "");

	/* the callback's error aborts the check with its own code */
	f.rc = STRATA_EIO;
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EIO);
	assert_string_equal(strata_error_msg(), "policy rule 'training data "
						"is GRCh38': catalog exploded");
	assert_string_equal(why, strata_error_msg());

	/* rules that do not match never ask the catalog */
	f.rc = 0;
	f.calls = 0;
	c.layer = "curated";
	assert_int_equal(check(g, &c, why, sizeof(why)), 0);
	assert_int_equal(f.calls, 0);

	/* without a way to list files the requirement cannot hold */
	c.layer = "model-ready";
	c.files_failing = NULL;
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_non_null(strstr(why, ": cannot evaluate 'genome.build = "
				    "GRCh38'"));

	/* why is always terminated, however short; NULL is fine */
	c.files_failing = fake_failing;
	f.nbad = 3;
	char tiny[8];
	memset(tiny, 'z', sizeof(tiny));
	assert_int_equal(check(g, &c, tiny, sizeof(tiny)), STRATA_EDENIED);
	assert_string_equal(tiny, "policy ");
	assert_int_equal(check(g, &c, NULL, 0), STRATA_EDENIED);
	assert_non_null(strstr(strata_error_msg(), "3 files do not match"));
	strata_guardrails_free(g);
}

static void test_require_consent_purpose(void **state)
{
	(void)state;
	strata_guardrails *g = parse_ok("rule \"no export without consent\"\n"
					"  actions export push\n"
					"  require consent\n"
					"  require purpose\n");
	strata_guard_ctx c = {
	    .action = "push", .dataset = "ct@v1", .zone = "cloud"};
	char why[512];
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_string_equal(why, "policy rule 'no export without consent' "
				 "denies push of 'ct@v1' to 'cloud': no DUO "
				 "consent is recorded for the dataset");
	c.has_consent = true;
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_non_null(strstr(why, ": no purpose was stated"));
	c.purpose = "";
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	c.purpose = "DUO:0000007";
	assert_int_equal(check(g, &c, why, sizeof(why)), 0);
	c.action = "read";
	c.has_consent = false;
	assert_int_equal(check(g, &c, why, sizeof(why)), 0);
	strata_guardrails_free(g);
}

static void test_deny_and_roles(void **state)
{
	(void)state;
	strata_guardrails *g = parse_ok("rule \"phi never leaves\"\n"
					"  actions push\n"
					"  class phi\n"
					"  zone \"cloud*\"\n"
					"  allow-roles admin steward\n"
					"  deny\n"
					"  message \"de-identify with 'strata "
					"deid' first\"\n");
	strata_guard_ctx c = {.action = "push",
			      .dataset = "ct@v3",
			      .klass = "phi",
			      .zone = "cloud",
			      .actor = "ann",
			      .role = "reader",
			      .has_consent = true};
	char why[512];
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_string_equal(why, "policy rule 'phi never leaves' denies push "
				 "of 'ct@v3' to 'cloud': de-identify with "
				 "'strata deid' first");
	c.role = NULL;
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	c.role = "steward";
	assert_int_equal(check(g, &c, why, sizeof(why)), 0);
	c.role = "Steward"; /* roles are exact */
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	c.role = "admin";
	assert_int_equal(check(g, &c, why, sizeof(why)), 0);
	strata_guardrails_free(g);
}

static void test_second_rule_denies(void **state)
{
	(void)state;
	strata_guardrails *g = parse_ok("rule first\n"
					"  actions ingest\n"
					"  require files size > 0\n"
					"rule second\n"
					"  actions ingest\n"
					"  layer raw\n"
					"  require files class != phi\n"
					"  message raw ingests must be deid\n"
					"rule third\n"
					"  actions ingest\n"
					"  deny\n");
	struct fake f = {.nbad = 0};
	strata_guard_ctx c = {.action = "ingest",
			      .dataset = "d",
			      .layer = "raw",
			      .files_failing = fake_failing,
			      .payload = &f};
	char why[512];
	/* all three match: the first two pass, the third decides */
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_non_null(strstr(why, "policy rule 'third'"));
	assert_int_equal(f.calls, 2);
	strata_guardrails_free(g);

	g = parse_ok("rule first\n actions ingest\n require consent\n"
		     "rule second\n actions ingest\n layer raw\n"
		     " require files class != phi\n");
	f.nbad = 4;
	f.example = "s/x.dcm";
	f.calls = 0;
	c.has_consent = true;
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_string_equal(why, "policy rule 'second' denies ingest of 'd': 4 "
				 "files do not match 'class != phi' (first: "
				 "'s/x.dcm')");
	c.has_consent = false;
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_EDENIED);
	assert_non_null(strstr(why, "policy rule 'first'"));
	strata_guardrails_free(g);
}

/* Every allocation failure during parse reports ENOMEM and leaks nothing
 * (ASan's leak checker watches). */
static void test_alloc_fail(void **state)
{
	(void)state;
	size_t len = strlen(full_policy);
	int rc = -1;
	long n;
	for (n = 1; n < 10000 && rc; n++) {
		strata_guardrails *g = NULL;
		strata_alloc_fail_after(n);
		rc = strata_guardrails_parse(&g, full_policy, len, "p");
		strata_alloc_fail_after(0);
		if (rc) {
			assert_int_equal(rc, STRATA_ENOMEM);
			assert_null(g);
		} else {
			assert_int_equal(strata_guardrails_count(g), 4);
			strata_guardrails_free(g);
		}
	}
	assert_int_equal(rc, 0);
	assert_true(n > 10);

	strata_guardrails *g = parse_ok(grch38);
	strata_guard_ctx c = {
	    .action = "push", .dataset = "train-1@v1", .layer = "model-ready"};
	char why[64];
	strata_alloc_fail_after(1);
	assert_int_equal(check(g, &c, why, sizeof(why)), STRATA_ENOMEM);
	strata_alloc_fail_after(0);
	strata_guardrails_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_query_verbatim),
	    cmocka_unit_test(test_parse_empty),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_require_files),
	    cmocka_unit_test(test_require_consent_purpose),
	    cmocka_unit_test(test_deny_and_roles),
	    cmocka_unit_test(test_second_rule_denies),
	    cmocka_unit_test(test_alloc_fail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
