/*
 * fhir.c - audit records as JSON for people and programs: a plain object
 * (`strata audit log --json`) and a FHIR R5 AuditEvent (`--fhir`), coded
 * with the DICOM PS3.15 A.5 event IDs and the HL7 audit vocabularies.
 */
#include "audit/audit_int.h"

#define DCM "http://dicom.nema.org/resources/ontology/DCM"
#define OUTCOME_CS "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
#define ACTION_CS "http://hl7.org/fhir/audit-event-action"
#define OBJROLE_CS "http://terminology.hl7.org/CodeSystem/object-role"
#define SRCTYPE_CS "http://terminology.hl7.org/CodeSystem/security-source-type"
#define PURPOSE_CS "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#define STRATA_ACTION_CS "urn:strata:audit:action"
#define STRATA_OBJECT_NS "urn:strata:object"
#define STRATA_PSEUDONYM_NS "urn:strata:pseudonym"
#define STRATA_ACTOR_NS "urn:strata:actor"

/* The first dotted component of an action equals one of names[]. */
static bool verb_in(const char *action, const char *const *names)
{
	size_t k = strcspn(action, ".");
	for (; *names; names++)
		if (strlen(*names) == k && memcmp(*names, action, k) == 0)
			return true;
	return false;
}

static const char *const verbs_c[] = {"ingest", "import", "create",   "init",
				      "deid",	"derive", "snapshot", NULL};
static const char *const verbs_r[] = {"read", "restore", "export", "disclose",
				      "push", "upload",	 "cat",	   "show",
				      "diff", "audit",	 "mount",  NULL};
static const char *const verbs_u[] = {"consent", "catalog", "meta",
				      "update",	 "set",	    "tag",
				      "policy",	 "role",    NULL};
static const char *const verbs_d[] = {"delete", "erase",    "forget", "gc",
				      "prune",	"withdraw", NULL};

char strata_audit_action_code(const char *action)
{
	if (!action)
		return 'E';
	if (verb_in(action, verbs_c))
		return 'C';
	if (verb_in(action, verbs_r))
		return 'R';
	if (verb_in(action, verbs_u))
		return 'U';
	if (verb_in(action, verbs_d))
		return 'D';
	return 'E'; /* query, search, login, key use, check, ... */
}

typedef struct dcm_event {
	const char *code, *display;
	const char *const *verbs;
} dcm_event;

static const char *const ev_import[] = {"ingest", "import", NULL};
static const char *const ev_export[] = {"export", "disclose", "push", "upload",
					NULL};
static const char *const ev_access[] = {"read", "restore", "cat", "show",
					"diff", "mount",   NULL};
static const char *const ev_delete[] = {"delete", "erase", "forget",
					"gc",	  "prune", NULL};
static const char *const ev_audit[] = {"audit", NULL};
static const char *const ev_query[] = {"query", "find", "search",
				       "ls",	"log",	NULL};
static const char *const ev_patient[] = {"consent", "withdraw", "catalog",
					 "meta", NULL};
static const char *const ev_auth[] = {"login", "logout", "auth", NULL};

static const dcm_event events[] = {
    {"110107", "Import", ev_import},
    {"110106", "Export", ev_export},
    {"110103", "DICOM Instances Accessed", ev_access},
    {"110105", "DICOM Study Deleted", ev_delete},
    {"110101", "Audit Log Used", ev_audit},
    {"110112", "Query", ev_query},
    {"110110", "Patient Record", ev_patient},
    {"110114", "User Authentication", ev_auth},
};

static void coding(strata_json *j, const char *system, const char *code,
		   const char *display)
{
	strata_json_obj_begin(j);
	strata_json_key(j, "system");
	strata_json_str(j, system);
	strata_json_key(j, "code");
	strata_json_str(j, code);
	if (display) {
		strata_json_key(j, "display");
		strata_json_str(j, display);
	}
	strata_json_obj_end(j);
}

/* {"coding":[{system, code, display}]} */
static void concept(strata_json *j, const char *system, const char *code,
		    const char *display)
{
	strata_json_obj_begin(j);
	strata_json_key(j, "coding");
	strata_json_arr_begin(j);
	coding(j, system, code, display);
	strata_json_arr_end(j);
	strata_json_obj_end(j);
}

static void identifier_ref(strata_json *j, const char *system,
			   const char *value)
{
	strata_json_obj_begin(j);
	strata_json_key(j, "identifier");
	strata_json_obj_begin(j);
	strata_json_key(j, "system");
	strata_json_str(j, system);
	strata_json_key(j, "value");
	strata_json_str(j, value);
	strata_json_obj_end(j);
	strata_json_obj_end(j);
}

/* FHIR instant with nanoseconds: 2024-05-01T12:00:00.123456789Z */
static void instant(char out[48], int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	if (frac < 0)
		sec--, frac += 1000000000;
	char base[32];
	strata_iso_time(base, sizeof(base), sec * 1000000000);
	size_t k = strlen(base);
	if (k && base[k - 1] == 'Z')
		base[--k] = 0;
	snprintf(out, 48, "%s.%09" PRId64 "Z", base, frac);
}

static void outcome(strata_json *j, const strata_audit_rec *r)
{
	const char *o = r->outcome ? r->outcome : "ok";
	const char *code = "0", *display = "Success";
	if (strcmp(o, "partial") == 0)
		code = "4", display = "Minor failure";
	else if (strcmp(o, "ok") != 0)
		code = "8", display = "Serious failure";
	strata_json_key(j, "outcome");
	strata_json_obj_begin(j);
	strata_json_key(j, "code");
	coding(j, OUTCOME_CS, code, display);
	const char *why = r->reasons ? r->reasons : r->detail;
	if (why) {
		strata_json_key(j, "detail");
		strata_json_arr_begin(j);
		strata_json_obj_begin(j);
		strata_json_key(j, "text");
		strata_json_str(j, why);
		strata_json_obj_end(j);
		strata_json_arr_end(j);
	}
	strata_json_obj_end(j);
}

static void categories(strata_json *j, const strata_audit_rec *r)
{
	const dcm_event *ev = NULL;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (verb_in(r->action, events[i].verbs)) {
			ev = &events[i];
			break;
		}
	strata_json_key(j, "category");
	strata_json_arr_begin(j);
	if (ev)
	concept(j, DCM, ev->code, ev->display);
	else concept(j, DCM, "110100", "Application Activity");
	if (r->decision && strcmp(r->decision, "deny") == 0)
	concept(j, DCM, "110113", "Security Alert");
	strata_json_arr_end(j);
}

static bool is_code(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < 'A' || *s > 'Z')
			return false;
	return true;
}

static void agents(strata_json *j, const strata_audit_rec *r)
{
	strata_json_key(j, "agent");
	strata_json_arr_begin(j);
	strata_json_obj_begin(j);
	if (r->role) {
		strata_json_key(j, "role");
		strata_json_arr_begin(j);
		strata_json_obj_begin(j);
		strata_json_key(j, "text");
		strata_json_str(j, r->role);
		strata_json_obj_end(j);
		strata_json_arr_end(j);
	}
	strata_json_key(j, "who");
	identifier_ref(j, STRATA_ACTOR_NS, r->actor);
	strata_json_key(j, "requestor");
	strata_json_bool(j, true);
	strata_json_obj_end(j);
	strata_json_arr_end(j);
}

static void entity_object(strata_json *j, const strata_audit_rec *r)
{
	strata_json_obj_begin(j);
	strata_json_key(j, "what");
	identifier_ref(j, STRATA_OBJECT_NS, r->object);
	strata_json_key(j, "role");
	concept(j, OBJROLE_CS, "4", "Domain Resource");
	strata_json_key(j, "detail");
	strata_json_arr_begin(j);
	strata_json_obj_begin(j);
	strata_json_key(j, "type");
	strata_json_obj_begin(j);
	strata_json_key(j, "text");
	strata_json_str(j, "bytes");
	strata_json_obj_end(j);
	strata_json_key(j, "valueQuantity");
	strata_json_obj_begin(j);
	strata_json_key(j, "value");
	strata_json_u64(j, r->bytes);
	strata_json_key(j, "unit");
	strata_json_str(j, "byte");
	strata_json_key(j, "system");
	strata_json_str(j, "http://unitsofmeasure.org");
	strata_json_key(j, "code");
	strata_json_str(j, "By");
	strata_json_obj_end(j);
	strata_json_obj_end(j);
	strata_json_arr_end(j);
	strata_json_obj_end(j);
}

static void entities(strata_json *j, const strata_audit_rec *r)
{
	if (!r->object && !r->nsubjects)
		return;
	strata_json_key(j, "entity");
	strata_json_arr_begin(j);
	if (r->object)
		entity_object(j, r);
	for (size_t i = 0; i < r->nsubjects; i++) {
		strata_json_obj_begin(j);
		strata_json_key(j, "what");
		identifier_ref(j, STRATA_PSEUDONYM_NS, r->subjects[i]);
		strata_json_key(j, "role");
		concept(j, OBJROLE_CS, "1", "Patient");
		strata_json_obj_end(j);
	}
	strata_json_arr_end(j);
}

static void authorization(strata_json *j, const char *purpose)
{
	strata_json_key(j, "authorization");
	strata_json_arr_begin(j);
	strata_json_obj_begin(j);
	if (is_code(purpose)) { /* a v3 PurposeOfUse code such as HRESCH */
		strata_json_key(j, "coding");
		strata_json_arr_begin(j);
		coding(j, PURPOSE_CS, purpose, NULL);
		strata_json_arr_end(j);
	}
	strata_json_key(j, "text");
	strata_json_str(j, purpose);
	strata_json_obj_end(j);
	strata_json_arr_end(j);
}

void strata_audit_fhir(strata_json *j, const strata_audit_rec *r,
		       const char *origin)
{
	char when[48], id[24],
	    act[2] = {strata_audit_action_code(r->action), 0};
	instant(when, r->time_ns);
	snprintf(id, sizeof(id), "%" PRIu64, r->seq);
	strata_json_obj_begin(j);
	strata_json_key(j, "resourceType");
	strata_json_str(j, "AuditEvent");
	strata_json_key(j, "id");
	strata_json_str(j, id);
	categories(j, r);
	strata_json_key(j, "code");
	concept(j, STRATA_ACTION_CS, r->action, NULL);
	strata_json_key(j, "action");
	strata_json_str(j, act);
	strata_json_key(j, "severity");
	strata_json_str(j, r->decision && strcmp(r->decision, "deny") == 0
			       ? "warning"
			   : r->outcome && strcmp(r->outcome, "error") == 0
			       ? "error"
			       : "informational");
	strata_json_key(j, "occurredDateTime");
	strata_json_str(j, when);
	strata_json_key(j, "recorded");
	strata_json_str(j, when);
	outcome(j, r);
	if (r->purpose)
		authorization(j, r->purpose);
	if (r->nsubjects == 1) {
		strata_json_key(j, "patient");
		identifier_ref(j, STRATA_PSEUDONYM_NS, r->subjects[0]);
	}
	agents(j, r);
	strata_json_key(j, "source");
	strata_json_obj_begin(j);
	strata_json_key(j, "observer");
	strata_json_obj_begin(j);
	strata_json_key(j, "display");
	strata_json_str(j, origin);
	strata_json_obj_end(j);
	strata_json_key(j, "type");
	strata_json_arr_begin(j);
	concept(j, SRCTYPE_CS, "5", "Database Server");
	strata_json_arr_end(j);
	strata_json_obj_end(j);
	entities(j, r);
	strata_json_obj_end(j);
}

void strata_audit_json(strata_json *j, const strata_audit_rec *r)
{
	char when[48];
	instant(when, r->time_ns);
	strata_json_obj_begin(j);
	strata_json_key(j, "seq");
	strata_json_u64(j, r->seq);
	strata_json_key(j, "time");
	strata_json_str(j, when);
	strata_json_key(j, "time_ns");
	strata_json_i64(j, r->time_ns);
	strata_json_key(j, "actor");
	strata_json_str(j, r->actor);
	strata_json_key(j, "role");
	strata_json_str(j, r->role);
	strata_json_key(j, "action");
	strata_json_str(j, r->action);
	strata_json_key(j, "object");
	strata_json_str(j, r->object);
	strata_json_key(j, "subjects");
	strata_json_arr_begin(j);
	for (size_t i = 0; i < r->nsubjects; i++)
		strata_json_str(j, r->subjects[i]);
	strata_json_arr_end(j);
	strata_json_key(j, "purpose");
	strata_json_str(j, r->purpose);
	strata_json_key(j, "decision");
	strata_json_str(j, r->decision);
	strata_json_key(j, "reasons");
	strata_json_str(j, r->reasons);
	strata_json_key(j, "outcome");
	strata_json_str(j, r->outcome);
	strata_json_key(j, "bytes");
	strata_json_u64(j, r->bytes);
	strata_json_key(j, "detail");
	strata_json_str(j, r->detail);
	if (r->hash) {
		strata_json_key(j, "hash");
		strata_json_str(j, r->hash);
	}
	strata_json_obj_end(j);
}
