/*
 * error.c - filling ts_error and naming error codes.
 *
 * Messages are kept to one line: a newline or other control character in a
 * formatted argument (a file name, a provider's error text) is replaced so
 * that callers can print the message as a single log or stderr line.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>

#include "tokenstore.h"

int ts_error_set(ts_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	for (i = 0; err->msg[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)err->msg[i];

		if (ch < 0x20 || ch == 0x7f)
			err->msg[i] = ' ';
	}
	return code;
}

const char *ts_code_str(int code)
{
	switch (code) {
	case TS_OK: return "success";
	case TS_ERR: return "failure";
	case TS_ENOMEM: return "out of memory";
	case TS_EINVAL: return "invalid input";
	case TS_ENOTFOUND: return "not found";
	case TS_EEXIST: return "already exists";
	case TS_EPERM: return "permission problem";
	case TS_EIO: return "file system failure";
	case TS_ELOCKED: return "lock timeout";
	case TS_ENET: return "network failure";
	case TS_EGRANT: return "refresh token rejected";
	case TS_ECONFIG: return "configuration rejected by provider";
	case TS_EINVALID: return "token not valid";
	case TS_EDENIED: return "access denied";
	case TS_EEXPIRED: return "expired";
	case TS_ESTATE: return "not authorized yet";
	}
	return "unknown error";
}
