/*
 * tap.h - a tiny TAP producer for the unit test programs.
 *
 * Each check prints "ok N - description" or "not ok N - description" and
 * tap_done() prints the plan and returns the exit status, so automake's TAP
 * driver counts every case on its own.
 */
#ifndef TESTS_TAP_H
#define TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

/* A diagnostic line, shown in the test's log. */
static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#define TAP_STREQ(got, want, ...)                                              \
	do {                                                                       \
		const char *g_ = (got), *w_ = (want);                                  \
		int eq_ = (g_ == NULL && w_ == NULL) ||                                \
			  (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);           \
		if (!tap_ok(eq_, __VA_ARGS__))                                         \
			tap_diag("  got '%s', want '%s'", g_ ? g_ : "(null)",         \
				 w_ ? w_ : "(null)");                                  \
	} while (0)

#endif /* TESTS_TAP_H */
