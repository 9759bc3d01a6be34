/*
 * cli.h - shared by the subcommands: global options, opening the
 * repository named by -R or STRATA_REPO, reading secrets, option
 * parsing and the mapping from error codes to exit codes.
 */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <getopt.h>

#include "common/common.h"
#include "policy/guardrail.h"
#include "strata/repo.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

typedef struct cli {
	const char *repo;
	const char *password_file;
	const char *key_file;
	const char *purpose; /* --purpose, or STRATA_PURPOSE */
	bool json;
	bool quiet;
	/* filled by cli_auth */
	char *password;
	size_t password_len;
	uint8_t keyfile[32];
	bool have_keyfile;
	strata_auth auth;
} cli;

/* Options every command accepts; OPT_BASE + n are command specific. */
enum {
	OPT_REPO = 'R',
	OPT_HELP = 'h',
	OPT_QUIET = 'q',
	OPT_JSON = 1000,
	OPT_PASSWORD_FILE,
	OPT_KEY_FILE,
	OPT_PURPOSE,
	OPT_BASE = 1100
};

typedef struct cmd {
	const char *name;
	int (*run)(cli *c, int argc, char **argv);
	const char *usage; /* first line: synopsis */
} cmd;

/* getopt_long over the command's options plus the common ones. Returns
 * the option, -1 at the end, or '?' after printing an error. Handles the
 * common options itself (and -h by printing `usage` and exiting 0). */
int cli_getopt(cli *c, int argc, char **argv, const struct option *extra,
	       const char *usage);
int cli_auth(cli *c, bool for_init);
/* The same, with other environment variables (a remote's secrets). */
int cli_auth_env(cli *c, bool for_init, const char *pass_env,
		 const char *key_env);
int cli_open(cli *c, strata_repo **out);
int cli_fail(const char *cmd, int rc);
int cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* After cli_getopt returned an option the command does not take. */
int cli_bad_option(const char *usage, char **argv);
/* A --zstd-level value: STRATA_ZSTD_MIN..STRATA_ZSTD_MAX, not 0. */
int cli_zstd_level(const char *usage, const char *s, int *out);
/* Dataset names: letters, digits, '.', '_', '-'; not starting with '.'
 * or '-'; at most 128 bytes. */
bool cli_valid_dataset(const char *name);
void cli_free(cli *c);
/* A --json list: with --json, begin an array on stdout in *j and return
 * j; else NULL (callbacks print text). cli_list_end(NULL) does nothing. */
strata_json *cli_list_begin(const cli *c, strata_json *j);
void cli_list_end(strata_json *j);
/* Print a path (raw bytes) on a text line, escaping control characters. */
void cli_put_path(FILE *f, const char *p, size_t n);

int cmd_init(cli *c, int argc, char **argv);
int cmd_ingest(cli *c, int argc, char **argv);
int cmd_datasets(cli *c, int argc, char **argv);
int cmd_log(cli *c, int argc, char **argv);
int cmd_ls(cli *c, int argc, char **argv);
int cmd_cat(cli *c, int argc, char **argv);
int cmd_diff(cli *c, int argc, char **argv);
int cmd_restore(cli *c, int argc, char **argv);
int cmd_check(cli *c, int argc, char **argv);
int cmd_debug(cli *c, int argc, char **argv);
int cmd_find(cli *c, int argc, char **argv);
int cmd_show(cli *c, int argc, char **argv);
int cmd_lineage(cli *c, int argc, char **argv);
int cmd_user(cli *c, int argc, char **argv);
int cmd_role(cli *c, int argc, char **argv);
int cmd_zone(cli *c, int argc, char **argv);
int cmd_consent(cli *c, int argc, char **argv);
int cmd_impact(cli *c, int argc, char **argv);
int cmd_subjects(cli *c, int argc, char **argv);
int cmd_policy(cli *c, int argc, char **argv);
int cmd_audit(cli *c, int argc, char **argv);
int cmd_remote(cli *c, int argc, char **argv);
int cmd_deid(cli *c, int argc, char **argv);
extern const char usage_deid[];
int cmd_push(cli *c, int argc, char **argv);
int cmd_pull(cli *c, int argc, char **argv);
int cmd_replicas(cli *c, int argc, char **argv);
int cmd_egress(cli *c, int argc, char **argv);
extern const char usage_remote[], usage_push[], usage_pull[], usage_replicas[],
    usage_egress[];
extern const char usage_user[], usage_role[], usage_zone[], usage_consent[],
    usage_impact[], usage_subjects[], usage_policy[], usage_audit[];

extern const char usage_init[], usage_ingest[], usage_datasets[], usage_log[],
    usage_ls[], usage_cat[], usage_diff[], usage_restore[], usage_check[],
    usage_debug[], usage_find[], usage_show[], usage_lineage[];

#endif
