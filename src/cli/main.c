/*
 * main.c - the strata command: global options, then one dispatch table
 * of subcommands, each in its own cmd_<name>.c.
 */
#include "cli/cli.h"

static const cmd cmds[] = {
    {"init", cmd_init, usage_init},
    {"ingest", cmd_ingest, usage_ingest},
    {"datasets", cmd_datasets, usage_datasets},
    {"log", cmd_log, usage_log},
    {"ls", cmd_ls, usage_ls},
    {"cat", cmd_cat, usage_cat},
    {"diff", cmd_diff, usage_diff},
    {"restore", cmd_restore, usage_restore},
    {"check", cmd_check, usage_check},
    {"find", cmd_find, usage_find},
    {"show", cmd_show, usage_show},
    {"lineage", cmd_lineage, usage_lineage},
    {"debug", cmd_debug, usage_debug},
    {"user", cmd_user, usage_user},
    {"role", cmd_role, usage_role},
    {"zone", cmd_zone, usage_zone},
    {"consent", cmd_consent, usage_consent},
    {"impact", cmd_impact, usage_impact},
    {"subjects", cmd_subjects, usage_subjects},
    {"policy", cmd_policy, usage_policy},
    {"audit", cmd_audit, usage_audit},
    {"remote", cmd_remote, usage_remote},
    {"deid", cmd_deid, usage_deid},
    {"push", cmd_push, usage_push},
    {"pull", cmd_pull, usage_pull},
    {"replicas", cmd_replicas, usage_replicas},
    {"egress", cmd_egress, usage_egress},
};

static void help(FILE *f)
{
	fputs("usage: strata [-R REPO] [--password-file F] [--key-file F] "
	      "[--purpose P] [--json] [-q] COMMAND [ARGS]\n\n"
	      "Governed, versioned, deduplicated, encrypted store for "
	      "biomedical data.\n\ncommands:\n"
	      "  init      create a repository\n"
	      "  ingest    store paths as a new version of a dataset\n"
	      "  datasets  list datasets\n"
	      "  log       list the versions of a dataset\n"
	      "  ls        list the files of a version\n"
	      "  cat       write one file of a version to stdout\n"
	      "  diff      compare two versions\n"
	      "  restore   restore a version into a directory\n"
	      "  check     verify the repository\n"
	      "  find      find files by their metadata\n"
	      "  show      show a version or a file with its metadata\n"
	      "  lineage   walk the sources of a version, or what it made\n"
	      "  debug     measure this machine (debug speed)\n"
	      "  user      add, list or remove users and their roles\n"
	      "  role      list, show or add roles\n"
	      "  zone      show or set the classes this zone may hold\n"
	      "  consent   set, show or withdraw DUO consent\n"
	      "  impact    every file and version of a subject\n"
	      "  subjects  the identifier <-> pseudonym table (stewards)\n"
	      "  policy    show, set or check the guardrail policy file\n"
	      "  audit     read and verify the tamper-evident audit log\n"
	      "  deid      de-identify a version into a curated one\n"
	      "  remote    add, list or remove remote repositories\n"
	      "  push      send a version to a remote (policy-gated)\n"
	      "  pull      fetch a version from a remote\n"
	      "  replicas  which versions exist on which remote\n"
	      "  egress    bytes sent per project, dataset or remote, and "
	      "cost\n\n"
	      "The repository comes from -R or STRATA_REPO; the password from "
	      "STRATA_PASSWORD\nor --password-file; a key file from --key-file "
	      "or STRATA_KEY_FILE.\n'strata COMMAND -h' describes a command; "
	      "docs/ has a page for each.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"repo", required_argument, NULL, 'R'},
	    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
	    {"key-file", required_argument, NULL, OPT_KEY_FILE},
	    {"purpose", required_argument, NULL, OPT_PURPOSE},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	cli c;
	int o;
	memset(&c, 0, sizeof(c));
	while ((o = getopt_long(argc, argv, "+R:qhV", opts, NULL)) != -1) {
		switch (o) {
		case 'R':
			c.repo = optarg;
			break;
		case 'q':
			c.quiet = true;
			strata_quiet = 1;
			break;
		case OPT_JSON:
			c.json = true;
			break;
		case OPT_PASSWORD_FILE:
			c.password_file = optarg;
			break;
		case OPT_KEY_FILE:
			c.key_file = optarg;
			break;
		case OPT_PURPOSE:
			c.purpose = optarg;
			break;
		case 'h':
			help(stdout);
			return EXIT_OK;
		case 'V':
			printf("strata %s\n", STRATA_VERSION);
			return EXIT_OK;
		default:
			help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		help(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, name))
			continue;
		int sub_argc = argc - optind;
		char **sub_argv = argv + optind;
		optind = 0; /* full re-initialisation for the subcommand */
		int rc = cmds[i].run(&c, sub_argc, sub_argv);
		cli_free(&c);
		if (fflush(stdout) || ferror(stdout)) {
			fprintf(stderr, "strata: %s: cannot write output: %s\n",
				name, strerror(errno));
			return EXIT_FAIL;
		}
		return rc;
	}
	fprintf(stderr, "strata: unknown command '%s' (see 'strata -h')\n",
		name);
	return EXIT_USAGE;
}
