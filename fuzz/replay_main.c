/*
 * Corpus replay: runs a fuzz target's LLVMFuzzerTestOneInput on every file
 * named on the command line or found (one level deep) in a directory named
 * there. Lets the seed corpora run as ordinary tests, built by any compiler
 * without libFuzzer. Each input is copied into a buffer of exactly its size
 * so an out-of-bounds read shows under ASan as it would under libFuzzer.
 *
 * Exits 0 when at least one input ran (a broken invariant aborts), 1 when
 * none was found or a file could not be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/fuzz_check.h"

/* Optional in a target; weak so targets that lack it still link. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads a whole file into an exactly sized buffer; NULL on error. */
static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		goto out_close;
	buf = malloc(len ? (size_t)len : 1);
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	*size = (size_t)len;
out_close:
	fclose(f);
	return buf;
}

/* Returns 0 when the input ran, -1 when the file could not be read. */
static int run_file(const char *path)
{
	size_t size = 0;
	uint8_t *buf = read_file(path, &size);

	if (!buf) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, size);
	free(buf);
	return 0;
}

/* Runs every regular file in dir; returns the count or -1 on error. */
static long run_dir(const char *dir)
{
	char path[4096];
	struct dirent *e;
	struct stat st;
	long count = 0;
	DIR *d = opendir(dir);

	if (!d) {
		fprintf(stderr, "replay: cannot open %s\n", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/* stat, not d_type: Bazel's runfiles are symlinks. */
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path)) {
			count = -1;
			break;
		}
		count++;
	}
	closedir(d);
	return count;
}

static long run_arg(const char *arg)
{
	struct stat st;

	if (stat(arg, &st)) {
		fprintf(stderr, "replay: no such file or directory: %s\n", arg);
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return run_dir(arg);
	return run_file(arg) ? -1 : 1;
}

int main(int argc, char **argv)
{
	long total = 0, n;
	int i;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		n = run_arg(argv[i]);
		if (n < 0)
			return 1;
		printf("replay: %s: %ld inputs\n", argv[i], n);
		total += n;
	}
	printf("replay: ran %ld inputs\n", total);
	return total > 0 ? 0 : 1;
}
