/*
 * test_roles.c - classes, grants, the built-in roles and the gate's order
 * of checks (src/policy/roles.c, gate.c): the full matrix of built-in
 * roles x actions x classes against the documented table, and each check
 * of the gate denying with its own rule and reason.
 */
#include "unit.h"

#include "policy/gate.h"

/* docs/governance.md, as data: the classes each role may use per action,
 * in the order of enum strata_action. */
static const struct {
	const char *role;
	const char *grants[STRATA_NACTIONS];
} table[] = {
    {"admin", {"all", "all", "all", "all", "all", "all", "all", "all"}},
    {"steward", {"all", "all", "all", "all", "all", "all", "all", ""}},
    {"researcher",
     {"deid,aggregate,public", "deid,aggregate,public", "deid,aggregate,public",
      "deid,aggregate,public", "", "", "", ""}},
    {"clinician", {"all", "", "", "", "", "", "", ""}},
    {"service",
     {"deid,aggregate,public", "all", "deid,aggregate,public",
      "deid,aggregate,public", "", "", "", ""}},
};

static void test_matrix(void **state)
{
	(void)state;
	assert_int_equal(strata_role_builtin_count(), 5);
	for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++) {
		const strata_role *r = strata_role_builtin(table[i].role);
		assert_non_null(r);
		for (int a = 0; a < STRATA_NACTIONS; a++) {
			unsigned want = 0;
			if (*table[i].grants[a])
				assert_int_equal(strata_classes_parse(
						     table[i].grants[a], &want),
						 0);
			for (int c = 0; c < STRATA_NCLASSES; c++) {
				bool w = (want >> c) & 1u;
				if (strata_role_allows(r, a, c) != w)
					fail_msg("%s %s %s: want %d",
						 table[i].role,
						 strata_action_name(a),
						 strata_class_name(c), w);
			}
		}
	}
	/* no role reads phi without being meant to */
	assert_false(strata_role_allows(strata_role_builtin("researcher"),
					STRATA_ACT_READ, STRATA_CLASS_PHI));
	assert_null(strata_role_builtin("root"));
	assert_false(strata_role_allows(NULL, STRATA_ACT_READ, 0));
	assert_false(strata_role_allows(strata_role_builtin("admin"), 99, 0));
}

static void test_classes_and_grants(void **state)
{
	(void)state;
	unsigned m;
	char buf[128];
	assert_int_equal(strata_classes_parse("phi,deid", &m), 0);
	assert_int_equal(m,
			 (1u << STRATA_CLASS_PHI) | (1u << STRATA_CLASS_DEID));
	strata_classes_format(m, buf, sizeof(buf), ",");
	assert_string_equal(buf, "phi,deid");
	assert_int_equal(strata_classes_parse("all", &m), 0);
	strata_classes_format(m, buf, sizeof(buf), ",");
	assert_string_equal(buf, "all");
	strata_classes_format(0, buf, sizeof(buf), ",");
	assert_string_equal(buf, "none");
	assert_int_equal(strata_classes_parse("phi,secret", &m), STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(), "'secret'"));

	strata_role r;
	memset(&r, 0, sizeof(r));
	assert_int_equal(
	    strata_role_parse_grants(&r, "read:deid+public,derive:deid"), 0);
	assert_true(strata_role_allows(&r, STRATA_ACT_READ, STRATA_CLASS_DEID));
	assert_false(strata_role_allows(&r, STRATA_ACT_READ, STRATA_CLASS_PHI));
	assert_true(
	    strata_role_allows(&r, STRATA_ACT_DERIVE, STRATA_CLASS_DEID));
	strata_role_format_grants(&r, buf, sizeof(buf));
	assert_string_equal(buf, "read:deid+public,derive:deid");
	assert_int_equal(strata_role_parse_grants(&r, "peek:deid"),
			 STRATA_EINVAL);
	assert_non_null(strstr(strata_error_msg(), "'peek'"));
	assert_int_equal(strata_role_parse_grants(&r, "read"), STRATA_EINVAL);
	assert_int_equal(strata_role_parse_grants(&r, "read:nope"),
			 STRATA_EINVAL);
	assert_true(strata_role_name_ok("data-analyst_2"));
	assert_false(strata_role_name_ok("Bad Name"));
	assert_false(strata_role_name_ok(""));
}

static strata_gate_req base_req(void)
{
	strata_gate_req q;
	memset(&q, 0, sizeof(q));
	q.actor = "rita";
	q.role = strata_role_builtin("researcher");
	q.action = STRATA_ACT_READ;
	q.verb = "cat";
	q.object = "'ct@v1'";
	q.classes = 1u << STRATA_CLASS_DEID;
	return q;
}

static void test_gate_order(void **state)
{
	(void)state;
	strata_gate_decision d;
	strata_gate_req q = base_req();
	assert_int_equal(strata_gate_check(&q, &d), 0);
	assert_true(d.allow);

	q.role = NULL; /* no role: denied, and told how to get one */
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "role");
	assert_non_null(strstr(d.why, "strata user add rita"));

	q = base_req();
	q.classes |= 1u << STRATA_CLASS_PHI;
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "role");
	assert_non_null(strstr(d.why, "'read:phi'"));

	q = base_req();
	q.action = STRATA_ACT_WRITE;
	q.zone = "cloud";
	q.zone_allows = 1u << STRATA_CLASS_PUBLIC;
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "zone");
	assert_non_null(
	    strstr(d.why, "zone 'cloud' may not hold class 'deid'"));

	/* consent: recorded consent needs a purpose, and the purpose must
	 * match */
	strata_duo *c = NULL;
	strata_duo_purpose *p = NULL;
	assert_int_equal(strata_duo_parse(&c, "HMB NCU"), 0);
	q = base_req();
	q.consent = c;
	q.consent_text = "HMB NCU";
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "consent");
	assert_non_null(strstr(d.why, "--purpose"));
	assert_int_equal(strata_duo_purpose_parse(&p, "HMB"), 0);
	q.purpose = p;
	q.purpose_text = "HMB";
	assert_int_equal(strata_gate_check(&q, &d), 0);
	strata_duo_purpose_free(p);
	assert_int_equal(strata_duo_purpose_parse(&p, "HMB,commercial"), 0);
	q.purpose = p;
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "consent");
	assert_non_null(strstr(d.why, "NCU"));
	strata_duo_purpose_free(p);
	/* data leaving the zone needs consent even when none is recorded */
	q = base_req();
	q.consent_needed = true;
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_non_null(strstr(d.why, "none is recorded"));

	/* role is checked before consent: the first failing check decides */
	q = base_req();
	q.role = strata_role_builtin("clinician");
	q.action = STRATA_ACT_EXPORT;
	q.consent_needed = true;
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "role");

	q = base_req();
	q.withdrawn_subject = "sub-0123456789abcdef";
	q.withdrawn_via = "ct@v1";
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "withdrawn");
	assert_non_null(strstr(d.why, "derives from their data in 'ct@v1'"));
	strata_duo_free(c);
}

static int failing(void *payload, const char *query, uint64_t *nbad,
		   char *example, size_t exlen)
{
	(void)payload, (void)query;
	*nbad = 3;
	snprintf(example, exlen, "a.bam");
	return 0;
}

static void test_gate_policy(void **state)
{
	(void)state;
	static const char pol[] = "rule \"builds\"\n"
				  "  actions read\n"
				  "  require files genome.build = GRCh38\n";
	strata_guardrails *g = NULL;
	strata_gate_decision d;
	assert_int_equal(strata_guardrails_parse(&g, pol, strlen(pol), "p"), 0);
	strata_guard_ctx gc;
	memset(&gc, 0, sizeof(gc));
	gc.action = "read";
	gc.dataset = "ct";
	gc.files_failing = failing;
	strata_gate_req q = base_req();
	q.guard = g;
	q.guard_ctx = &gc;
	assert_int_equal(strata_gate_check(&q, &d), STRATA_EDENIED);
	assert_string_equal(d.rule, "policy");
	assert_non_null(strstr(d.why, "3 files"));
	assert_non_null(strstr(d.why, "a.bam"));
	gc.action = "ingest"; /* the rule does not apply */
	assert_int_equal(strata_gate_check(&q, &d), 0);
	strata_guardrails_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matrix),
	    cmocka_unit_test(test_classes_and_grants),
	    cmocka_unit_test(test_gate_order),
	    cmocka_unit_test(test_gate_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
