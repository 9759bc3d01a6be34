/*
 * cmd_init.c - strata init REPO [--zone NAME]: create a repository.
 */
#include "cli/cli.h"

const char usage_init[] =
    "strata init REPO [--zone NAME] [--key-file F] [--chunk-avg BYTES]\n"
    "\nCreate an encrypted repository in directory REPO (absent or empty).\n"
    "The master key is wrapped by the password (STRATA_PASSWORD or\n"
    "--password-file) with Argon2id, and/or by a key file (--key-file F;\n"
    "created if F does not exist).\n\n"
    "  --zone NAME         zone of the repository (default onprem)\n"
    "  --allow CLASS,...   classes the zone may hold (default: all)\n"
    "The creator (STRATA_USER, or the OS user) becomes its admin.\n"
    "  --chunk-min/--chunk-avg/--chunk-max BYTES   chunking bounds\n"
    "                      (default 262144 / 1048576 / 4194304)\n"
    "  --kdf-memory MIB    Argon2id memory (default 64)\n"
    "  --zstd-level N      compression level, -7 (fastest) .. 19 (smallest);\n"
    "                      default 1\n"
    "  --json              print the result as JSON\n";
_Static_assert(STRATA_ZSTD_DEFAULT == 1, "usage_init names the default");

enum { O_ZONE = OPT_BASE, O_MIN, O_AVG, O_MAX, O_KDF, O_ALLOW, O_ZSTD };

static int u32_arg(const char *s, uint32_t *out)
{
	uint64_t v;
	if (strata_parse_u64(s, &v) || v > UINT32_MAX)
		return cli_usage_error(usage_init, "'%s' is not a number", s);
	*out = (uint32_t)v;
	return 0;
}

int cmd_init(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"zone", required_argument, NULL, O_ZONE},
	    {"allow", required_argument, NULL, O_ALLOW},
	    {"chunk-min", required_argument, NULL, O_MIN},
	    {"chunk-avg", required_argument, NULL, O_AVG},
	    {"chunk-max", required_argument, NULL, O_MAX},
	    {"kdf-memory", required_argument, NULL, O_KDF},
	    {"zstd-level", required_argument, NULL, O_ZSTD},
	    {NULL, 0, NULL, 0}};
	strata_repo_config cfg;
	int o, rc = 0;
	memset(&cfg, 0, sizeof(cfg));
	while ((o = cli_getopt(c, argc, argv, opts, usage_init)) != -1) {
		uint32_t mib = 0;
		switch (o) {
		case O_ALLOW:
			cfg.allow = optarg;
			break;
		case O_ZONE:
			cfg.zone = optarg;
			break;
		case O_MIN:
			rc = u32_arg(optarg, &cfg.chunk_min);
			break;
		case O_AVG:
			rc = u32_arg(optarg, &cfg.chunk_avg);
			break;
		case O_MAX:
			rc = u32_arg(optarg, &cfg.chunk_max);
			break;
		case O_KDF:
			if (!(rc = u32_arg(optarg, &mib)) &&
			    (mib < 8 || mib > 4096))
				rc = cli_usage_error(
				    usage_init, "--kdf-memory takes 8..4096 "
						"(MiB)");
			cfg.kdf_mem_kib = mib * 1024;
			break;
		case O_ZSTD:
			rc =
			    cli_zstd_level(usage_init, optarg, &cfg.zstd_level);
			break;
		default:
			return cli_bad_option(usage_init, argv);
		}
		if (rc)
			return rc;
	}
	const char *repo = optind < argc ? argv[optind] : c->repo;
	if (!repo)
		repo = getenv("STRATA_REPO");
	if (!repo || optind + 1 < argc)
		return cli_usage_error(usage_init,
				       "name one repository directory");
	if (cfg.zone && (!*cfg.zone || strpbrk(cfg.zone, " \n\t/")))
		return cli_usage_error(usage_init, "bad zone name '%s'",
				       cfg.zone);
	if ((rc = cli_auth(c, true)) ||
	    (rc = strata_repo_init(repo, &cfg, &c->auth)))
		return cli_fail("init", rc);
	if (c->json) {
		strata_json j;
		strata_json_init(&j, stdout);
		strata_json_obj_begin(&j);
		strata_json_key(&j, "repository");
		strata_json_str(&j, repo);
		strata_json_key(&j, "zone");
		strata_json_str(&j, cfg.zone ? cfg.zone : "onprem");
		strata_json_obj_end(&j);
		strata_json_end(&j);
	} else {
		printf("created strata repository at '%s' (zone %s)\n", repo,
		       cfg.zone ? cfg.zone : "onprem");
	}
	return EXIT_OK;
}
