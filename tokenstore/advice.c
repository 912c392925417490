/*
 * advice.c - one line of advice for the provider errors first real users
 * hit: Microsoft's AADSTS codes (in error_description) and Google's
 * reasons for invalid_grant. The generic hint of an OAuth error code says
 * what kind of problem it is; these say what to change, where.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth_http_p.h"

struct aadsts_advice {
	unsigned long code;
	const char *text;           /* its one "%s" is replaced by the token name */
};

/* Sources: Microsoft Entra authentication and authorization error codes
 * (learn.microsoft.com/entra/identity-platform/reference-error-codes). */
static const struct aadsts_advice aadsts[] = {
	{ 50011, "the redirect URI is not registered for this application: in the app "
		 "registration add the platform 'Mobile and desktop applications' with "
		 "http://localhost (any port is accepted), or set redirect_uri to a URI that is "
		 "registered (sasl-oauth2 edit %s --set redirect_uri=...)" },
	{ 7000218, "the application wants a client secret: set one (sasl-oauth2 edit %s --set "
		   "client_secret_file=FILE), or in the app registration under Authentication "
		   "set 'Allow public client flows' to Yes for a public client" },
	{ 7000215, "the client secret is wrong: create a new one under Certificates & secrets "
		   "and put its Value (not the Secret ID) in client_secret_file of '%s'" },
	{ 700082, "the refresh token expired after 90 days without use: run sasl-oauth2 "
		  "authorize %s, and refresh on a schedule (sasl-oauth2 refresh --all from the "
		  "systemd timer or cron) so it never sits unused again" },
	{ 700084, "the refresh token was issued to a single-page application and lives only "
		  "24 hours: register the redirect URI under 'Mobile and desktop applications', "
		  "not 'Single-page application', then run sasl-oauth2 authorize %s" },
	{ 65001, "the permissions were not consented: run sasl-oauth2 authorize %s and accept, "
		 "or have an administrator grant consent (Enterprise applications > Permissions "
		 "> Grant admin consent)" },
	{ 50076, "multi-factor authentication is required: run sasl-oauth2 authorize %s and "
		 "sign in interactively (browser or --device)" },
	{ 50079, "the account must register for multi-factor authentication or satisfy "
		 "Conditional Access: sign in once at https://myaccount.microsoft.com, then run "
		 "sasl-oauth2 authorize %s" },
	{ 7000112, "the application (client_id) is disabled: register an application of your "
		   "own (or ask its owner to enable it) and set its id with sasl-oauth2 edit %s "
		   "--set client_id=ID" },
};

/* The number after "AADSTS" in `desc`, 0 when none. */
static unsigned long aadsts_code(const char *desc)
{
	const char *p = desc ? strstr(desc, "AADSTS") : NULL;
	unsigned long v = 0;
	int digits = 0;

	if (p == NULL)
		return 0;
	for (p += 6; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
		v = v * 10 + (unsigned long)(*p - '0');
	return digits > 0 ? v : 0;
}

static bool host_is_google(const char *host)
{
	static const char *const suffixes[] = { "googleapis.com", "google.com" };
	size_t hl, sl, i;

	if (host == NULL)
		return false;
	hl = strcspn(host, ":");
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		sl = strlen(suffixes[i]);
		if (hl >= sl && strncmp(host + hl - sl, suffixes[i], sl) == 0 &&
		    (hl == sl || host[hl - sl - 1] == '.'))
			return true;
	}
	return false;
}

/* `text` with its one "%s" replaced by the token name (no format string
 * from a table reaches printf). */
static void put_named(char *out, size_t outsz, const char *text, const char *token)
{
	const char *mark = strstr(text, "%s");

	if (mark == NULL)
		snprintf(out, outsz, "%s", text);
	else
		snprintf(out, outsz, "%.*s%s%s", (int)(mark - text), text, token, mark + 2);
}

bool oa2_error_advice(char *out, size_t outsz, const char *code, const char *desc,
		      const char *host, const char *token)
{
	unsigned long aad = aadsts_code(desc);
	size_t i;

	if (token == NULL || *token == '\0')
		token = "NAME";
	for (i = 0; aad != 0 && i < sizeof(aadsts) / sizeof(aadsts[0]); i++)
		if (aadsts[i].code == aad) {
			put_named(out, outsz, aadsts[i].text, token);
			return true;
		}
	/* Google answers every dead refresh token the same way ("Token has
	 * been expired or revoked."), so the line names each cause and its fix. */
	if (code != NULL && strcmp(code, "invalid_grant") == 0 &&
	    (host_is_google(host) || (desc && strstr(desc, "Token has been expired or revoked")))) {
		snprintf(out, outsz,
			 "Google ends a refresh token when the app's publishing status is "
			 "'Testing' (after 7 days: publish it 'In production'), when the "
			 "account's password changes, when access is revoked "
			 "(myaccount.google.com/permissions), or when the account holds too "
			 "many live refresh tokens for this client (the oldest die: use one "
			 "token per mailbox); run sasl-oauth2 authorize %s", token);
		return true;
	}
	return false;
}
