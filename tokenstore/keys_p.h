/*
 * keys_p.h - client keys, certificates and service-account files (keys.c),
 * for the context (ctx.c) and the resolver. Private to the token store.
 */
#ifndef TS_KEYS_P_H
#define TS_KEYS_P_H

#include "tokenstore.h"

typedef struct ts_keycache ts_keycache;

/*
 * Read and check the key files of token configuration `c` into *kcp
 * (created on first use). A file that cannot be read or is not a usable
 * key is remembered with the reason and logged through `ctx`, not fatal.
 * TS_ENOMEM only.
 */
int ts_keycache_add_token(ts_keycache **kcp, ts_ctx *ctx, const ts_token_config *c, ts_error *err);
void ts_keycache_free(ts_keycache *kc);

/*
 * Fill the key material of a resolved token: for client_auth
 * private_key_jwt the PEM of client_key_file and the thumbprints of
 * client_cert_file; for flow jwt_bearer the service account's key, key id
 * and issuer (and token_url from its token_uri when the token has none).
 * From the context's cache when preloaded, else from the files now.
 * TS_EINVAL/TS_EPERM/TS_ENOTFOUND naming the token, field and file.
 */
int ts_keys_resolve(ts_token_effective *e, ts_ctx *ctx, const ts_token_config *c, ts_error *err);

/* ctx.c: the cache read at open (NULL when none), and whether the process
 * has entered a chroot since. */
const ts_keycache *ts_ctx_keycache(const ts_ctx *ctx);
bool ts_ctx_in_chroot(const ts_ctx *ctx);

#endif /* TS_KEYS_P_H */
