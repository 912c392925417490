/*
 * failwrite.c - an LD_PRELOAD shim for tests: the disk "fills up" for the
 * token store's state files, so that the write after a refresh fails.
 *
 *   FAILWRITE=rename   renameat/rename onto a *.state file fails (ENOSPC):
 *                      the temporary was written and synced completely
 *   FAILWRITE=kill     the process is killed (SIGKILL) instead of renaming
 *                      onto a *.state file: a crash at the worst moment
 *   FAILWRITE=write    write() to a temporary of a state file
 *                      (.NAME.state.XXXXXXXXXXXX.tmp) fails (ENOSPC): no
 *                      complete copy exists anywhere
 *   FAILWRITE_SKIP=N   let the first N matching calls succeed
 *   FAILWRITE_UNTIL=M  and those after the M-th (the disk has room again)
 *   FAILWRITE_FROM=start  count (and fail) matching calls from the start;
 *                      by default only once the process has received
 *                      bytes from a socket (the token endpoint's answer),
 *                      so that exactly the writes after a refresh fail
 *
 * Everything else goes to the real functions.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* Set once a socket delivered data. */
static int answered;

static const char *mode(void)
{
	const char *m = getenv("FAILWRITE");

	return m ? m : "";
}

/* Whether this matching call fails (FAILWRITE_SKIP < n <= FAILWRITE_UNTIL). */
static int fail_now(void)
{
	static long seen;
	const char *s = getenv("FAILWRITE_SKIP"), *u = getenv("FAILWRITE_UNTIL");

	const char *from = getenv("FAILWRITE_FROM");

	if (!answered && !(from && strcmp(from, "start") == 0))
		return 0;
	seen++;
	return seen > (s ? strtol(s, NULL, 10) : 0) && (u == NULL || seen <= strtol(u, NULL, 10));
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	int (*real)(int, const char *, int, const char *) =
		(int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");

	if (strcmp(mode(), "kill") == 0 && ends_with(newpath, ".state") && fail_now())
		kill(getpid(), SIGKILL);
	if (strcmp(mode(), "rename") == 0 && ends_with(newpath, ".state") && fail_now()) {
		errno = ENOSPC;
		return -1;
	}
	return real(olddirfd, oldpath, newdirfd, newpath);
}

int rename(const char *oldpath, const char *newpath)
{
	return renameat(AT_FDCWD, oldpath, AT_FDCWD, newpath);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	ssize_t (*real)(int, const void *, size_t) =
		(ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");

	if (strcmp(mode(), "write") == 0) {
		char link[64], path[4096];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n > 0) {
			const char *base;

			path[n] = '\0';
			base = strrchr(path, '/');
			base = base ? base + 1 : path;
			if (base[0] == '.' && strstr(base, ".state.") != NULL && ends_with(base, ".tmp") &&
			    fail_now()) {
				errno = ENOSPC;
				return -1;
			}
		}
	}
	return real(fd, buf, len);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t (*real)(int, void *, size_t, int) =
		(ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
	ssize_t n = real(fd, buf, len, flags);

	if (n > 0)
		answered = 1;
	return n;
}
