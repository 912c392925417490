/*
 * unit.h - helpers shared by the token store's unit tests: a private
 * temporary directory removed at exit, writing files with a given mode,
 * and a check that an error message contains a substring.
 */
#ifndef TESTS_UNIT_UNIT_H
#define TESTS_UNIT_UNIT_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "tokenstore.h"

static char unit_tmp[256];

static int unit_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	chmod(p, 0700);
	return remove(p);
}

static void unit_cleanup(void)
{
	if (unit_tmp[0] != '\0' && getenv("KEEP_TMP") == NULL)
		nftw(unit_tmp, unit_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh 0700 directory under $TMPDIR, removed at exit. */
static inline const char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(unit_tmp, sizeof(unit_tmp), "%s/tsunit.XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(unit_tmp) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	chmod(unit_tmp, 0700);
	atexit(unit_cleanup);
	return unit_tmp;
}

static inline void unit_write(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(99);
	}
	close(fd);
	chmod(path, mode);
}

static inline int unit_has(const char *hay, const char *needle)
{
	return hay != NULL && needle != NULL && strstr(hay, needle) != NULL;
}

/* Assert code and that the message contains each of up to three substrings. */
#define UNIT_ERR(rc, e, want, s1, s2, what)                                          \
	do {                                                                         \
		int ok_ = (rc) == (want) && (e).code == (want) &&                    \
			  ((s1) == NULL || unit_has((e).msg, (s1))) &&               \
			  ((s2) == NULL || unit_has((e).msg, (s2)));                 \
		if (!tap_ok(ok_, "%s", what))                                        \
			tap_diag("  rc=%d want=%d msg=%s", (rc), (want), (e).msg);   \
	} while (0)

#endif
