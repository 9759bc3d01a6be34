/*
 * cli_util.c - what every subcommand shares: option parsing with the
 * common options folded in, secrets from the environment or files, and
 * the one table from error codes to exit codes and hints.
 */
#include "cli/cli.h"

static const struct option common[] = {
    {"repo", required_argument, NULL, OPT_REPO},
    {"help", no_argument, NULL, OPT_HELP},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"json", no_argument, NULL, OPT_JSON},
    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    {"purpose", required_argument, NULL, OPT_PURPOSE},
};
#define NCOMMON (sizeof(common) / sizeof(common[0]))

int cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	fputs("strata: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	const char *nl = strchr(usage, '\n');
	fprintf(stderr, "\nusage: %.*s\n(see -h)\n",
		(int)(nl ? nl - usage : (long)strlen(usage)), usage);
	return EXIT_USAGE;
}

int cli_bad_option(const char *usage, char **argv)
{
	return cli_usage_error(usage, "option '%s' is not valid here",
			       argv[optind - 1]);
}

int cli_zstd_level(const char *usage, const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < STRATA_ZSTD_MIN ||
	    v > STRATA_ZSTD_MAX || v == 0)
		return cli_usage_error(
		    usage, "--zstd-level takes %d..%d (not 0), not '%s'",
		    STRATA_ZSTD_MIN, STRATA_ZSTD_MAX, s);
	*out = (int)v;
	return 0;
}

bool cli_valid_dataset(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > 128 || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return true;
}

int cli_getopt(cli *c, int argc, char **argv, const struct option *extra,
	       const char *usage)
{
	struct option all[32];
	size_t n = 0;
	for (size_t i = 0; i < NCOMMON; i++)
		all[n++] = common[i];
	for (; extra && extra[n - NCOMMON].name && n < 31; n++)
		all[n] = extra[n - NCOMMON];
	memset(&all[n], 0, sizeof(all[n]));
	for (;;) {
		int o = getopt_long(argc, argv, "R:hqm:", all, NULL);
		switch (o) {
		case OPT_REPO:
			c->repo = optarg;
			continue;
		case OPT_QUIET:
			c->quiet = true;
			strata_quiet = 1;
			continue;
		case OPT_JSON:
			c->json = true;
			continue;
		case OPT_PASSWORD_FILE:
			c->password_file = optarg;
			continue;
		case OPT_KEY_FILE:
			c->key_file = optarg;
			continue;
		case OPT_PURPOSE:
			c->purpose = optarg;
			continue;
		case OPT_HELP:
			fputs("usage: ", stdout);
			fputs(usage, stdout);
			exit(EXIT_OK);
		case '?':
			exit(cli_usage_error(usage, "bad option"));
		default:
			return o;
		}
	}
}

static int read_secret_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	if (!f)
		return strata_error_set(strata_errno_code(errno),
					"cannot read password file '%s': %s",
					path, strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	n = strlen(buf);
	if (n && buf[n - 1] == '\r')
		buf[--n] = 0;
	if (!n)
		return strata_error_set(STRATA_EAUTH,
					"password file '%s' is empty", path);
	*out = strata_strndup(buf, n);
	*len = n;
	strata_wipe(buf, sizeof(buf));
	return *out ? 0 : strata_error_set(STRATA_ENOMEM, "out of memory");
}

static int key_file(cli *c, const char *path, bool create)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	if (!f && errno == ENOENT && create) {
		char hex[65];
		strata_random(c->keyfile, 32);
		strata_hex(hex, c->keyfile, 32);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || dprintf(fd, "%s\n", hex) < 0 || fsync(fd) ||
		    close(fd))
			return strata_error_set(
			    strata_errno_code(errno),
			    "cannot write key file '%s': %s", path,
			    strerror(errno));
		fprintf(stderr,
			"strata: created key file '%s': keep it safe, "
			"without it the repository cannot be read\n",
			path);
		c->have_keyfile = true;
		return 0;
	}
	if (!f)
		return strata_error_set(strata_errno_code(errno),
					"cannot read key file '%s': %s", path,
					strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n &&
	       (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = 0;
	if (strata_unhex(c->keyfile, 32, buf))
		return strata_error_set(
		    STRATA_EAUTH,
		    "key file '%s' does not hold a strata key "
		    "(64 hex digits)",
		    path);
	c->have_keyfile = true;
	return 0;
}

int cli_auth(cli *c, bool for_init)
{
	return cli_auth_env(c, for_init, "STRATA_PASSWORD", "STRATA_KEY_FILE");
}

int cli_auth_env(cli *c, bool for_init, const char *pass_env,
		 const char *key_env)
{
	int rc;
	const char *env = getenv(pass_env);
	if (c->password_file) {
		if ((rc = read_secret_file(c->password_file, &c->password,
					   &c->password_len)))
			return rc;
	} else if (env && *env) {
		if (!(c->password = strata_strdup(env)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		c->password_len = strlen(env);
	}
	const char *kf = c->key_file ? c->key_file : getenv(key_env);
	if (kf && *kf && (rc = key_file(c, kf, for_init)))
		return rc;
	c->auth.password = c->password;
	c->auth.password_len = c->password_len;
	c->auth.keyfile = c->have_keyfile ? c->keyfile : NULL;
	return 0;
}

int cli_open(cli *c, strata_repo **out)
{
	int rc;
	if (!c->repo)
		c->repo = getenv("STRATA_REPO");
	if (!c->repo || !*c->repo)
		return strata_error_set(STRATA_EINVAL,
					"no repository: use -R REPO or set "
					"STRATA_REPO");
	if ((rc = cli_auth(c, false)))
		return rc;
	if ((rc = strata_repo_open(out, c->repo, &c->auth)))
		return rc;
	const char *p = c->purpose ? c->purpose : getenv("STRATA_PURPOSE");
	if ((rc = strata_repo_set_purpose(*out, p && *p ? p : NULL))) {
		strata_repo_close(*out);
		*out = NULL;
	}
	return rc;
}

int cli_fail(const char *what, int rc)
{
	const char *msg = strata_error_msg();
	fprintf(stderr, "strata: %s: %s\n", what, msg);
	if (rc == STRATA_ECORRUPT)
		fputs("hint: run 'strata check --read-data' to find what is "
		      "affected\n",
		      stderr);
	return rc == STRATA_EPARTIAL			     ? EXIT_PARTIAL
	       : rc == STRATA_EINVAL && strstr(msg, "usage") ? EXIT_USAGE
							     : EXIT_FAIL;
}

void cli_free(cli *c)
{
	if (c->password) {
		strata_wipe(c->password, c->password_len);
		strata_free(c->password);
	}
	strata_wipe(c->keyfile, sizeof(c->keyfile));
}

void cli_put_path(FILE *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

strata_json *cli_list_begin(const cli *c, strata_json *j)
{
	if (!c->json)
		return NULL;
	strata_json_init(j, stdout);
	strata_json_arr_begin(j);
	return j;
}

void cli_list_end(strata_json *j)
{
	if (!j)
		return;
	strata_json_arr_end(j);
	strata_json_end(j);
}
