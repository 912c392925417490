/*
 * doctor_p.h - what `doctor`'s files share: its one-line findings and the
 * real logins of `doctor NAME --login`.
 */
#ifndef HELPER_DOCTOR_P_H
#define HELPER_DOCTOR_P_H

#include "cli.h"

/* "ok       WHAT: ..." on stdout. */
void doctor_ok(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "PROBLEM  WHAT: MSG" on stdout (control characters blanked); counted. */
void doctor_bad(const char *what, const char *msg);

/* doctor_login.c: log in for real to the token's servers of the protocols
 * `protos` (imap, pop3, smtp; all the token has when nprotos is 0), one
 * finding per protocol. Returns 0 when every login succeeded, else 1. */
int doctor_login(const cli_global *g, ts_ctx *ctx, const char *name, char **protos, int nprotos);

#endif /* HELPER_DOCTOR_P_H */
