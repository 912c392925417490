/*
 * ts_p.h - private helpers shared by the token store's core files.
 *
 * Nothing here is part of the public API: allocation helpers, the libyaml
 * document helpers that keep line/column for every message, the YAML
 * emitter wrapper, the field validators shared by the YAML parser and
 * ts_token_config_set(), and the file-backend internals used by ctx.c.
 */
#ifndef TS_P_H
#define TS_P_H

#include <stdarg.h>
#include <sys/stat.h>
#include <yaml.h>

#include "tokenstore.h"

#define TS_FILE_MAX (1024 * 1024)       /* cap for config, state, template files */
#define TS_CA_MAX (16 * 1024 * 1024)    /* cap for a CA bundle */
#define TS_SECRET_FILE_MAX (64 * 1024)  /* cap for client_secret_file */

/* ---- allocation ---- */
int ts_enomem(ts_error *err);
/* Duplicate `s` into *dst (NULL stays NULL); TS_ENOMEM on failure. */
int ts_strdup_to(char **dst, const char *s, ts_error *err);
/* Replace *dst by a copy of `s`, wiping the old value when `secret`. */
int ts_str_replace(char **dst, const char *s, bool secret, ts_error *err);
int ts_strlist_copy(ts_strlist *dst, const ts_strlist *src);
int ts_kvlist_copy(ts_kvlist *dst, const ts_kvlist *src);
/* Remove `key`; no-op when absent. */
void ts_kvlist_del(ts_kvlist *l, const char *key);
/* Append without looking for `key` first: for callers that already know
 * the keys are distinct (a YAML mapping after map_walk's check). */
int ts_kvlist_append(ts_kvlist *l, const char *key, const char *value);
int ts_servers_copy(ts_servers *dst, const ts_servers *src);

/* A set of strings with a value each, in linear time: duplicate checks of
 * big YAML mappings and lists. Keys are not copied and must outlive the
 * set. Zero-initialise; free with ts_strset_clear. */
typedef struct ts_strset_slot {
	const char *key;
	const void *val;
} ts_strset_slot;
typedef struct ts_strset {
	ts_strset_slot *slot;
	size_t cap, n;
} ts_strset;
/* Add `key` with `val`. Returns 0 when added, 1 when an equal key is there
 * already (*found is its value, the set unchanged), TS_ENOMEM. */
int ts_strset_put(ts_strset *s, const char *key, const void *val, const void **found);
void ts_strset_clear(ts_strset *s);
void ts_servers_clear(ts_servers *s);
/* Split `s` on any character of `seps`, skipping empty pieces. */
int ts_strlist_split(ts_strlist *out, const char *s, const char *seps);
void ts_strlist_sort(ts_strlist *l);
bool ts_has_suffix(const char *s, const char *suffix);

/* ---- enums from text; return 0 or -1 ---- */
int ts_flow_parse(ts_flow *out, const char *s);
int ts_validity_parse(ts_validity *out, const char *s);
int ts_client_auth_parse(ts_client_auth *out, const char *s);
int ts_notify_parse(unsigned *out, const char *s);

/* ---- field validators: 0 if fine, else -1 with "reason; fix" in why ---- */
int ts_check_tenant(const char *s, char *why, size_t whylen);
int ts_check_hostport(const char *s, char *why, size_t whylen);
int ts_check_hostpattern(const char *s, char *why, size_t whylen);
int ts_check_abspath(const char *s, char *why, size_t whylen);
/* An address or "*@domain" (key `users`). */
int ts_check_mailbox_pattern(const char *s, char *why, size_t whylen);
/* Every entry of a list: host patterns (`hosts`), mailboxes (`users`). */
int ts_check_hostpattern_list(const ts_strlist *l, char *why, size_t whylen);
int ts_check_mailbox_list(const ts_strlist *l, char *why, size_t whylen);
int ts_check_url_field(const char *s, bool allow_tenant, char *why, size_t whylen);
int ts_check_param_name(const char *s, char *why, size_t whylen);
/* Text fields: no C0 control character and no DEL, on every input path
 * (--set, YAML, state files) alike. */
bool ts_text_ok(const char *s);
int ts_check_text(const char *s, char *why, size_t whylen);


/* ---- YAML documents (yaml_config.c) ---- */
typedef struct ts_ydoc {
	yaml_document_t doc;
	const char *origin;
	bool loaded;
} ts_ydoc;

/* Parse exactly one document; an empty stream gives a document whose root
 * is NULL. TS_EINVAL "ORIGIN:LINE:COL: reason" on syntax errors. */
int ts_ydoc_load(ts_ydoc *d, const char *buf, size_t len, const char *origin, ts_error *err);
void ts_ydoc_free(ts_ydoc *d);
yaml_node_t *ts_ydoc_root(ts_ydoc *d);
yaml_node_t *ts_ynode(ts_ydoc *d, int id);
/* "ORIGIN:LINE:COL: field 'KEY': " + message; KEY may be NULL. */
int ts_yerr(ts_error *err, int code, ts_ydoc *d, const yaml_node_t *n, const char *key,
	    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int ts_yget_str(char **out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err);
int ts_yget_long(long *out, ts_ydoc *d, yaml_node_t *n, const char *key, long min, long max,
		 ts_error *err);
int ts_yget_i64(int64_t *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err);
int ts_yget_bool(bool *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err);
/* A list of strings: a sequence, or (when split_scalar) one string split on spaces. */
int ts_yget_strlist(ts_strlist *out, ts_ydoc *d, yaml_node_t *n, const char *key,
		    bool split_scalar, ts_error *err);
int ts_yget_kvmap(ts_kvlist *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err);
int ts_yget_servers(ts_servers *out, ts_ydoc *d, yaml_node_t *n, const char *key, ts_error *err);
/* A list of strings (a sequence) whose entries pass `check`. */
int ts_yget_checked_list(ts_strlist *out, ts_ydoc *d, yaml_node_t *n, const char *key,
			 int (*check)(const ts_strlist *, char *, size_t), ts_error *err);
/* Check that a field's value passes a validator, with the position in the message. */
int ts_ycheck(ts_ydoc *d, yaml_node_t *n, const char *key, const char *value,
	      int (*check)(const char *, char *, size_t), ts_error *err);

/* Token configuration from a mapping node. When `state_node` is non-NULL a
 * `state` key is accepted and its node returned there. */
int ts_token_config_from_node(ts_token_config **out, ts_ydoc *d, yaml_node_t *map,
			      yaml_node_t **state_node, ts_error *err);
/* Parse with an expected name (the file name); mismatch is TS_EINVAL. */
int ts_token_config_parse_named(ts_token_config **out, const char *buf, size_t len,
				const char *origin, const char *expect_name, ts_error *err);
/* State from a YAML mapping (export documents). */
int ts_state_from_node(ts_state **out, ts_ydoc *d, yaml_node_t *map, ts_error *err);

/* ---- YAML emitter (yaml_emit.c) ---- */
typedef struct ts_yemit ts_yemit;
int ts_yemit_begin(ts_yemit **out, ts_error *err);
/* Finish the stream; *out gets the text (free with ts_free_secret). */
int ts_yemit_end(ts_yemit *e, char **out, ts_error *err);
void ts_yemit_free(ts_yemit *e);
int ts_yemit_map_start(ts_yemit *e);
int ts_yemit_map_end(ts_yemit *e);
int ts_yemit_seq_start(ts_yemit *e);
int ts_yemit_seq_end(ts_yemit *e);
int ts_yemit_str(ts_yemit *e, const char *s);   /* quoted when it could read as another type */
int ts_yemit_int(ts_yemit *e, int64_t v);
int ts_yemit_bool(ts_yemit *e, bool v);
/* Emit the pairs of a token configuration into an open mapping. */
int ts_yemit_token_pairs(ts_yemit *e, const ts_token_config *c, bool with_secrets);
int ts_yemit_state_pairs(ts_yemit *e, const ts_state *s);

/* ---- files (perms.c) ---- */
/* Like ts_file_read; also returns the file's stat (may be NULL). */
int ts_file_read_st(char **out, size_t *outlen, struct stat *st, int dirfd, const char *dirpath,
		    const char *name, size_t max, bool secret, bool nofollow, ts_error *err);
/* ts_file_write_atomic; with keep_written, a temporary that was written
 * completely but could not be synced or renamed is left in place. */
int ts_file_write_atomic_ex(int dirfd, const char *dirpath, const char *name, const void *buf,
			    size_t len, bool keep_written, ts_error *err);
/* Check a file or directory's owner and mode; `what` names it. */
int ts_perm_check_dir(const struct stat *st, const char *path, ts_error *err);
int ts_perm_check_file(const struct stat *st, const char *path, bool secret, ts_error *err);
/* Acting for a store's owner: as root, this thread's file accesses use the
 * rights of uid/gid (setfsuid/setfsgid) until ts_act_end. A no-op when not
 * root, for uid 0, or when the thread already acts for someone. TS_EPERM
 * when the ids cannot be taken (nothing is read as root then). */
typedef struct ts_act {
	bool active;
	uid_t uid;                  /* the previous file system ids */
	gid_t gid;
} ts_act;
int ts_act_begin(ts_act *save, uid_t uid, gid_t gid, ts_error *err);
void ts_act_end(const ts_act *save);
/* The uid whose rights file accesses of this thread use now. */
uid_t ts_act_uid(void);
/* Begin acting for the owner of store `st` (see ts_store.owner_uid). */
int ts_store_act_begin(ts_act *save, const ts_store *st, ts_error *err);
/* mkdir -p with mode 0700 for the components it creates. */
int ts_mkdir_p(const char *path, ts_error *err);
/* "dir/name" for messages, into buf. */
const char *ts_path_join(char *buf, size_t len, const char *dir, const char *name);

/* ---- templates (template.c) ---- */
int ts_template_load_at(ts_template **out, int dirfd, const char *dirpath, const char *name,
			ts_error *err);
int ts_template_list_at(ts_strlist *out, int dirfd, const char *dirpath, ts_error *err);

/* ---- resolve (resolve.c) ---- */
/* Read a file a token names (absolute, no symbolic link, regular, at most
 * `max` bytes; with `secret` not readable by others). As root it is opened
 * with the rights of the owner of store `st` when that is not root, else
 * with those of the file's owner, and a secret must belong to that user
 * (TS_EPERM naming the owner and the fix otherwise). `st` may be NULL.
 * Free *out with ts_free_secret. */
int ts_owned_file_read(char **out, size_t *outlen, const ts_store *st, const char *path, size_t max,
		       bool secret, ts_error *err);
/* Read a client_secret_file: ts_owned_file_read, and exactly one line; the
 * message names the file, not the token. */
int ts_secret_file_read(char **out, const ts_store *st, const char *path, ts_error *err);
int ts_token_resolve_tpl(ts_token_effective **out, const ts_token_config *c, const ts_template *t,
			 long global_margin, bool read_secret, ts_error *err);

/* ---- selection (select.c), shared with the cache ---- */
/* The one token in `found` (TS_OK), or TS_EINVAL naming them all; `how`
 * says how they matched ("by name or user"). */
int ts_select_pick(char **out, const ts_strlist *found, const char *authname, const char *how,
		   ts_error *err);
/* TS_ENOTFOUND: no token matches `authname`. */
int ts_select_none(ts_ctx *ctx, const char *authname, ts_error *err);
/* The templates directory's descriptor (-1 when it did not open). */
int ts_ctx_templates_fd(const ts_ctx *ctx);

/* ---- the context's cache (cache.c) ---- */
/* Returned by the cache functions when the cache cannot answer (a token
 * that is due, unknown, not valid, or a backend without stamps): the
 * caller takes the ordinary path, which also produces the messages. */
#define TS_CACHE_MISS 1
typedef struct ts_cache ts_cache;
int ts_cache_new(ts_cache **out, ts_error *err);
void ts_cache_free(ts_cache *c);
ts_cache *ts_ctx_cache(ts_ctx *ctx);
/* ts_token_select through the cache. */
int ts_cache_select(char **out, ts_ctx *ctx, const char *authname, const char *password,
		    ts_error *err);
/* The cached access token of a valid token, when it is usable. */
int ts_cache_access(char **out, int64_t *expires_at, ts_ctx *ctx, const char *name,
		    ts_error *err);
/* ts_token_login from the cache; out->access stays NULL (TS_OK) when the
 * token is due or not valid, and the caller goes on. */
int ts_cache_login(ts_login *out, ts_ctx *ctx, const char *authname, const char *password,
		   const char *host, ts_error *err);
/* ---- unsaved refreshed states (ctx.c) ---- */
/* Keep a copy of `s`, a refreshed state of token `name` that could not be
 * saved, replacing an older one. TS_ENOMEM only. */
int ts_ctx_pending_put(ts_ctx *ctx, const char *name, const ts_state *s, ts_error *err);
/* A copy of the kept state of `name`, or *out NULL. TS_ENOMEM only. */
int ts_ctx_pending_get(ts_state **out, ts_ctx *ctx, const char *name, ts_error *err);
void ts_ctx_pending_drop(ts_ctx *ctx, const char *name);

/* ---- secrets at rest (seal.c) ---- */
void ts_seal_free(ts_seal *k);
bool ts_seal_is_sealed(const char *s);
/* Seal `plain` for field `field` of token `name`; *out "sealed:v1:...". */
int ts_seal_value(char **out, const ts_seal *k, const char *name, const char *field,
		  const char *plain, ts_error *err);
/* Open a sealed value; TS_EPERM without a key (k NULL) or with the wrong
 * one (or a value moved between tokens or fields), TS_EINVAL if damaged. */
int ts_seal_open(char **out, const ts_seal *k, const char *name, const char *field,
		 const char *sealed, ts_error *err);
/* Seal (seal true, k non-NULL) or open every secret of a configuration or
 * state in place. */
int ts_seal_config(ts_token_config *c, bool seal, const ts_seal *k, ts_error *err);
int ts_seal_state(ts_state *s, bool seal, const ts_seal *k, const char *name, ts_error *err);

#endif /* TS_P_H */
