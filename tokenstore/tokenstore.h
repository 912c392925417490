/*
 * tokenstore.h - the public interface of the token store.
 *
 * The token store keeps named OAuth2 tokens: per token a YAML configuration
 * (<name>.yaml) and a JSON state file (<name>.state) in one store directory,
 * plus the provider templates that fill in endpoints, scopes and servers.
 *
 * This library is linked by the SASL plugin and by the helper. It knows
 * nothing about SASL or the command line: it never prints, never exits and
 * never aborts. Every fallible function returns TS_OK (0) or a negative
 * ts_code and, when given a non-NULL ts_error, fills it with one line that
 * says what failed, why and what to do.
 *
 * Ownership: a function handing back a pointer through `out` transfers it to
 * the caller, who frees it with the matching *_free(), which accepts NULL.
 * Every buffer that held a secret is wiped before it is freed.
 */
#ifndef TOKENSTORE_H
#define TOKENSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

typedef enum ts_code {
	TS_OK = 0,
	TS_ERR = -1,        /* unclassified failure */
	TS_ENOMEM = -2,     /* out of memory */
	TS_EINVAL = -3,     /* bad input: name, YAML, field, value, URL */
	TS_ENOTFOUND = -4,  /* no such token, template or file */
	TS_EEXIST = -5,     /* token already exists */
	TS_EPERM = -6,      /* unsafe owner/mode, or permission denied */
	TS_EIO = -7,        /* file system failure */
	TS_ELOCKED = -8,    /* the per-token lock was not obtained in time */
	TS_ENET = -9,       /* transient: network, timeout, HTTP 5xx, malformed answer */
	TS_EGRANT = -10,    /* invalid_grant: refresh token dead, new consent needed */
	TS_ECONFIG = -11,   /* invalid_client/unauthorized_client/...: fix the config */
	TS_EINVALID = -12,  /* the token's validity is not `valid` */
	TS_EDENIED = -13,   /* the user or server denied the request (access_denied) */
	TS_EEXPIRED = -14,  /* device code or consent window expired */
	TS_ESTATE = -15,    /* no usable state: never authorized */
} ts_code;

#define TS_ERRMSG_MAX 1024

typedef struct ts_error {
	int code;                   /* a ts_code */
	char msg[TS_ERRMSG_MAX];    /* one line, never a secret */
} ts_error;

/* Fill `err` (if non-NULL) with `code` and a printf-style message; returns
 * `code` so that callers can write `return ts_error_set(err, TS_EINVAL, ...)`. */
int ts_error_set(ts_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Short, stable name of a code ("invalid input", "network failure", ...). */
const char *ts_code_str(int code);

/* ---------------------------------------------------------------------- */
/* Secrets and small helpers                                               */

/* Wipe `len` bytes at `p` in a way the compiler cannot elide. */
void ts_wipe(void *p, size_t len);
/* Wipe a NUL-terminated string and free it; NULL is fine. */
void ts_free_secret(char *s);
/* Current time in seconds since the epoch; in a test program (see
 * ts_test_env) the environment variable SASL_OAUTH2_TEST_NOW, an integer,
 * overrides it. */
int64_t ts_now(void);

/*
 * Test hooks. Only test programs set ts_test_env (tests/testhooks.c does,
 * from a constructor, in every test binary that needs it, the test build
 * of the helper included): then the library reads its SASL_OAUTH2_TEST_*
 * variables through it. Production programs and the plugin never set it,
 * so no environment variable can move their clock or change their cache.
 * ts_test_getenv returns NULL while the hook is unset.
 */
extern const char *(*ts_test_env)(const char *name);
const char *ts_test_getenv(const char *name);

typedef struct ts_strlist {
	char **v;
	size_t n;
} ts_strlist;

void ts_strlist_clear(ts_strlist *l);
int ts_strlist_add(ts_strlist *l, const char *s);
/* Join with `sep` into a new string; NULL on allocation failure. */
char *ts_strlist_join(const ts_strlist *l, const char *sep);

typedef struct ts_kv {
	char *key;
	char *value;
} ts_kv;

typedef struct ts_kvlist {
	ts_kv *v;
	size_t n;
} ts_kvlist;

void ts_kvlist_clear(ts_kvlist *l);
/* Set (replace or append) key to value. */
int ts_kvlist_set(ts_kvlist *l, const char *key, const char *value);
const char *ts_kvlist_get(const ts_kvlist *l, const char *key);

/* ---------------------------------------------------------------------- */
/* Names                                                                   */

#define TS_NAME_MAX 128

/* RFC 6750 2.1 b64token, what may follow "Bearer " in a SASL message:
 * letters, digits, "-._~+/", then only "=". Every access token handed out
 * is this. */
bool ts_b64token_ok(const char *s);
/* Printable ASCII without space: refresh tokens, codes. */
bool ts_token_chars_ok(const char *s);

/* Check a token name against [A-Za-z0-9][A-Za-z0-9._@+-]{0,127}.
 * Returns TS_OK or TS_EINVAL with a message naming the offending character. */
int ts_name_check(const char *name, ts_error *err);

/* The key under which a token's state is kept: its name, or for a
 * jwt_bearer token acting for a mailbox other than its `user`,
 * "NAME#" + the first TS_STATE_KEY_HEX hex digits of SHA-256 of the
 * lower-cased mailbox. Backends accept both forms for load_state,
 * save_state and lock, and remove every key of a token with the token.
 * ts_state_key_check: TS_OK or TS_EINVAL. */
#define TS_STATE_KEY_HEX 32
int ts_state_key_check(const char *key, ts_error *err);

/* ---------------------------------------------------------------------- */
/* Enumerations used in configurations                                      */

typedef enum ts_flow {
	TS_FLOW_UNSET = 0,
	TS_FLOW_AUTHORIZATION_CODE,
	TS_FLOW_DEVICE_CODE,
	TS_FLOW_CLIENT_CREDENTIALS,
	TS_FLOW_JWT_BEARER,         /* RFC 7523 2.1 (Google service accounts) */
} ts_flow;

typedef enum ts_validity {
	TS_VALIDITY_UNSET = 0,
	TS_VALIDITY_VALID,
	TS_VALIDITY_INVALID,
	TS_VALIDITY_INVALID_TEMPORARILY,
} ts_validity;

typedef enum ts_client_auth {
	TS_CLIENT_AUTH_UNSET = 0,
	TS_CLIENT_AUTH_BASIC,       /* HTTP Basic with client_id:client_secret */
	TS_CLIENT_AUTH_POST,        /* client_id and client_secret in the body */
	TS_CLIENT_AUTH_NONE,        /* public client: client_id in the body only */
	TS_CLIENT_AUTH_PRIVATE_KEY_JWT, /* RFC 7523 2.2 client assertion */
} ts_client_auth;

enum ts_notify_event {
	TS_NOTIFY_TOKEN_EXPIRED = 1 << 0,
	TS_NOTIFY_REFRESH_TOKEN_EXPIRED = 1 << 1,
	TS_NOTIFY_REFRESH_FAILED = 1 << 2,
	TS_NOTIFY_ALL = 7,
};

const char *ts_flow_str(ts_flow f);             /* "authorization_code", ... */
const char *ts_validity_str(ts_validity v);     /* "valid", "invalid", "invalid-temporarily" */
const char *ts_client_auth_str(ts_client_auth a); /* "basic", "post", "none" */
const char *ts_notify_event_str(unsigned ev);   /* "token_expired", ... (one bit) */

/* Default servers: "host:port" strings, NULL when unknown. */
typedef struct ts_servers {
	char *imap;
	char *pop3;
	char *smtp;
} ts_servers;

/* ---------------------------------------------------------------------- */
/* Global configuration (sasl-oauth2.conf)                                  */

typedef enum ts_log_target {
	TS_LOG_UNSET = 0,
	TS_LOG_SYSLOG,
	TS_LOG_STDERR,
} ts_log_target;

typedef struct ts_global_config {
	char *path;                 /* file it came from, NULL for built-in defaults */
	char *store;                /* NULL: not set */
	char *templates_dir;        /* NULL: not set */
	long refresh_margin;        /* seconds, default 300 */
	long http_timeout;          /* seconds, default 20 */
	char *ca_bundle;            /* NULL: libcurl's default */
	char *proxy;                /* NULL: none (libcurl honours no env proxy either) */
	ts_strlist pop3_split_hosts; /* default: Microsoft's POP3 hosts */
	ts_strlist smtp_inline_hosts; /* SMTP servers taking long AUTH lines; default none */
	char *notify_command;       /* NULL: none */
	long notify_timeout;        /* seconds notify_command may run, default 10 */
	ts_log_target log;          /* UNSET when absent: the helper then uses stderr */
	char *secrets_key_file;     /* NULL: secrets stored in clear (0600 files / rows) */
} ts_global_config;

/* Parse a global configuration file. A missing file is TS_ENOTFOUND (the
 * caller decides whether that is fine); every other problem is TS_EINVAL
 * with "FILE:LINE:COL: field 'KEY': reason; fix" in err. */
int ts_global_config_load(ts_global_config **out, const char *path, ts_error *err);
/* The built-in defaults, as if an empty file had been read. */
int ts_global_config_default(ts_global_config **out, ts_error *err);
void ts_global_config_free(ts_global_config *c);
/* Parse a global configuration from a buffer; `origin` names it in messages.
 * TS_EINVAL "ORIGIN:LINE:COL: field 'KEY': ..." like ts_global_config_load. */
int ts_global_config_parse(ts_global_config **out, const char *buf, size_t len,
			   const char *origin, ts_error *err);

/* Does `host` match one of the patterns (case-insensitive; "*.example.com"
 * matches any subdomain of example.com, not example.com itself)? */
bool ts_host_match(const ts_strlist *patterns, const char *host);

/* Does `mailbox` match one of the `users` entries (an address, or
 * "*@domain" for any non-empty local part at domain; case-insensitive)? */
bool ts_users_match(const ts_strlist *users, const char *mailbox);

/* ---------------------------------------------------------------------- */
/* Provider templates                                                       */

typedef struct ts_template {
	char *name;
	char *description;
	char *auth_url;             /* may contain {tenant} */
	char *token_url;
	char *device_url;
	char *revoke_url;
	char *redirect_uri;         /* NULL: loopback http://127.0.0.1:<port>/ */
	ts_strlist scope;           /* default scope list */
	ts_strlist scope_imap;      /* scopes by protocol (informational) */
	ts_strlist scope_pop;
	ts_strlist scope_smtp;
	ts_servers servers;
	ts_client_auth client_auth;
	ts_flow flow;               /* default flow */
	bool refresh_token_rotates;
	bool needs_tenant;          /* some URL contains {tenant} */
	char *default_tenant;       /* e.g. "common"; NULL when a tenant must be given */
	ts_kvlist auth_params;      /* extra authorization request parameters */
	ts_strlist hosts;           /* server host patterns a token may be sent to */
	ts_strlist client_credentials_scope; /* scope of flow client_credentials */
	char *issuer;               /* endpoints discovered from it at `add` */
	long refresh_margin;        /* at least this margin (seconds); 0: none */
} ts_template;

/* Load template `name` from directory `dir` (file <dir>/<name>.yaml).
 * TS_ENOTFOUND names the template, the directory and the available ones. */
int ts_template_load(ts_template **out, const char *dir, const char *name, ts_error *err);
/* Names of all templates in `dir`, sorted. */
int ts_template_list(ts_strlist *out, const char *dir, ts_error *err);
void ts_template_free(ts_template *t);
/* Parse a template from a buffer; `name` must equal the document's `name`.
 * `origin` names it in messages. TS_EINVAL with "ORIGIN:LINE:COL: ...". */
int ts_template_parse(ts_template **out, const char *buf, size_t len, const char *origin,
		      const char *name, ts_error *err);

/* Replace every "{tenant}" in `url` by `tenant`; a fresh string in *out.
 * TS_EINVAL if the URL needs a tenant and `tenant` is NULL or empty, or if
 * the tenant contains characters other than [A-Za-z0-9.-]. */
int ts_template_subst(char **out, const char *url, const char *tenant, ts_error *err);

/* ---------------------------------------------------------------------- */
/* Token configuration (<name>.yaml)                                        */

/*
 * A token configuration as the user wrote it: NULL / UNSET / -1 means "not
 * set here, take it from the template or the global configuration". Use
 * ts_token_config_resolve() to obtain the effective values.
 */
typedef struct ts_token_config {
	char *name;
	char *template_name;        /* key `template` */
	char *user;
	char *client_id;
	char *client_secret;        /* secret */
	char *client_secret_file;
	char *client_key_file;      /* private_key_jwt: PEM private key */
	char *client_cert_file;     /* private_key_jwt: PEM certificate (x5t) */
	char *service_account_file; /* jwt_bearer: Google's JSON key */
	char *tenant;
	ts_flow flow;
	char *auth_url;
	char *token_url;
	char *device_url;
	char *revoke_url;
	char *redirect_uri;
	ts_strlist scope;
	bool scope_set;             /* scope given explicitly (maybe empty) */
	ts_validity validity;
	unsigned notify;            /* TS_NOTIFY_* bits */
	bool notify_set;
	long refresh_margin;        /* -1: not set */
	ts_servers servers;
	ts_client_auth client_auth;
	ts_kvlist auth_params;
	ts_strlist users;           /* further mailboxes: addresses or *@domain */
	ts_strlist hosts;           /* server host patterns; empty: the template's */
	char *issuer;               /* endpoints discovered from it at `add` */
} ts_token_config;

/* Allocate an empty configuration (every field unset) for `name`. */
int ts_token_config_new(ts_token_config **out, const char *name, ts_error *err);
/* Parse a single token configuration document from a file or a buffer.
 * `origin` is the file name used in messages. Unknown keys, wrong types,
 * invalid values and bad names are TS_EINVAL "ORIGIN:LINE:COL: field 'K': ...". */
int ts_token_config_load(ts_token_config **out, const char *path, ts_error *err);
int ts_token_config_parse(ts_token_config **out, const char *buf, size_t len,
			  const char *origin, ts_error *err);
/* Serialise as YAML (only the fields that are set); secrets included only if
 * `with_secrets`. *out is NUL-terminated and must be freed with ts_free_secret. */
int ts_token_config_emit(char **out, const ts_token_config *c, bool with_secrets, ts_error *err);
/* Set one key from its textual form, as `--set KEY=VALUE` does: list keys
 * take comma-separated values, numbers are decimal integers, map keys are
 * addressed as `servers.imap`, `auth_params.prompt`. An empty value unsets the
 * key. `template` and `name` are refused (TS_EINVAL). */
int ts_token_config_set(ts_token_config *c, const char *key, const char *value, ts_error *err);
/* Deep copy. */
int ts_token_config_dup(ts_token_config **out, const ts_token_config *c, ts_error *err);
void ts_token_config_free(ts_token_config *c);

/*
 * The effective configuration of a token: template and global values filled
 * in, {tenant} substituted, every URL checked (https, or http to a loopback
 * host only). `client_secret` is read from client_secret_file when that is
 * set (the file must not be readable by group/others).
 */
typedef struct ts_token_effective {
	char *name;
	char *template_name;
	char *user;
	char *client_id;
	char *client_secret;        /* secret; NULL for public clients */
	char *client_key;           /* secret: PEM (private_key_jwt, jwt_bearer) */
	char *client_key_id;        /* "kid" of a service account key; NULL if none */
	char *client_x5t;           /* thumbprints of client_cert_file; NULL if none */
	char *client_x5t256;
	char *assertion_issuer;     /* jwt_bearer: the service account's client_email */
	char *tenant;
	ts_flow flow;
	char *auth_url;
	char *token_url;
	char *device_url;
	char *revoke_url;
	char *redirect_uri;         /* NULL: loopback http://127.0.0.1:<port>/ */
	ts_strlist scope;
	ts_validity validity;
	unsigned notify;
	long refresh_margin;
	ts_servers servers;
	ts_client_auth client_auth;
	ts_kvlist auth_params;
	bool refresh_token_rotates;
	ts_strlist users;           /* further mailboxes: addresses or *@domain */
	ts_strlist hosts;           /* empty: any host */
} ts_token_effective;

typedef struct ts_ctx ts_ctx;

/* Validate and resolve `c` against its template and the context's global
 * configuration. TS_EINVAL / TS_ENOTFOUND / TS_EPERM with a message naming
 * the token and the field. */
int ts_token_resolve(ts_token_effective **out, ts_ctx *ctx, const ts_token_config *c, ts_error *err);
void ts_token_effective_free(ts_token_effective *e);

/*
 * The mailbox a login with token `e` sends on the wire, for the mailbox
 * `requested` (the SASL authentication name, or tunnel's --user; NULL: the
 * token's own). The token's name or `user` gives `user`; an address that
 * matches `users` gives that address; a token with neither `user` nor
 * `users` logs in as asked. *out is a new string. TS_EPERM names the token,
 * the mailbox and the fix when the mailbox is not the token's; TS_EINVAL
 * when no mailbox can be chosen.
 */
int ts_token_mailbox(char **out, const ts_token_effective *e, const char *requested, ts_error *err);

/* May token `e` be sent to server `host` (as the client names it)? TS_OK
 * when the token has no `hosts` or `host` matches one of them; TS_EPERM
 * with a message naming the token, the host and the fix otherwise. */
int ts_token_host_check(const ts_token_effective *e, const char *host, ts_error *err);

/* Check a URL: absolute, scheme https, or http with host 127.0.0.1, ::1 or
 * localhost. `what` names the field in the message. */
int ts_url_check(const char *url, const char *what, ts_error *err);

/* ---------------------------------------------------------------------- */
/* Token state (<name>.state, JSON)                                         */

typedef struct ts_state {
	char *access_token;         /* secret; NULL if none */
	char *token_type;           /* "Bearer" */
	int64_t expires_at;         /* epoch seconds; 0 unknown */
	char *refresh_token;        /* secret; NULL if none */
	int64_t refresh_expires_at; /* epoch seconds; 0 unknown */
	char *scope;                /* as granted, space separated */
	int64_t last_refresh;       /* epoch seconds of the last successful refresh */
	int64_t last_attempt;       /* epoch seconds of the last refresh attempt */
	char *last_error;           /* message of the last failed refresh, NULL if none */
	bool refresh_token_dead;    /* invalid_grant seen: new consent needed */
	bool access_rejected;       /* a server rejected the cached access token */
	unsigned notified;          /* TS_NOTIFY_* events already reported */
	uint64_t generation;        /* incremented by every save */
} ts_state;

int ts_state_new(ts_state **out, ts_error *err);
/* Parse / serialise the JSON form. Truncated or malformed input is TS_EINVAL
 * naming `origin` and the reason. */
int ts_state_parse(ts_state **out, const char *buf, size_t len, const char *origin, ts_error *err);
int ts_state_emit(char **out, const ts_state *s, ts_error *err); /* free with ts_free_secret */
int ts_state_dup(ts_state **out, const ts_state *s, ts_error *err);
void ts_state_free(ts_state *s);

/* ---------------------------------------------------------------------- */
/* The store: a backend behind a small table of functions                   */

typedef struct ts_store ts_store;
typedef struct ts_lock ts_lock;

/* What a stamp describes: the set of token names, or one token's
 * configuration or state. */
typedef enum ts_obj {
	TS_OBJ_LIST,
	TS_OBJ_CONFIG,
	TS_OBJ_STATE,
} ts_obj;

/*
 * A cheap version of a stored object, taken without reading it: two equal
 * stamps of one object mean its content did not change in between. What
 * the words hold is the backend's business (the file backend: device,
 * inode, size and mtime in ns of the file or directory). `changed_ns` is
 * when the object last changed, in ns since the epoch (file: ctime), or 0
 * when the backend cannot tell; the context's cache does not trust a stamp
 * taken within the clock's granularity of a change (see cache.c).
 */
typedef struct ts_stamp {
	uint64_t v[4];
	int64_t changed_ns;
} ts_stamp;

typedef struct ts_backend {
	const char *name;           /* "file" */
	int (*list)(ts_store *st, ts_strlist *out, ts_error *err);
	int (*load_config)(ts_store *st, const char *name, ts_token_config **out, ts_error *err);
	/* Create or replace atomically. */
	int (*save_config)(ts_store *st, const ts_token_config *c, ts_error *err);
	/* TS_ENOTFOUND when the token has no state yet. */
	int (*load_state)(ts_store *st, const char *name, ts_state **out, ts_error *err);
	/* Atomic replace; the caller holds the token's lock. Increments
	 * s->generation before writing. */
	int (*save_state)(ts_store *st, const char *name, ts_state *s, ts_error *err);
	/* Exclusive per-token lock, waiting at most `timeout_ms`. */
	int (*lock)(ts_store *st, const char *name, int timeout_ms, ts_lock **out, ts_error *err);
	void (*unlock)(ts_lock *lk);
	/* Remove configuration, state and lock file of a token. */
	int (*remove)(ts_store *st, const char *name, ts_error *err);
	void (*close)(ts_store *st);
	/* Optional, for the context's cache: the stamp of the token list
	 * (`name` NULL) or of a token's configuration or state, without
	 * reading it; TS_ENOTFOUND when the object does not exist. One
	 * call per login, so it must cost no round trip (a backend that
	 * learns of changes by notification returns what it last heard).
	 * NULL: no cheap check exists, and the cache loads every time. */
	int (*stamp)(ts_store *st, ts_obj what, const char *name, ts_stamp *out, ts_error *err);
} ts_backend;

typedef struct ts_seal ts_seal;

struct ts_store {
	const ts_backend *ops;
	char *location;             /* for messages: the directory or the URI */
	void *priv;                 /* backend data */
	/* When root opens a store that belongs to another user (the file
	 * backend: the directory's owner), every access to it and to the
	 * secret files its tokens name uses that user's rights; 0: none. */
	uid_t owner_uid;
	gid_t owner_gid;
	ts_seal *seal;              /* secrets_key_file: secrets sealed at rest (store.c) */
};

enum ts_store_flags {
	TS_STORE_CREATE = 1 << 0,   /* create the directory (0700) if missing */
	TS_STORE_INIT = 1 << 1,     /* `init`: also create or upgrade a database schema */
};

/* Is `location` a PostgreSQL connection URI (postgresql:// or postgres://)? */
bool ts_store_is_pg(const char *location);
/*
 * Open the PostgreSQL backend (store_pg.c) at libpq URI `uri`. A URI that
 * carries a password (or sslpassword) is refused (TS_EINVAL): passwords
 * come from ~/.pgpass, PGPASSFILE or a client certificate. `timeout_s`
 * bounds the connection attempt per host and the wait for a dead server.
 * Without the schema TS_ENOTFOUND says to run `sasl-oauth2 init`;
 * TS_STORE_INIT creates or upgrades it. An unreachable database is TS_ENET.
 * `log` (may be NULL) hears of outages bridged by cached values.
 */
int ts_store_open_pg(ts_store **out, const char *uri, long timeout_s, unsigned flags,
		     void (*log)(void *arg, int level, const char *msg), void *log_arg,
		     ts_error *err);

/*
 * Secrets at rest (seal.c): load the 32-byte key of `path` (checked like a
 * secret: owner, 0600, exactly 32 bytes) and attach it to the store, which
 * then seals client secrets, refresh and access tokens with AES-256-GCM on
 * every save and opens them on every load. TS_EPERM/TS_EINVAL name the file.
 */
int ts_store_set_key_file(ts_store *st, const char *path, ts_error *err);

/* Open the file backend at directory `dir`. The directory stays open (a
 * descriptor) and every later access is relative to it, so the store keeps
 * working after a chroot. Refuses a directory that is group/world writable
 * or owned by another user (TS_EPERM, with the path and a chmod/chown fix). */
int ts_store_open_file(ts_store **out, const char *dir, unsigned flags, ts_error *err);
void ts_store_close(ts_store *st);
/* The directory descriptor of a file-backend store (-1 for another backend);
 * owned by the store, do not close it. */
int ts_store_file_dirfd(ts_store *st);

/* Convenience wrappers around st->ops. */
int ts_store_list(ts_store *st, ts_strlist *out, ts_error *err);
int ts_store_load_config(ts_store *st, const char *name, ts_token_config **out, ts_error *err);
int ts_store_save_config(ts_store *st, const ts_token_config *c, ts_error *err);
int ts_store_load_state(ts_store *st, const char *name, ts_state **out, ts_error *err);
int ts_store_save_state(ts_store *st, const char *name, ts_state *s, ts_error *err);
int ts_store_lock(ts_store *st, const char *name, int timeout_ms, ts_lock **out, ts_error *err);
void ts_store_unlock(ts_store *st, ts_lock *lk);
int ts_store_remove(ts_store *st, const char *name, ts_error *err);
/* The backend's stamp (see ts_backend.stamp); TS_ERR when it has none. */
int ts_store_stamp(ts_store *st, ts_obj what, const char *name, ts_stamp *out, ts_error *err);

/* Low-level helpers of the file backend, public for the helper and tests. */
/* Write `len` bytes to `dirfd`/`name` atomically: O_EXCL temporary file in the
 * same directory, mode 0600, write, fsync, rename, fsync of the directory. */
int ts_file_write_atomic(int dirfd, const char *dirpath, const char *name,
			 const void *buf, size_t len, ts_error *err);
/* Read a whole file (O_NOFOLLOW, regular file, at most `max` bytes). When
 * `secret` is true the file must not be readable by group/others. Refuses
 * group/world-writable files. *out is NUL-terminated; free with
 * ts_free_secret. */
int ts_file_read(char **out, size_t *outlen, int dirfd, const char *dirpath,
		 const char *name, size_t max, bool secret, ts_error *err);

/* ---------------------------------------------------------------------- */
/* Export / import documents                                                */

/*
 * One YAML document:
 *   sasl-oauth2-export: 1
 *   tokens:
 *     - name: work            (token configuration keys, as in <name>.yaml)
 *       template: microsoft-common
 *       client_secret: ...    (only with secrets)
 *       state:                (only with secrets)
 *         access_token: ...
 *         token_type: Bearer
 *         expires_at: 1790000000
 *         refresh_token: ...
 *         refresh_expires_at: 0
 *         scope: "..."
 */
typedef struct ts_export_entry {
	ts_token_config *config;
	ts_state *state;            /* NULL when the document has none */
	int line;                   /* 1-based position of the entry, for messages */
	int column;
} ts_export_entry;

typedef struct ts_export {
	ts_export_entry *v;
	size_t n;
} ts_export;

/* Parse and check the whole document: syntax, keys, types, names, and
 * duplicate names. Any problem is TS_EINVAL "ORIGIN:LINE:COL: ...". */
int ts_export_parse(ts_export **out, const char *buf, size_t len, const char *origin, ts_error *err);
/* Append an entry (copies config and, if non-NULL, state). */
int ts_export_add(ts_export *e, const ts_token_config *c, const ts_state *s, ts_error *err);
int ts_export_new(ts_export **out, ts_error *err);
/* Emit the document; secrets (client_secret, state) only if with_secrets.
 * Free *out with ts_free_secret. */
int ts_export_emit(char **out, const ts_export *e, bool with_secrets, ts_error *err);
void ts_export_free(ts_export *e);

/* ---------------------------------------------------------------------- */
/* The context: configuration, store, templates, CA certificates            */

typedef enum ts_log_level {
	TS_LOG_ERR = 0,
	TS_LOG_WARN,
	TS_LOG_INFO,
	TS_LOG_DEBUG,
} ts_log_level;

/* The library never prints; it reports events (never a secret) here. */
typedef void ts_log_fn(void *arg, ts_log_level level, const char *msg);

typedef struct ts_open_opts {
	const char *config_path;    /* --config; NULL: env SASL_OAUTH2_CONFIG, plugin option, default */
	const char *plugin_config;  /* plugin option oauth2_config */
	const char *store_dir;      /* --store; NULL: env SASL_OAUTH2_STORE, plugin option, config, default */
	const char *plugin_store;   /* plugin option oauth2_store */
	const char *templates_dir;  /* NULL: env SASL_OAUTH2_TEMPLATES, config, default */
	unsigned store_flags;       /* TS_STORE_* */
	bool load_ca;               /* read the CA bundle into memory now (plugin: chroot) */
	ts_log_fn *log;
	void *log_arg;
	bool preload_secrets;       /* read every token's client_secret_file now (plugin: chroot) */
} ts_open_opts;

/*
 * Open a context: resolve and read the global configuration, resolve the
 * store directory (order: opts->store_dir, $SASL_OAUTH2_STORE,
 * opts->plugin_store, config `store`, default /var/lib/sasl-oauth2 for root
 * and $XDG_DATA_HOME/sasl-oauth2 or ~/.local/share/sasl-oauth2 for others)
 * and open it; open the templates directory (order: opts->templates_dir,
 * $SASL_OAUTH2_TEMPLATES, config `templates_dir`, TEMPLATESDIR); with
 * load_ca, read the CA bundle into memory. With preload_secrets, read the
 * client_secret_file of every token now (same checks as at refresh) and
 * keep the secrets in memory, wiped by ts_ctx_close; ts_token_resolve uses
 * them before the files. A file that cannot be read then is logged, not
 * fatal. After it is opened, the context changes only in its cache of
 * parsed tokens (cache.c), which has its own lock: threads may share it.
 */
int ts_ctx_open(ts_ctx **out, const ts_open_opts *opts, ts_error *err);
void ts_ctx_close(ts_ctx *ctx);

const ts_global_config *ts_ctx_config(const ts_ctx *ctx);
ts_store *ts_ctx_store(ts_ctx *ctx);
const char *ts_ctx_store_path(const ts_ctx *ctx);
const char *ts_ctx_templates_dir(const ts_ctx *ctx);
/* Load a template through the context's templates directory (descriptor
 * opened at ts_ctx_open, so it works after chroot). */
int ts_ctx_template_load(ts_template **out, ts_ctx *ctx, const char *name, ts_error *err);
/* Report through the context's log callback, if any. */
void ts_ctx_log(ts_ctx *ctx, ts_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* CA bundle in memory (PEM) when load_ca was set; NULL/0 otherwise. */
const void *ts_ctx_ca_blob(const ts_ctx *ctx, size_t *len);

/* Check a configuration the way saving or importing needs it: the template
 * exists, a tenant is given when the template needs one, URLs are valid,
 * client_id is set where the flow needs it. Does not read secret files. */
int ts_token_config_check(ts_ctx *ctx, const ts_token_config *c, ts_error *err);

/* What a SASL login needs of the token it uses (ts_token_login, oauth.h). */
typedef enum ts_login_step {
	TS_LOGIN_SELECT = 0,        /* choosing the token */
	TS_LOGIN_CONFIG,            /* its configuration and template */
	TS_LOGIN_REFUSED,           /* its hosts or mailboxes refuse this login */
	TS_LOGIN_ACCESS,            /* a valid access token */
} ts_login_step;

typedef struct ts_login {
	ts_login_step step;         /* how far it got (on failure: where) */
	char *name;                 /* the token selected */
	ts_validity validity;       /* never UNSET */
	char *mailbox;              /* the mailbox to send (ts_token_mailbox) */
	char *access;               /* secret: a valid access token */
	int64_t expires_at;
} ts_login;

/* Free and wipe what a ts_login holds, and clear it. */
void ts_login_clear(ts_login *l);

/* Load configuration and resolve it in one go. */
int ts_ctx_token_effective(ts_token_effective **out, ts_ctx *ctx, const char *name, ts_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TOKENSTORE_H */
