/*
 * cmd_restore.c - strata restore NAME[@vN] DEST [--include GLOB] [--verify].
 */
#include "cli/cli.h"

const char usage_restore[] =
    "strata -R REPO restore NAME[@vN] DEST [--include GLOB] [--verify]\n"
    "\nRestore a version (latest without @vN) into directory DEST, byte\n"
    "for byte, with modes, times and symlinks. Every chunk is verified\n"
    "before it is written; files are written under a temporary name and\n"
    "renamed, so a damaged file is reported, never left half-written.\n\n"
    "  --include GLOB   restore only paths matching GLOB (fnmatch, '*'\n"
    "                   also matches '/'), or below a matching directory\n"
    "  --verify         read every file back and keep it only if its\n"
    "                   SHA-256 is the version's (a second pass)\n"
    "  --json           print a summary as JSON\n"
    "  -q               no progress line\n";

enum { O_INCLUDE = OPT_BASE, O_VERIFY };

int cmd_restore(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"include", required_argument, NULL, O_INCLUDE},
	    {"verify", no_argument, NULL, O_VERIFY},
	    {NULL, 0, NULL, 0}};
	const char *glob = NULL;
	unsigned flags = 0;
	strata_repo *r = NULL;
	strata_restore_stats st;
	int o, rc;
	while ((o = cli_getopt(c, argc, argv, opts, usage_restore)) != -1) {
		if (o == O_INCLUDE)
			glob = optarg;
		else if (o == O_VERIFY)
			flags |= STRATA_RESTORE_VERIFY;
		else
			return cli_bad_option(usage_restore, argv);
	}
	if (!c->quiet)
		flags |= STRATA_RESTORE_PROGRESS;
	if (argc - optind != 2)
		return cli_usage_error(usage_restore, "name a version and a "
						      "destination");
	if ((rc = cli_open(c, &r)))
		return cli_fail("restore", rc);
	rc = strata_repo_restore(r, argv[optind], argv[optind + 1], glob, flags,
				 &st);
	strata_repo_close(r);
	if (rc && rc != STRATA_EPARTIAL)
		return cli_fail("restore", rc);
	if (c->json) {
		strata_json j;
		strata_json_init(&j, stdout);
		strata_json_obj_begin(&j);
		strata_json_key(&j, "files");
		strata_json_u64(&j, st.files);
		strata_json_key(&j, "dirs");
		strata_json_u64(&j, st.dirs);
		strata_json_key(&j, "symlinks");
		strata_json_u64(&j, st.symlinks);
		strata_json_key(&j, "bytes");
		strata_json_u64(&j, st.bytes);
		strata_json_key(&j, "errors");
		strata_json_u64(&j, st.errors);
		strata_json_key(&j, "bytes_direct");
		strata_json_u64(&j, st.bytes_direct);
		strata_json_key(&j, "verified");
		strata_json_u64(&j, st.verified);
		strata_json_key(&j, "seconds");
		strata_json_dbl(&j, st.seconds);
		strata_json_obj_end(&j);
		strata_json_end(&j);
	} else if (!c->quiet) {
		printf("restored %" PRIu64 " files (%.1f MiB), %" PRIu64
		       " dirs, %" PRIu64 " symlinks in %.2f s\n",
		       st.files, (double)st.bytes / 1048576.0, st.dirs,
		       st.symlinks, st.seconds);
	}
	return rc ? cli_fail("restore", rc) : EXIT_OK;
}
