/*
 * plugin_p.h - private declarations shared by the files of the SASL client
 * plugin (libsasloauth2.so): the global context both mechanisms share, the
 * per-connection context, and the helpers in mech_common.c / plugin_log.c.
 *
 * Nothing here is exported: the module's only public symbol is
 * sasl_client_plug_init (see plugin/local.mk).
 */
#ifndef PLUGIN_P_H
#define PLUGIN_P_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "tokenstore.h"
#include "oauth.h"

/* Which wire format a connection speaks. */
typedef enum mech_kind {
	MECH_XOAUTH2,
	MECH_OAUTHBEARER,
} mech_kind;

/*
 * State shared by both mechanisms of the module. libsasl2 calls mech_free
 * once per mechanism with this same pointer, hence the reference count.
 *
 * Threads: an application may run connections in several threads. `lock`
 * guards the lazy open (ctx, open_code, open_msg, opt_*). Once ctx is set
 * it does not change until mech_free, and a connection only exists after
 * its mech_new took the lock and saw ctx set, so the connection's steps read
 * ctx without the lock. The context changes after ts_ctx_open only in its
 * cache of parsed tokens, which has its own lock;
 * each refresh uses its own curl handle and the token's lock file (an OFD
 * lock, which also excludes other threads of this process); the log
 * callback of the connection being served is per thread (plugin_log.c).
 */
typedef struct plug_glob {
	const sasl_utils_t *utils;  /* from sasl_client_plug_init, valid until mech_free */
	pthread_mutex_t lock;       /* guards the fields below while ctx is NULL */
	ts_ctx *ctx;                /* NULL when opening failed (retried at mech_new) */
	int open_code;              /* ts_code of the last failed open */
	char open_msg[TS_ERRMSG_MAX]; /* its message, shown on every login attempt */
	char *opt_store;            /* plugin option oauth2_store (copy), NULL if unset */
	char *opt_config;           /* plugin option oauth2_config (copy), NULL if unset */
	bool preload;               /* load what a refresh needs at open (oauth2_preload) */
	int refs;                   /* mechanisms still referring to this context */
} plug_glob;

/* Where a connection stands in the exchange. Kept as our own flag because
 * the arguments of the first step do not tell an initial response apart
 * from an answer to an empty server challenge (imtest -i). */
typedef enum mech_phase {
	MECH_PHASE_START,           /* nothing sent yet */
	MECH_PHASE_SPLIT_WAIT,      /* POP3 split: AUTH sent alone, token next */
	MECH_PHASE_SENT,            /* the response with the token was sent */
	MECH_PHASE_ERROR_ANSWERED,  /* an error challenge was answered */
	MECH_PHASE_DONE,
} mech_phase;

typedef struct mech_conn {
	plug_glob *glob;
	mech_kind kind;
	mech_phase phase;
	sasl_interact_t *prompts;   /* the list we handed out, or NULL */
	char *authid;               /* authentication name */
	char *authzid;              /* authorization name, NULL/empty: none */
	char *password;             /* secret: may name a token; NULL: none */
	bool have_authid, have_authzid, have_password;
	char *token_name;           /* the selected token */
	char *wire_user;            /* the mailbox sent on the wire */
	char *access;               /* secret: the access token used */
	char *resp;                 /* secret: the response with the token */
	size_t resp_len;
} mech_conn;

/* ---- plugin_init.c ---- */
/* Open the tokenstore context if it is not open; on failure remember the
 * message in glob and return the ts code. `utils` supplies the options.
 * The caller holds glob->lock. */
int plug_ctx_ensure(plug_glob *glob, const sasl_utils_t *utils);

/* ---- plugin_log.c ---- */
/* Read the SASL option log_level (debug lines are made only when it is
 * SASL_LOG_DEBUG or more). */
void plug_log_init(const sasl_utils_t *utils);
/* Log one line through libsasl2's log callback; never pass a secret. */
void plug_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The ts_log_fn handed to ts_ctx_open (arg: the plug_glob). */
void plug_ts_log(void *arg, ts_log_level level, const char *msg);
/* Route tokenstore logs of this thread to a connection's utils while it
 * runs a step (NULL restores the module's own utils). */
void plug_log_set_conn(const sasl_utils_t *utils);
/* Map a ts_code to a SASL result code. */
int plug_ts_to_sasl(int ts_code);

/* ---- mech_common.c ---- */
int mech_conn_new(plug_glob *glob, mech_kind kind, sasl_client_params_t *params,
		  void **out);
void mech_conn_dispose(void *conn_context, const sasl_utils_t *utils);
int mech_conn_step(void *conn_context, sasl_client_params_t *params,
		   const char *serverin, unsigned serverinlen,
		   sasl_interact_t **prompt_need, const char **clientout,
		   unsigned *clientoutlen, sasl_out_params_t *oparams);
/* Log the fields of a server's error challenge (status, scope), parsed by
 * mech_challenge_parse (mech_challenge_p.h). */
void mech_log_error_challenge(const sasl_utils_t *utils, const mech_conn *m,
			      const char *serverin, unsigned serverinlen);

/* ---- mech_xoauth2.c / mech_oauthbearer.c ---- */
/* Build the response carrying the token into *out (free with
 * ts_free_secret-like wiping); *out_len excludes the terminating NUL. */
int mech_xoauth2_build(char **out, size_t *out_len, const char *user, const char *token);
int mech_oauthbearer_build(char **out, size_t *out_len, const char *user,
			   const char *host, const char *port, const char *token);
/* Port part of an "ip;port" string, NULL when absent or not numeric. */
const char *mech_port_of(const char *ipremoteport, char *buf, size_t bufsize);
/* The answer to an error challenge: "" (XOAUTH2) or "\x01" (OAUTHBEARER). */
const char *mech_error_answer(mech_kind kind, unsigned *len);

extern const char *const mech_names[2];

#endif /* PLUGIN_P_H */
