/*
 * protect.c - the helper protects what it shows and what it holds: what it
 * prints to a terminal cannot drive it, and its memory stays out of core
 * dumps.
 *
 * Values shown by list, status, show, doctor and in error messages come
 * from files other people may write (an imported export, a store owned by
 * a service user that root inspects, a provider's error text). Every input
 * path refuses control characters, but stores written before that rule, or
 * edited by hand, may still hold them. So stderr, and stdout when it is a
 * terminal, go through a filter that writes every control character other
 * than newline and tab as \xNN: an escape sequence is shown, never obeyed.
 * Commands whose output is data (token, export, tunnel) keep raw stdout.
 *
 * The other half of keeping secrets off the screen and out of files:
 * cli_protect_process turns off core dumps of the helper.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

/* Write all of (p, n) to fd; -1 on error. */
static int write_fd(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t escape_write(void *cookie, const char *buf, size_t size)
{
	int fd = *(const int *)cookie;
	char out[1024];
	size_t i, o = 0;

	for (i = 0; i < size; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (o + 4 > sizeof(out)) {
			if (write_fd(fd, out, o) != 0)
				return -1;
			o = 0;
		}
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
			snprintf(out + o, 5, "\\x%02X", c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	if (o > 0 && write_fd(fd, out, o) != 0)
		return -1;
	return (ssize_t)size;
}

static FILE *escaping_stream(int *fd)
{
	cookie_io_functions_t io = { .write = escape_write };
	FILE *f = fopencookie(fd, "w", io);

	if (f != NULL)
		setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

void cli_term_safe(bool data_stdout)
{
	static int out_fd = STDOUT_FILENO, err_fd = STDERR_FILENO;
	FILE *f;

	if ((f = escaping_stream(&err_fd)) != NULL)
		stderr = f;
	if (!data_stdout && isatty(STDOUT_FILENO) && (f = escaping_stream(&out_fd)) != NULL) {
		fflush(stdout);
		stdout = f;
	}
}

static struct rlimit core_orig;
static bool core_saved;

void cli_protect_process(void)
{
#ifndef __SANITIZE_ADDRESS__
	/* LeakSanitizer attaches to the process at exit, which a non-dumpable
	 * process forbids; sanitizer builds keep only the core limit. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
	if (getrlimit(RLIMIT_CORE, &core_orig) == 0) {
		struct rlimit none = { 0, core_orig.rlim_max };

		core_saved = setrlimit(RLIMIT_CORE, &none) == 0;
	}
}

void cli_child_restore_limits(void)
{
	/* exec resets the dumpable flag by itself. */
	if (core_saved)
		setrlimit(RLIMIT_CORE, &core_orig);
}
