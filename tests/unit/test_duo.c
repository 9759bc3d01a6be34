/*
 * test_duo.c - unit tests for GA4GH DUO consent codes (src/policy/duo.c):
 * a table of (consent, purpose, allow/deny, reason) covering every
 * permission x primary purpose and every modifier both ways, disease
 * ancestry through a toy MONDO tree, parse errors, canonical round trips,
 * time limits at the boundary and allocation failure.
 */
#include "unit.h"

#include "policy/duo.h"

#define NOW_S INT64_C(1780272000) /* 2026-06-01T00:00:00Z */

#define LUNG "MONDO_0008903"
#define CANCER "MONDO_0004992"
#define DISEASE "MONDO_0000001"
#define DIABETES "MONDO_0005015"

/* lung cancer -> cancer -> disease; diabetes -> disease */
static const char *toy_parent(const char *term, void *payload)
{
	static const char *const tree[][2] = {
	    {LUNG, CANCER}, {CANCER, DISEASE}, {DIABETES, DISEASE}};
	int *calls = payload;
	if (calls)
		(*calls)++;
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		if (!strcmp(tree[i][0], term))
			return tree[i][1];
	return NULL;
}

/* a -> b -> a: the walk must stop */
static const char *cyclic_parent(const char *term, void *payload)
{
	(void)payload;
	if (!strcmp(term, "a"))
		return "b";
	return !strcmp(term, "b") ? "a" : NULL;
}

static strata_duo_context toy_ctx(void)
{
	strata_duo_context ctx = {0};
	ctx.now_s = NOW_S;
	ctx.disease_parent = toy_parent;
	return ctx;
}

static strata_duo *consent(const char *codes)
{
	strata_duo *d = NULL;
	int rc = strata_duo_parse(&d, codes);
	if (rc)
		fail_msg("parse '%s': %s", codes, strata_error_msg());
	return d;
}

static strata_duo_purpose *purpose(const char *text)
{
	strata_duo_purpose *p = NULL;
	int rc = strata_duo_purpose_parse(&p, text);
	if (rc)
		fail_msg("purpose '%s': %s", text, strata_error_msg());
	return p;
}

/* Match and check the outcome; `want` is a substring of the reason, or
 * NULL for an allow with an empty reason. */
static void expect(const char *c_text, const char *p_text,
		   const strata_duo_context *ctx, bool allow, const char *want)
{
	strata_duo *c = consent(c_text);
	strata_duo_purpose *p = purpose(p_text);
	char why[512];
	memset(why, 'x', sizeof(why));
	int rc = strata_duo_match(c, p, ctx, why, sizeof(why));
	if (rc != (allow ? 0 : STRATA_EDENIED))
		fail_msg("consent '%s', purpose '%s': got %s (%s), want %s",
			 c_text, p_text, rc ? "deny" : "allow", why,
			 allow ? "allow" : "deny");
	if (want ? !strstr(why, want) : why[0] != 0)
		fail_msg("consent '%s', purpose '%s': reason '%s', want '%s'",
			 c_text, p_text, why, want ? want : "");
	if (!allow && !strstr(why, "denies purpose"))
		fail_msg("deny reason without the subject: '%s'", why);
	assert_null(strchr(why, '\n'));
	strata_duo_free(c);
	strata_duo_purpose_free(p);
}

struct mcase {
	const char *consent, *purpose;
	bool allow;
	const char *why;
};

#define A true
#define D false

static const struct mcase matrix_cases[] = {
    /* NRES: everything, including clinical care */
    {"NRES", "GRU", A, NULL},
    {"NRES", "HMB", A, NULL},
    {"NRES", "DS:" LUNG, A, NULL},
    {"NRES", "POA", A, NULL},
    {"NRES", "MDS", A, NULL},
    {"NRES", "NCTRL", A, NULL},
    {"NRES", "CC", A, NULL},
    /* GRU: any research; clinical care only with CC */
    {"GRU", "GRU", A, NULL},
    {"GRU", "HMB", A, NULL},
    {"GRU", "DS:" LUNG, A, NULL},
    {"GRU", "POA", A, NULL},
    {"GRU", "MDS", A, NULL},
    {"GRU", "NCTRL", A, NULL},
    {"GRU", "CC", D, "GRU excludes clinical care (needs the CC modifier)"},
    {"GRU CC", "CC", A, NULL},
    /* HMB: biomedical, never ancestry */
    {"HMB", "GRU", D, "HMB excludes general research (needs GRU)"},
    {"HMB", "HMB", A, NULL},
    {"HMB", "DS:" LUNG, A, NULL},
    {"HMB", "DS:" DIABETES, A, NULL},
    {"HMB", "POA", D, "HMB excludes ancestry research (needs GRU or POA)"},
    {"HMB NCU", "POA", D,
     "consent 'HMB NCU' denies purpose 'POA': HMB excludes ancestry "
     "research (needs GRU or POA)"},
    {"HMB", "MDS", A, NULL},
    {"HMB", "NCTRL", A, NULL},
    {"HMB", "CC", D, "HMB excludes clinical care"},
    {"HMB CC", "CC", A, NULL},
    /* DS(cancer): cancer or narrower only */
    {"DS:" CANCER, "GRU", D, "DS excludes general research (needs GRU)"},
    {"DS:" CANCER, "HMB", D,
     "DS excludes health/medical/biomedical research (needs GRU or HMB)"},
    {"DS:" CANCER, "DS:" CANCER, A, NULL},
    {"DS:" CANCER, "DS:" LUNG, A, NULL},
    {"DS:" DISEASE, "DS:" LUNG, A, NULL},
    {"DS:" CANCER, "DS:" DISEASE, D,
     "DS:" CANCER " excludes '" DISEASE "', which is broader (ask for '" CANCER
     "' or a narrower term)"},
    {"DS:" LUNG, "DS:" CANCER, D, "which is broader"},
    {"DS:" CANCER, "DS:" DIABETES, D,
     "DS:" CANCER " excludes research on '" DIABETES "' (needs '" CANCER
     "' or a narrower term)"},
    {"DS:" CANCER, "DS:MONDO_9999999", D, "excludes research on"},
    {"DS:" CANCER, "POA", D,
     "DS excludes ancestry research (needs GRU or POA)"},
    {"DS:" CANCER, "MDS", D,
     "DS:" CANCER " excludes methods development without a disease (state "
     "MDS:TERM with '" CANCER "' or a narrower term)"},
    {"DS:" CANCER, "MDS:" LUNG, A, NULL},
    {"DS:" CANCER, "MDS:" DIABETES, D, "excludes research on"},
    {"DS:" CANCER, "NCTRL", D, "excludes control-set use without a disease"},
    {"DS:" CANCER, "NCTRL:" LUNG, A, NULL},
    {"DS:" CANCER, "CC", D, "DS excludes clinical care"},
    {"DS:" CANCER " CC", "CC", A, NULL},
    /* POA: ancestry only */
    {"POA", "GRU", D, "POA excludes general research (needs GRU)"},
    {"POA", "HMB", D, "POA excludes health/medical/biomedical research"},
    {"POA", "DS:" LUNG, D,
     "POA excludes disease research (needs GRU, HMB or DS)"},
    {"POA", "POA", A, NULL},
    {"POA", "MDS", D,
     "POA excludes methods development (needs GRU, HMB or DS)"},
    {"POA", "NCTRL", D, "POA excludes control-set use"},
    {"POA", "CC", D, "POA excludes clinical care"},
    {"POA CC", "CC", A, NULL},
};

static const struct mcase modifier_cases[] = {
    /* NPU: organisation type only */
    {"GRU NPU", "GRU", A, NULL},
    {"GRU NPU", "GRU for-profit", D,
     "NPU: not-for-profit use only; drop 'for-profit' from the purpose"},
    {"GRU NPU", "GRU commercial", A, NULL},
    /* NCU: purpose only */
    {"GRU NCU", "GRU", A, NULL},
    {"GRU NCU", "GRU commercial", D,
     "consent 'GRU NCU' denies purpose 'GRU commercial': NCU: non-commercial "
     "use only; drop 'commercial' from the purpose"},
    {"GRU NCU", "GRU for-profit", A, NULL},
    /* NPUNCU: both */
    {"GRU NPUNCU", "GRU", A, NULL},
    {"GRU NPUNCU", "GRU commercial", D,
     "NPUNCU: not-for-profit, non-commercial use only; drop 'commercial'"},
    {"GRU NPUNCU", "GRU for-profit", D,
     "NPUNCU: not-for-profit, "
     "non-commercial use only; drop "
     "'for-profit'"},
    /* modifiers apply under NRES too */
    {"NRES NCU", "HMB commercial", D, "NCU:"},
    /* NPOA */
    {"GRU NPOA", "POA", D,
     "NPOA: population origins or ancestry research prohibited"},
    {"NRES NPOA", "ancestry", D, "NPOA:"},
    {"GRU NPOA", "HMB", A, NULL},
    /* GSO */
    {"GRU GSO", "GRU", D,
     "GSO: genetic studies only; add 'genetic' to the "
     "purpose"},
    {"GRU GSO", "GRU genetic", A, NULL},
    {"HMB GSO", "DS:" LUNG " genetic", A, NULL},
    /* NMDS: methods only under DS with a disease match */
    {"GRU NMDS", "MDS", D, "NMDS: no general methods research"},
    {"GRU NMDS", "MDS:" LUNG, D, "NMDS:"},
    {"HMB NMDS", "methods", D, "NMDS:"},
    {"NRES NMDS", "MDS", D, "NMDS:"},
    {"GRU NMDS", "HMB", A, NULL},
    {"GRU NMDS", "NCTRL", A, NULL},
    {"DS:" CANCER " NMDS", "MDS:" LUNG, A, NULL},
    {"DS:" CANCER " NMDS", "MDS:" DIABETES, D, "excludes research on"},
    /* IRB */
    {"GRU IRB", "GRU", D,
     "IRB: ethics approval required; add 'irb' to the "
     "purpose"},
    {"GRU IRB", "GRU irb", A, NULL},
    /* GS: regions compare case-insensitively */
    {"GRU GS:EU+US", "GRU location=EU", A, NULL},
    {"GRU GS:EU+US", "GRU location=us", A, NULL},
    {"GRU GS:EU+US", "GRU location=JP", D,
     "GS: use restricted to regions EU+US; location 'JP' is not among them"},
    {"GRU GS:EU+US", "GRU location=E", D, "not among them"},
    {"GRU GS:EU", "GRU", D,
     "GS: use restricted to regions EU; state location=NAME in the purpose"},
    /* US, PS, IS: names compare exactly */
    {"GRU US:alice+bob", "GRU user=bob", A, NULL},
    {"GRU US:alice+bob", "GRU user=alice", A, NULL},
    {"GRU US:alice+bob", "GRU user=carol", D,
     "US: use restricted to users alice+bob; user 'carol' is not among them"},
    {"GRU US:alice+bob", "GRU user=Alice", D, "not among them"},
    {"GRU US:alice", "GRU", D, "state user=NAME in the purpose"},
    {"GRU PS:proj1", "GRU project=proj1", A, NULL},
    {"GRU PS:proj1", "GRU project=proj2", D,
     "PS: use restricted to projects proj1; project 'proj2' is not among"},
    {"GRU PS:proj1", "GRU", D, "state project=NAME"},
    {"GRU IS:uni-a+uni-b", "GRU institution=uni-b", A, NULL},
    {"GRU IS:uni-a+uni-b", "GRU institution=UNI-B", D,
     "IS: use restricted to institutions uni-a+uni-b; institution 'UNI-B'"},
    {"GRU IS:uni-a", "GRU", D, "state institution=NAME"},
    /* RS: research types, case-insensitive */
    {"GRU RS:genomics+imaging", "GRU type=genomics", A, NULL},
    {"GRU RS:genomics+imaging", "GRU type=IMAGING", A, NULL},
    {"GRU RS:genomics+imaging", "GRU type=proteomics", D,
     "RS: use restricted to research types genomics+imaging; type "
     "'proteomics' is not among them"},
    {"GRU RS:genomics", "GRU", D, "state type=NAME"},
    /* TS (now is 2026-06-01) */
    {"GRU TS:12@2026-01-01", "GRU", A, NULL},
    {"GRU TS:3@2026-01-01", "GRU", D,
     "TS: use was allowed for 3 months from 2026-01-01 and ended on "
     "2026-04-01; ask the data access committee to renew it"},
    {"GRU TS:5@2026-01-01", "GRU", D, "ended on 2026-06-01"},
    {"GRU TS:6@2026-01-01", "GRU", A, NULL},
    {"GRU TS:4@2026-01-31", "GRU", D, "ended on 2026-05-31"},
    /* obligations, reported on allow */
    {"GRU PUB", "GRU", A, "obligations: PUB (publish results)"},
    {"GRU COL", "GRU", A,
     "obligations: COL (collaborate with the primary study investigators)"},
    {"GRU RTN", "GRU", A,
     "obligations: RTN (return derived or enriched data to the provider)"},
    {"GRU MOR:2027-01-01", "GRU", A,
     "obligations: MOR:2027-01-01 (no publication before that date)"},
    {"GRU MOR:2026-06-02", "GRU", A, "MOR:2026-06-02"},
    {"GRU MOR:2026-06-01", "GRU", A, NULL}, /* over */
    {"GRU PUB COL", "GRU", A,
     "obligations: COL (collaborate with the primary study investigators), "
     "PUB (publish results)"},
    {"GRU PUB NCU", "GRU commercial", D, "NCU:"},
    /* unknown codes deny, whatever the permission */
    {"GRU XYZ", "GRU", D,
     "unknown code 'XYZ': refer to the data access committee"},
    {"NRES DUO:0000099", "GRU", D, "unknown code 'DUO:0000099'"},
    {"NRES xyz:arg", "GRU", D, "unknown code 'XYZ:arg'"},
    /* the first denying code (in canonical order) is the one named */
    {"GRU NCU IRB", "GRU commercial", D, "IRB:"},
    {"GRU NCU IRB", "GRU commercial irb", D, "NCU:"},
    {"GRU NCU IRB GS:EU PUB", "GRU irb location=EU", A,
     "obligations: PUB (publish results)"},
    /* DUO ids, for codes and purposes */
    {"DUO:0000042", "GRU", A, NULL},
    {"DUO:0000004", "CC", A, NULL},
    {"duo:0000006 DUO:0000046", "HMB commercial", D, "NCU:"},
    {"DUO:0000007:" CANCER, "DS:" LUNG, A, NULL},
    {"DUO:0000011", "DUO:0000033", A, NULL},
    {"DUO:0000006", "DUO:0000033", D, "HMB excludes ancestry research"},
    {"DUO:0000006", "DUO:0000040", A, NULL},
    {"DUO:0000006", "DUO:0000037", A, NULL},
    {"DUO:0000006", "DUO:0000031", A, NULL},
    {"DUO:0000006", "DUO:0000036", A, NULL},
    {"DUO:0000042 DUO:0000015", "DUO:0000031", D, "NMDS:"},
    {"DUO:0000042 DUO:0000044", "ancestry", D, "NPOA:"},
    {"DUO:0000042 DUO:0000016", "GRU", D, "GSO:"},
    {"DUO:0000042 DUO:0000043", "clinical-care", A, NULL},
    {"DUO:0000042 DUO:0000045", "GRU for-profit", D, "NPU:"},
    {"DUO:0000042 DUO:0000018", "GRU commercial", D, "NPUNCU:"},
    {"DUO:0000042 DUO:0000021", "GRU", D, "IRB:"},
    {"DUO:0000042 DUO:0000022:EU", "GRU location=US", D, "GS:"},
    {"DUO:0000042 DUO:0000026:alice", "GRU user=bob", D, "US:"},
    {"DUO:0000042 DUO:0000027:p", "GRU project=q", D, "PS:"},
    {"DUO:0000042 DUO:0000028:i", "GRU institution=j", D, "IS:"},
    {"DUO:0000042 DUO:0000012:t", "GRU type=u", D, "RS:"},
    {"DUO:0000042 DUO:0000025:1@2020-01-01", "GRU", D, "TS:"},
    {"DUO:0000042 DUO:0000019", "GRU", A, "PUB (publish results)"},
    {"DUO:0000042 DUO:0000020", "GRU", A, "COL ("},
    {"DUO:0000042 DUO:0000029", "GRU", A, "RTN ("},
    {"DUO:0000042 DUO:0000024:2030-01-01", "GRU", A, "MOR:2030-01-01 ("},
    /* purpose aliases, case-insensitive */
    {"GRU CC", "Clinical-Care", A, NULL},
    {"HMB", "control", A, NULL},
    {"HMB", "METHODS", A, NULL},
    {"HMB", "ancestry", D, "HMB excludes ancestry research"},
    {"DS:" CANCER, "ds:" LUNG, A, NULL},
    {"DS:mondo_0004992", "DS:" LUNG, A, NULL},
};

static void run_cases(const struct mcase *v, size_t n)
{
	strata_duo_context ctx = toy_ctx();
	for (size_t i = 0; i < n; i++)
		expect(v[i].consent, v[i].purpose, &ctx, v[i].allow, v[i].why);
}

static void test_matrix(void **state)
{
	(void)state;
	run_cases(matrix_cases, sizeof(matrix_cases) / sizeof(matrix_cases[0]));
}

static void test_modifiers(void **state)
{
	(void)state;
	run_cases(modifier_cases,
		  sizeof(modifier_cases) / sizeof(modifier_cases[0]));
}

/* Without an ancestry callback (or a context) only the exact term matches;
 * a cyclic callback cannot hang the walk. */
static void test_disease_tree(void **state)
{
	(void)state;
	strata_duo_context ctx = toy_ctx();
	int calls = 0;
	ctx.payload = &calls;
	expect("DS:" DISEASE, "DS:" LUNG, &ctx, A, NULL);
	assert_int_equal(calls, 2); /* lung -> cancer -> disease */
	ctx.disease_parent = NULL;
	expect("DS:" CANCER, "DS:" LUNG, &ctx, D, "excludes research on");
	expect("DS:" CANCER, "DS:" CANCER, &ctx, A, NULL);
	expect("DS:" CANCER, "DS:" LUNG, NULL, D, "excludes research on");
	expect("DS:" CANCER, "DS:" CANCER, NULL, A, NULL);
	ctx.disease_parent = cyclic_parent;
	expect("DS:z", "DS:a", &ctx, D, "excludes research on 'a'");
	expect("DS:b", "DS:a", &ctx, A, NULL);
}

static void test_ts_boundary(void **state)
{
	(void)state;
	strata_duo_context ctx = toy_ctx();
	/* 12 months from 2026-01-31 ends at 2027-01-31T00:00:00Z */
	const int64_t end = INT64_C(1801353600);
	ctx.now_s = end - 1;
	expect("GRU TS:12@2026-01-31", "GRU", &ctx, A, NULL);
	ctx.now_s = end;
	expect("GRU TS:12@2026-01-31", "GRU", &ctx, D, "ended on 2027-01-31");
	ctx.now_s = end + 86400 * 365;
	expect("GRU TS:12@2026-01-31", "GRU", &ctx, D, "TS:");
	/* a month later than Jan 31 is the end of February */
	ctx.now_s = INT64_C(1769817600) + 28 * 86400 - 1; /* 02-27 23:59:59 */
	expect("GRU TS:1@2026-01-31", "GRU", &ctx, A, NULL);
	ctx.now_s += 1;
	expect("GRU TS:1@2026-01-31", "GRU", &ctx, D, "ended on 2026-02-28");
	/* leap year */
	expect("GRU TS:1@2028-01-31", "GRU", &ctx, A, NULL);
	ctx.now_s = INT64_C(1769817600) + (365 + 366 + 29) * 86400;
	expect("GRU TS:1@2028-01-31", "GRU", &ctx, D, "ended on 2028-02-29");
	/* the moratorium is over at the start of its day */
	ctx.now_s = INT64_C(1798761600) - 1;
	expect("GRU MOR:2027-01-01", "GRU", &ctx, A, "MOR:2027-01-01");
	ctx.now_s += 1;
	expect("GRU MOR:2027-01-01", "GRU", &ctx, A, NULL);
}

/* Users, projects and institutions default to the context's. */
static void test_context_defaults(void **state)
{
	(void)state;
	strata_duo_context ctx = toy_ctx();
	ctx.user = "alice";
	ctx.project = "p1";
	ctx.institution = "uni-a";
	expect("GRU US:alice", "GRU", &ctx, A, NULL);
	expect("GRU PS:p1", "GRU", &ctx, A, NULL);
	expect("GRU IS:uni-a", "GRU", &ctx, A, NULL);
	expect("GRU US:alice+bob PS:p1 IS:uni-a", "HMB", &ctx, A, NULL);
	/* a purpose's project or institution overrides the default */
	expect("GRU PS:p2", "GRU project=p2", &ctx, A, NULL);
	expect("GRU PS:p1", "GRU project=p2", &ctx, D, "project 'p2' is not");
	expect("GRU IS:uni-b", "GRU institution=uni-b", &ctx, A, NULL);
	/* but the caller's identity is not the purpose's to choose */
	expect("GRU US:alice", "GRU user=alice", &ctx, A, NULL);
	ctx.user = "bob";
	expect("GRU US:alice", "GRU", &ctx, D,
	       "US: use restricted to users alice; user 'bob' is not among");
	expect("GRU US:alice", "GRU user=alice", &ctx, D,
	       "US: purpose names user 'alice' but the caller is 'bob'");
	/* without US the user does not matter */
	expect("GRU", "GRU user=alice", &ctx, A, NULL);
}

static void test_match_edges(void **state)
{
	(void)state;
	strata_duo *c = consent("HMB NCU");
	strata_duo_purpose *p = purpose("POA");
	strata_duo_context ctx = toy_ctx();
	char why[256];
	assert_int_equal(strata_duo_match(NULL, p, &ctx, why, sizeof(why)),
			 STRATA_EDENIED);
	assert_non_null(strstr(why, "no consent recorded"));
	assert_int_equal(strata_duo_match(c, NULL, &ctx, why, sizeof(why)),
			 STRATA_EDENIED);
	assert_string_equal(why, "no purpose stated: pass --purpose");
	/* no room for a reason: the decision still stands */
	assert_int_equal(strata_duo_match(c, p, &ctx, NULL, 0), STRATA_EDENIED);
	char tiny[9];
	memset(tiny, 'x', sizeof(tiny));
	assert_int_equal(strata_duo_match(c, p, &ctx, tiny, sizeof(tiny)),
			 STRATA_EDENIED);
	assert_string_equal(tiny, "consent ");
	assert_int_equal(strata_duo_match(c, p, &ctx, tiny, 1), STRATA_EDENIED);
	assert_string_equal(tiny, "");
	/* a deny does not touch the thread's error message */
	strata_error_set(STRATA_EIO, "earlier");
	assert_int_equal(strata_duo_match(c, p, &ctx, why, sizeof(why)),
			 STRATA_EDENIED);
	assert_string_equal(strata_error_msg(), "earlier");
	strata_duo_purpose_free(p);
	/* an allow clears a stale reason */
	p = purpose("HMB");
	memset(why, 'x', sizeof(why));
	assert_int_equal(strata_duo_match(c, p, &ctx, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	strata_duo_purpose_free(p);
	strata_duo_free(c);
	strata_duo_free(NULL);
	strata_duo_purpose_free(NULL);
}

struct fcase {
	const char *in, *canon;
};

static const struct fcase format_cases[] = {
    {"GRU", "GRU"},
    {"gru", "GRU"},
    {"NCU TS:12@2026-01-31 irb GRU", "GRU IRB NCU TS:12@2026-01-31"},
    {"GRU, NCU,IRB", "GRU IRB NCU"},
    {"  GRU\tNCU\n", "GRU NCU"},
    {"DUO:0000042 DUO:0000046", "GRU NCU"},
    {"duo:0000007:MONDO_0005070", "DS:MONDO_0005070"},
    {"ds:mondo_0005070", "DS:mondo_0005070"},
    {"HMB gs:EU+us", "HMB GS:EU+us"},
    {"HMB TS:012@2026-01-31", "HMB TS:12@2026-01-31"},
    {"POA us:alice+bob ps:proj is:inst rs:genomics",
     "POA IS:inst PS:proj "
     "RS:genomics US:alice+bob"},
    {"NRES PUB COL RTN MOR:2028-02-29 CC", "NRES CC COL MOR:2028-02-29 PUB "
					   "RTN"},
    {"NRES NPU NCU NPUNCU NPOA GSO NMDS", "NRES GSO NCU NMDS NPOA NPU "
					  "NPUNCU"},
    {"GRU xyz DUO:0000099 abc:Def", "GRU ABC:Def DUO:0000099 XYZ"},
    {"DS:MONDO:0005070", "DS:MONDO:0005070"},
};

static void test_format_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]);
	     i++) {
		strata_duo *d = consent(format_cases[i].in), *e;
		char *s = NULL, *t = NULL;
		assert_int_equal(strata_duo_format(d, &s), 0);
		if (strcmp(s, format_cases[i].canon))
			fail_msg("format '%s': '%s', want '%s'",
				 format_cases[i].in, s, format_cases[i].canon);
		assert_string_equal(strata_duo_text(d), s);
		e = consent(s);
		assert_int_equal(strata_duo_format(e, &t), 0);
		assert_string_equal(s, t);
		if (strata_duo_unknown(d))
			assert_string_equal(strata_duo_unknown(d),
					    strata_duo_unknown(e));
		else
			assert_null(strata_duo_unknown(e));
		strata_free(s);
		strata_free(t);
		strata_duo_free(d);
		strata_duo_free(e);
	}
}

static void test_accessors(void **state)
{
	(void)state;
	strata_duo *d = consent("ncu xyz DUO:0000099 ds:X DUO:0000098:a+b");
	assert_string_equal(strata_duo_permission(d), "DS");
	assert_string_equal(strata_duo_unknown(d),
			    "DUO:0000098:a+b DUO:0000099 XYZ");
	strata_duo_free(d);
	d = consent("GRU NCU");
	assert_string_equal(strata_duo_permission(d), "GRU");
	assert_null(strata_duo_unknown(d));
	strata_duo_free(d);
	d = consent("DUO:0000004");
	assert_string_equal(strata_duo_permission(d), "NRES");
	strata_duo_free(d);
}

static void test_parse_at(void **state)
{
	(void)state;
	strata_duo *d = NULL;
	char *s = NULL;
	/* 2026-01-31T23:59:59Z */
	assert_int_equal(
	    strata_duo_parse_at(&d, "GRU TS:12", INT64_C(1769817600) + 86399),
	    0);
	assert_int_equal(strata_duo_format(d, &s), 0);
	assert_string_equal(s, "GRU TS:12@2026-01-31");
	strata_free(s);
	strata_duo_free(d);
	/* an explicit date wins */
	assert_int_equal(strata_duo_parse_at(&d, "GRU TS:6@2025-02-03", NOW_S),
			 0);
	assert_string_equal(strata_duo_text(d), "GRU TS:6@2025-02-03");
	strata_duo_free(d);
	/* one second before the epoch is 1969-12-31 */
	assert_int_equal(strata_duo_parse_at(&d, "GRU TS:1", -1), 0);
	assert_string_equal(strata_duo_text(d), "GRU TS:1@1969-12-31");
	strata_duo_free(d);
	d = (strata_duo *)&s;
	assert_int_equal(strata_duo_parse_at(&d, "GRU TS:1", INT64_MIN),
			 STRATA_EINVAL);
	assert_int_equal(strata_duo_parse_at(&d, "GRU TS:1", INT64_MAX),
			 STRATA_EINVAL);
	assert_ptr_equal(d, (strata_duo *)&s);
	/* parse_at still rejects what parse rejects */
	assert_int_equal(strata_duo_parse_at(&d, "GRU HMB", NOW_S),
			 STRATA_EINVAL);
	assert_int_equal(strata_duo_parse(&d, "GRU TS:12"), STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(),
			       "'TS:12' needs an approval date: write "
			       "TS:12@YYYY-MM-DD"));
	assert_ptr_equal(d, (strata_duo *)&s);
}

struct ecase {
	const char *in, *msg;
};

static const struct ecase parse_errors[] = {
    {"GRU HMB", "consent 'GRU HMB' has 2 permission codes (GRU, HMB): give "
		"exactly one of NRES, GRU, HMB, DS:TERM or POA"},
    {"NRES GRU POA NCU", "3 permission codes (NRES, GRU, POA)"},
    {"GRU GRU", "2 permission codes (GRU, GRU)"},
    {"GRU DUO:0000042", "2 permission codes"},
    {"NCU IRB", "consent 'NCU IRB' has 0 permission codes"},
    {"XYZ", "0 permission codes"},
    {"", "empty consent"},
    {" \t ", "empty consent"},
    {NULL, "empty consent"},
    {"GRU,,NCU", "empty code before a comma"},
    {", GRU", "empty code before a comma"},
    {"GRU NCU ,", "empty code after the last comma"},
    {"GRU :x", "consent code ':x': empty code"},
    {"GRU NCU NCU", "code 'NCU' given twice"},
    {"GRU NCU duo:0000046", "code 'NCU' given twice"},
    {"GRU GS:EU GS:US", "code 'GS' given twice"},
    {"GRU XYZ XYZ:1", "code 'XYZ' given twice"},
    {"DS", "consent code 'DS': DS needs a disease term, e.g. "
	   "DS:MONDO_0005070"},
    {"DS:", "DS needs a disease term"},
    {"DS:a$b", "consent code 'DS:a$b': bad argument 'a$b'"},
    {"GRU:", "'GRU:': GRU takes no argument"},
    {"GRU NCU:x", "'NCU:x': NCU takes no argument"},
    {"GRU MOR", "MOR needs a date"},
    {"GRU MOR:2027-13-01", "'MOR:2027-13-01': bad argument"},
    {"GRU MOR:2027-02-29", "'MOR:2027-02-29': bad argument"},
    {"GRU MOR:2027-04-31", "bad argument"},
    {"GRU MOR:2027-00-10", "bad argument"},
    {"GRU MOR:2027-1-1", "bad argument"},
    {"GRU MOR:1899-12-31", "bad argument"},
    {"GRU MOR:2027-01-01x", "bad argument"},
    {"GRU TS", "TS needs months and an approval date"},
    {"GRU TS:12", "needs an approval date"},
    {"GRU TS:0@2026-01-01", "'TS:0@2026-01-01': bad argument"},
    {"GRU TS:1201@2026-01-01", "bad argument"},
    {"GRU TS:x@2026-01-01", "bad argument"},
    {"GRU TS:-1@2026-01-01", "bad argument"},
    {"GRU TS:@2026-01-01", "bad argument"},
    {"GRU TS:12@", "bad argument"},
    {"GRU TS:12@2026-02-30", "bad argument"},
    {"GRU TS:99999999@2026-01-01", "bad argument"},
    {"GRU GS", "GS needs a '+'-separated list"},
    {"GRU GS:EU++US", "'GS:EU++US': bad argument"},
    {"GRU GS:+EU", "bad argument"},
    {"GRU US:alice+", "bad argument"},
    {"GRU US:a$b", "bad argument"},
    {"GRU RS", "RS needs"},
    {"GRU 1ABC", "consent code '1ABC' is malformed"},
    {"GRU DUO:123", "consent code 'DUO:123' is malformed"},
    {"GRU DUO:00000421", "malformed"},
    {"GRU DUO:", "malformed"},
    {"GRU N$U", "malformed"},
    {"GRU ABCDEFGHIJKLMNOPQ", "malformed"},
    {"GRU XYZ:", "consent code 'XYZ:': bad argument"},
    {"GRU XYZ:a$", "bad argument"},
};

static void test_parse_errors(void **state)
{
	(void)state;
	int sentinel;
	for (size_t i = 0; i < sizeof(parse_errors) / sizeof(parse_errors[0]);
	     i++) {
		strata_duo *d = (strata_duo *)&sentinel;
		int rc = strata_duo_parse(&d, parse_errors[i].in);
		if (rc != STRATA_EINVAL)
			fail_msg("parse '%s': rc %d, want EINVAL",
				 parse_errors[i].in, rc);
		if (!strstr(strata_error_msg(), parse_errors[i].msg))
			fail_msg("parse '%s': '%s', want '%s'",
				 parse_errors[i].in, strata_error_msg(),
				 parse_errors[i].msg);
		assert_ptr_equal(d, (strata_duo *)&sentinel);
	}
	/* a token longer than any code is refused without overflowing */
	char big[2048];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "GRU US:", 7);
	strata_duo *d = NULL;
	assert_int_equal(strata_duo_parse(&d, big), STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(), "too long"));
	assert_null(d);
}

static const struct ecase purpose_errors[] = {
    {"", "purpose '' states no primary purpose: give one of GRU, HMB, "
	 "DS:TERM, POA, MDS, NCTRL or CC"},
    {NULL, "states no primary purpose"},
    {"commercial irb", "states no primary purpose"},
    {"GRU HMB", "two primary purposes ('GRU' and 'HMB')"},
    {"POA ancestry", "two primary purposes"},
    {"foo", "unknown purpose 'foo': give one of GRU, HMB, DS:TERM, POA "
	    "(ancestry), MDS (methods), NCTRL (control), CC (clinical-care), "
	    "plus any of commercial, for-profit, genetic, irb"},
    {"GRU non-profit", "unknown purpose 'non-profit'"},
    {"GRU color=red", "unknown purpose 'color=red'"},
    {"GRU =x", "unknown purpose '=x'"},
    {"DS", "purpose 'DS': DS needs a disease term"},
    {"DS:", "DS needs a disease term"},
    {"GRU:x", "purpose 'GRU:x': GRU takes no disease term"},
    {"ancestry:x", "POA takes no disease term"},
    {"DS:a$b", "bad disease term 'a$b'"},
    {"GRU commercial COMMERCIAL", "'commercial' given twice"},
    {"GRU user=a user=b", "'user=' given twice"},
    {"GRU user=", "purpose 'user=': user needs a name"},
    {"GRU location=E$", "location needs a name"},
    {"GRU,,irb", "empty code before a comma"},
    {"DUO:0000099", "unknown purpose 'DUO:0000099'"},
    {"DUO:0000042", "unknown purpose 'DUO:0000042'"},
};

static void test_purpose_parse(void **state)
{
	(void)state;
	int sentinel;
	for (size_t i = 0;
	     i < sizeof(purpose_errors) / sizeof(purpose_errors[0]); i++) {
		strata_duo_purpose *p = (strata_duo_purpose *)&sentinel;
		int rc = strata_duo_purpose_parse(&p, purpose_errors[i].in);
		if (rc != STRATA_EINVAL)
			fail_msg("purpose '%s': rc %d, want EINVAL",
				 purpose_errors[i].in, rc);
		if (!strstr(strata_error_msg(), purpose_errors[i].msg))
			fail_msg("purpose '%s': '%s', want '%s'",
				 purpose_errors[i].in, strata_error_msg(),
				 purpose_errors[i].msg);
		assert_ptr_equal(p, (strata_duo_purpose *)&sentinel);
	}
	static const struct fcase ok[] = {
	    {"gru", "GRU"},
	    {"genetic, DS:MONDO_1 , location=EU COMMERCIAL",
	     "DS:MONDO_1 commercial genetic location=EU"},
	    {"type=t institution=i project=p user=u location=l irb genetic "
	     "for-profit commercial hmb",
	     "HMB commercial for-profit genetic irb location=l user=u "
	     "project=p institution=i type=t"},
	    {"ancestry", "POA"},
	    {"methods", "MDS"},
	    {"methods:X", "MDS:X"},
	    {"control:X", "NCTRL:X"},
	    {"clinical-care", "CC"},
	    {"duo:0000031", "MDS"},
	    {"DUO:0000033", "POA"},
	    {"DUO:0000036", "NCTRL"},
	    {"DUO:0000037", "HMB"},
	    {"DUO:0000040", "HMB"},
	    {"USER=Bob gru", "GRU user=Bob"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		strata_duo_purpose *p = purpose(ok[i].in);
		if (strcmp(strata_duo_purpose_text(p), ok[i].canon))
			fail_msg("purpose '%s': '%s', want '%s'", ok[i].in,
				 strata_duo_purpose_text(p), ok[i].canon);
		strata_duo_purpose *q = purpose(strata_duo_purpose_text(p));
		assert_string_equal(strata_duo_purpose_text(q), ok[i].canon);
		strata_duo_purpose_free(p);
		strata_duo_purpose_free(q);
	}
}

/* Fail each allocation in turn: ENOMEM, outputs untouched, no leaks, and
 * eventually success. */
static void test_alloc_failure(void **state)
{
	(void)state;
	int sentinel;
	const char *codes = "DS:MONDO_1 NCU xyz GS:EU+US TS:12@2026-01-01 PUB";
	long n;
	for (n = 1; n < 1000; n++) {
		strata_duo *d = (strata_duo *)&sentinel;
		strata_alloc_fail_after(n);
		int rc = strata_duo_parse(&d, codes);
		strata_alloc_fail_after(0);
		if (!rc) {
			assert_string_equal(strata_duo_text(d),
					    "DS:MONDO_1 GS:EU+US NCU PUB "
					    "TS:12@2026-01-01 XYZ");
			strata_duo_free(d);
			break;
		}
		assert_int_equal(rc, STRATA_ENOMEM);
		assert_ptr_equal(d, (strata_duo *)&sentinel);
	}
	assert_true(n > 5 && n < 1000);

	const char *text = "DS:X commercial location=EU user=a type=t";
	for (n = 1; n < 1000; n++) {
		strata_duo_purpose *p = (strata_duo_purpose *)&sentinel;
		strata_alloc_fail_after(n);
		int rc = strata_duo_purpose_parse(&p, text);
		strata_alloc_fail_after(0);
		if (!rc) {
			assert_string_equal(strata_duo_purpose_text(p), text);
			strata_duo_purpose_free(p);
			break;
		}
		assert_int_equal(rc, STRATA_ENOMEM);
		assert_ptr_equal(p, (strata_duo_purpose *)&sentinel);
	}
	assert_true(n > 4 && n < 1000);

	strata_duo *d = consent("GRU NCU");
	char *s = (char *)&sentinel;
	strata_alloc_fail_after(1);
	assert_int_equal(strata_duo_format(d, &s), STRATA_ENOMEM);
	strata_alloc_fail_after(0);
	assert_ptr_equal(s, (char *)&sentinel);
	strata_duo_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matrix),
	    cmocka_unit_test(test_modifiers),
	    cmocka_unit_test(test_disease_tree),
	    cmocka_unit_test(test_ts_boundary),
	    cmocka_unit_test(test_context_defaults),
	    cmocka_unit_test(test_match_edges),
	    cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_parse_at),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_purpose_parse),
	    cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
