/*
 * guardrail.h - guardrails: a human-editable policy file of rules, parsed
 * once and checked before each operation. A rule matches operations by
 * action, dataset, layer, class, destination zone and purpose, and then
 * either refuses them (`deny`) or requires things of them (`require`).
 * The file format is specified in docs/policy.md.
 */
#ifndef STRATA_POLICY_GUARDRAIL_H
#define STRATA_POLICY_GUARDRAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on untrusted policy text; exceeding one is a parse error. */
#define STRATA_GUARD_MAX_FILE ((size_t)1 << 20) /* bytes in a policy file */
#define STRATA_GUARD_MAX_LINE 4096		/* bytes in one line */
#define STRATA_GUARD_MAX_VALUES 256		/* values on one line */

typedef struct strata_guardrails strata_guardrails;

/*
 * strata_guardrails_parse - parse policy text.
 * out:  OUT, the parsed policy; free with strata_guardrails_free. Untouched
 *       on failure.
 * text, len: the file contents (need not be NUL-terminated; text may be
 *       NULL when len is 0). An empty file, or one of only comments, is a
 *       valid policy with no rules.
 * name: shown in messages (the file name); NULL reads "policy".
 * Returns 0, STRATA_EINVAL with "policy 'NAME' line N: what is wrong", or
 * STRATA_ENOMEM. Callers treat any failure as refusing every operation.
 */
int strata_guardrails_parse(strata_guardrails **out, const char *text,
			    size_t len, const char *name);
/* strata_guardrails_free - release a policy; accepts NULL. */
void strata_guardrails_free(strata_guardrails *g);
/* strata_guardrails_count - the number of rules. */
size_t strata_guardrails_count(const strata_guardrails *g);

typedef struct strata_guard_ctx {
	/* "read", "ingest", "restore", "export", "push", "pull", "deid",
	 * "derive"; any other action is matched only by `actions any`. */
	const char *action;
	/* Of the object version. dataset is "NAME" or "NAME@vN" (the
	 * version is only shown in messages: a `dataset` glob without '@' is
	 * matched against NAME). klass is the version's class. A rule that
	 * has a condition on a field that is NULL here does not match. */
	const char *dataset, *layer, *klass;
	const char *zone; /* destination zone, or NULL when nothing moves */
	const char *purpose, *actor, *role; /* may be NULL */
	bool has_consent; /* consent codes recorded for the dataset */
	/* Count the files of the object version that do NOT satisfy `query`
	 * (catalog query syntax, passed through verbatim); fill `example`
	 * (exlen bytes) with one such file path. Return 0 or an error code,
	 * which aborts the check with that error. NULL: a `require files`
	 * rule denies with "cannot evaluate". */
	int (*files_failing)(void *payload, const char *query, uint64_t *nbad,
			     char *example, size_t exlen);
	void *payload;
} strata_guard_ctx;

/*
 * strata_guardrails_check - check every rule whose conditions match c, in
 * file order; the first failing rule decides.
 * why, whylen: OUT, the reason for a refusal; always NUL-terminated when
 *       whylen > 0 (empty when allowed). It names the rule and the failed
 *       requirement, e.g. "policy rule 'training data is GRCh38' denies
 *       export of 'train-x@v3': 12 files do not match 'genome.build =
 *       GRCh38' (first: 'a.bam'): model-ready training data must be
 *       aligned to GRCh38".
 * Returns 0 (all pass), STRATA_EDENIED (the same text is also the thread's
 * error message), or the error code returned by files_failing (its
 * message prefixed with the rule name, and copied to why).
 */
int strata_guardrails_check(const strata_guardrails *g,
			    const strata_guard_ctx *c, char *why,
			    size_t whylen);

/*
 * Read-only view of one rule, for `strata policy show`. All pointers are
 * borrowed from the policy and valid until strata_guardrails_free; only
 * message may be NULL (none given). actions: "export push" (or "any");
 * conditions: "dataset train-*; layer model-ready; allow-roles admin" (""
 * when none); requirements: "files genome.build = GRCh38; consent" (""
 * for a deny rule). line: where the rule starts.
 */
typedef struct strata_guard_rule_info {
	const char *name, *message;
	const char *actions, *conditions, *requirements;
	bool deny;
	unsigned line;
} strata_guard_rule_info;

/*
 * strata_guardrails_each - call cb for every rule in file order. A nonzero
 * return from cb stops the walk and is returned; otherwise returns 0.
 */
int strata_guardrails_each(const strata_guardrails *g,
			   int (*cb)(const strata_guard_rule_info *ri,
				     void *payload),
			   void *payload);

#endif
