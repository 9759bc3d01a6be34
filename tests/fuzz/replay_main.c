/*
 * replay_main.c - a main() for building a fuzz target without libFuzzer:
 * runs LLVMFuzzerTestOneInput on every file named on the command line
 * (directories are read one level deep, in sorted order) and on every
 * prefix of each file up to 512 bytes, so truncation is covered too. Each
 * run gets an exactly sized heap copy so a sanitizer sees any overread.
 * Used by ctest (label fuzz) to replay the committed corpus.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PREFIX 512
#define MAX_FILE (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long nfiles, nruns;

static void run(const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy) {
		fprintf(stderr, "replay: out of memory\n");
		exit(2);
	}
	if (n)
		memcpy(copy, p, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	nruns++;
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	if (!f) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb =
			    cap <= MAX_FILE ? realloc(buf, cap) : NULL;
			if (!nb) {
				fprintf(stderr,
					"%s: too large or out of memory\n",
					path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "%s: read error\n", path);
		free(buf);
		return -1;
	}
	run(buf, len);
	for (size_t k = 0; k < len && k <= MAX_PREFIX; k++)
		run(buf, k);
	free(buf);
	nfiles++;
	return 0;
}

static int skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int replay_path(const char *path)
{
	struct stat st;
	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	struct dirent **ents;
	int n = scandir(path, &ents, skip_dot, alphasort), rc = 0;
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];
		int w =
		    snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
		if (w < 0 || (size_t)w >= sizeof(sub)) {
			fprintf(stderr, "%s: path too long\n", path);
			rc = -1;
		} else if (stat(sub, &st) == 0 && S_ISREG(st.st_mode) &&
			   replay_file(sub)) {
			rc = -1;
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0, paths = 0;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue; /* libFuzzer-style flags: ignored */
		paths++;
		if (replay_path(argv[i]))
			rc = 1;
	}
	if (!paths) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (!nfiles) {
		fprintf(stderr, "replay: no input files found\n");
		rc = 1;
	}
	printf("replayed %lu files in %lu runs\n", nfiles, nruns);
	return rc;
}
