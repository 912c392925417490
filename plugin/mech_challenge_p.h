/*
 * mech_challenge_p.h - the parser of the server's error challenge, shared
 * by mech_common.c and the fuzz target tests/fuzz/fuzz_challenge.c.
 *
 * It needs json-c only: no libsasl2 types, no connection, no logging, so
 * the challenge bytes can be parsed on their own.
 */
#ifndef MECH_CHALLENGE_P_H
#define MECH_CHALLENGE_P_H

#include <stdbool.h>
#include <stddef.h>

/* Challenges longer than this are not parsed (only their length is logged). */
#define MECH_MAX_CHALLENGE 65536

/* What a failed login's challenge says (RFC 7628 3.2.2; XOAUTH2 sends the
 * same JSON). The strings are printable ASCII copies, other bytes become
 * '?', truncated to their buffer; empty when the member is absent. */
typedef struct mech_challenge {
	bool is_json;               /* the challenge is a JSON object */
	char status[64];            /* e.g. "invalid_token", "401" */
	char scope[512];
	char schemes[64];
} mech_challenge;

/* Parse the challenge (serverin, serverinlen); never fails: anything that
 * is not a JSON object (or is longer than MECH_MAX_CHALLENGE) gives
 * is_json false and empty fields. */
void mech_challenge_parse(mech_challenge *out, const char *serverin, size_t serverinlen);

#endif /* MECH_CHALLENGE_P_H */
