/*
 * duo.h - GA4GH Data Use Ontology consent codes: parse a dataset's consent
 * ("GRU NCU IRB"), parse a stated purpose of use ("HMB commercial"), and
 * decide deny-by-default whether the purpose is covered (DUOS rules, see
 * docs/consent.md). Depends on common only.
 */
#ifndef STRATA_POLICY_DUO_H
#define STRATA_POLICY_DUO_H

#include <stddef.h>
#include <stdint.h>

#include "strata/strata.h"

typedef struct strata_duo strata_duo; /* a parsed consent: permission + mods */
typedef struct strata_duo_purpose strata_duo_purpose; /* a request purpose */

/*
 * strata_duo_parse - parse consent codes separated by spaces and/or commas.
 * Each is CODE or CODE:ARG, CODE an abbreviation (GRU, HMB, DS, POA, NRES,
 * NPU, NCU, NPUNCU, NPOA, GSO, NMDS, IRB, GS, TS, US, PS, IS, PUB, COL, RTN,
 * MOR, CC, RS) or a DUO id ("DUO:0000042"), case-insensitively. Arguments:
 * DS:TERM, GS:EU+US, US/PS/IS:NAME+NAME, TS:MONTHS@YYYY-MM-DD,
 * MOR:YYYY-MM-DD, RS:TYPE+TYPE. Well-formed unknown codes are kept (they
 * make every match deny; see strata_duo_unknown). Exactly one permission
 * (NRES, GRU, HMB, DS, POA) is required.
 * OUT out: the consent, to release with strata_duo_free; untouched on error.
 * Returns 0, STRATA_EINVAL (malformed, no or two permissions, a code given
 * twice; the message names the code) or STRATA_ENOMEM.
 */
int strata_duo_parse(strata_duo **out, const char *codes);

/* As strata_duo_parse, but TS:MONTHS without @date starts on the UTC date
 * of now_s (seconds since the epoch) instead of being an error. */
int strata_duo_parse_at(strata_duo **out, const char *codes, int64_t now_s);

void strata_duo_free(strata_duo *d);

/*
 * strata_duo_format - canonical text: the permission first, then the
 * modifiers (unknown codes included) sorted, abbreviations upper-case,
 * arguments as given, e.g. "GRU IRB NCU TS:12@2026-01-31". Parsing it gives
 * the same consent.
 * OUT out: malloc'd string (strata_free). Returns 0 or STRATA_ENOMEM.
 */
int strata_duo_format(const strata_duo *d, char **out);

/* The canonical text as above, borrowed: valid until strata_duo_free. */
const char *strata_duo_text(const strata_duo *d);

/* The permission abbreviation ("NRES", "GRU", "HMB", "DS" or "POA"). */
const char *strata_duo_permission(const strata_duo *d);

/* Unknown codes as a space-separated string, or NULL if none (borrowed,
 * valid until strata_duo_free). */
const char *strata_duo_unknown(const strata_duo *d);

/*
 * strata_duo_purpose_parse - parse a purpose of use: tokens separated by
 * commas and/or spaces, case-insensitive keywords. Exactly one primary
 * purpose: GRU | HMB | DS:TERM | POA (ancestry) | MDS[:TERM] (methods) |
 * NCTRL[:TERM] (control) | CC (clinical-care); DUO:0000031 = MDS,
 * DUO:0000033 = POA, DUO:0000036 = NCTRL, DUO:0000037 and DUO:0000040 = HMB.
 * Flags: commercial, for-profit, genetic, irb. Keys (each at most once):
 * location=, user=, project=, institution=, type=.
 * OUT out: to release with strata_duo_purpose_free; untouched on error.
 * Returns 0, STRATA_EINVAL (the message names the token and lists the
 * valid ones) or STRATA_ENOMEM.
 */
int strata_duo_purpose_parse(strata_duo_purpose **out, const char *purpose);

void strata_duo_purpose_free(strata_duo_purpose *p);

/* Canonical purpose text, e.g. "DS:MONDO_0005070 commercial location=EU";
 * borrowed, valid until strata_duo_purpose_free. */
const char *strata_duo_purpose_text(const strata_duo_purpose *p);

typedef struct strata_duo_context {
	/* Defaults when the purpose names none; may be NULL. A purpose
	 * naming a user other than `user` is denied by a US code. */
	const char *user, *project, *institution;
	int64_t now_s; /* seconds since the epoch, for TS and MOR */
	/* MONDO ancestry: the parent of a disease term, or NULL at the root.
	 * NULL callback: exact term match only. */
	const char *(*disease_parent)(const char *term, void *payload);
	void *payload;
} strata_duo_context;

/*
 * strata_duo_match - may purpose `p` use data under consent `c`?
 * Deny by default. Does not call strata_error_set: writes a one-line reason
 * into why[whylen] (always NUL-terminated when whylen > 0; why may be NULL
 * if whylen is 0). On deny it names the code that denied and what would
 * allow it; on allow it lists the obligations attached (PUB, COL, RTN,
 * MOR:date while in force) or is empty. c or p NULL denies. ctx may be NULL
 * (no defaults, now = 0, exact disease match).
 * Returns 0 (allow) or STRATA_EDENIED.
 */
int strata_duo_match(const strata_duo *c, const strata_duo_purpose *p,
		     const strata_duo_context *ctx, char *why, size_t whylen);

#endif
