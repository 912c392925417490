/* test_names.c - token name checks (names.c) and host patterns (util.c). */
#include <config.h>

#include "unit.h"

int main(void)
{
	static const struct {
		const char *name;
		int ok;
		const char *why;
	} cases[] = {
		{ "work", 1, NULL },
		{ "a", 1, NULL },
		{ "0", 1, NULL },
		{ "alice@example.com", 1, NULL },
		{ "first.last+tag@mail.example.org", 1, NULL },
		{ "a_b-c.d", 1, NULL },
		{ "", 0, "empty" },
		{ ".hidden", 0, "start" },
		{ "..", 0, "start" },
		{ "a/b", 0, "'/'" },
		{ "../etc", 0, "start" },
		{ "a..b/c", 0, "'/'" },
		{ "-x", 0, "start" },
		{ "@x", 0, "start" },
		{ "with space", 0, "' '" },
		{ "tab\there", 0, "0x09" },
		{ "semi;colon", 0, "';'" },
		{ "caf\xc3\xa9", 0, "0xc3" },
	};
	char long_ok[129], long_bad[130];
	ts_strlist pats = { NULL, 0 };
	ts_error e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		memset(&e, 0, sizeof(e));
		rc = ts_name_check(cases[i].name, &e);
		if (cases[i].ok)
			tap_ok(rc == TS_OK, "name '%s' accepted", cases[i].name);
		else
			UNIT_ERR(rc, e, TS_EINVAL, cases[i].why, NULL, "name refused with reason");
	}
	memset(long_ok, 'a', 128);
	long_ok[128] = '\0';
	memset(long_bad, 'a', 129);
	long_bad[129] = '\0';
	tap_ok(ts_name_check(long_ok, NULL) == TS_OK, "128 characters accepted");
	memset(&e, 0, sizeof(e));
	UNIT_ERR(ts_name_check(long_bad, &e), e, TS_EINVAL, "129", "128", "129 characters refused");
	tap_ok(ts_name_check(NULL, NULL) == TS_EINVAL, "NULL refused");

	/* Host patterns. */
	ts_strlist_add(&pats, "outlook.office365.com");
	ts_strlist_add(&pats, "*.example.com");
	ts_strlist_add(&pats, "127.0.0.1");
	tap_ok(ts_host_match(&pats, "outlook.office365.com"), "exact host matches");
	tap_ok(ts_host_match(&pats, "OUTLOOK.Office365.COM"), "host match is case-insensitive");
	tap_ok(ts_host_match(&pats, "outlook.office365.com."), "trailing dot ignored");
	tap_ok(ts_host_match(&pats, "pop.example.com"), "wildcard matches a subdomain");
	tap_ok(ts_host_match(&pats, "a.b.example.com"), "wildcard matches a deeper subdomain");
	tap_ok(!ts_host_match(&pats, "example.com"), "wildcard does not match the domain itself");
	tap_ok(!ts_host_match(&pats, "badexample.com"), "wildcard needs a dot boundary");
	tap_ok(ts_host_match(&pats, "127.0.0.1"), "IP literal matches");
	tap_ok(!ts_host_match(&pats, "127.0.0.2"), "other IP does not match");
	tap_ok(!ts_host_match(&pats, "office365.com"), "suffix of an exact pattern does not match");
	tap_ok(!ts_host_match(&pats, ""), "empty host does not match");
	tap_ok(!ts_host_match(NULL, "x"), "no patterns match nothing");
	ts_strlist_clear(&pats);

	/* Enumeration names round trip. */
	tap_ok(strcmp(ts_flow_str(TS_FLOW_DEVICE_CODE), "device_code") == 0, "flow name");
	tap_ok(strcmp(ts_validity_str(TS_VALIDITY_INVALID_TEMPORARILY), "invalid-temporarily") == 0,
	       "validity name");
	tap_ok(strcmp(ts_client_auth_str(TS_CLIENT_AUTH_POST), "post") == 0, "client_auth name");
	tap_ok(strcmp(ts_notify_event_str(TS_NOTIFY_REFRESH_FAILED), "refresh_failed") == 0,
	       "notify event name");
	tap_ok(strcmp(ts_code_str(TS_ELOCKED), "lock timeout") == 0, "code name");
	memset(&e, 0, sizeof(e));
	ts_error_set(&e, TS_EINVAL, "line1\nline2 %s", "x\ry");
	tap_ok(strchr(e.msg, '\n') == NULL && strchr(e.msg, '\r') == NULL,
	       "error messages stay on one line");
	return tap_done();
}
