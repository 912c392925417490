/*
 * store.c - the backend-independent face of the store: thin wrappers that
 * dispatch through st->ops and check their arguments, so that callers never
 * depend on which backend is behind a ts_store.
 *
 * When root opens a store that belongs to another user, each call runs
 * with that user's file rights (ts_store_act_begin), so whatever the
 * store's owner put there (links, names) is met with the owner's rights,
 * and what root creates there belongs to the owner without any chown.
 */
#include <config.h>

#include <string.h>

#include "ts_p.h"

static int bad_store(ts_error *err)
{
	return ts_error_set(err, TS_EINVAL, "no store is open");
}

int ts_store_act_begin(ts_act *save, const ts_store *st, ts_error *err)
{
	save->active = false;
	if (st == NULL || st->owner_uid == 0)
		return TS_OK;
	return ts_act_begin(save, st->owner_uid, st->owner_gid, err);
}

/* Run `call` acting for the store's owner; `rc` receives its result. */
#define AS_OWNER(st, err, rc, call)                                          \
	do {                                                                 \
		ts_act act_;                                                 \
		if (((rc) = ts_store_act_begin(&act_, (st), (err))) == TS_OK) { \
			(rc) = (call);                                       \
			ts_act_end(&act_);                                   \
		}                                                            \
	} while (0)

void ts_store_close(ts_store *st)
{
	if (st == NULL)
		return;
	ts_seal_free(st->seal);
	st->seal = NULL;
	if (st->ops != NULL && st->ops->close != NULL)
		st->ops->close(st);
}

int ts_store_list(ts_store *st, ts_strlist *out, ts_error *err)
{
	int rc;

	if (st == NULL)
		return bad_store(err);
	AS_OWNER(st, err, rc, st->ops->list(st, out, err));
	return rc;
}

int ts_store_load_config(ts_store *st, const char *name, ts_token_config **out, ts_error *err)
{
	int rc;

	*out = NULL;
	if (st == NULL)
		return bad_store(err);
	AS_OWNER(st, err, rc, st->ops->load_config(st, name, out, err));
	/* Secrets come out of the backend sealed (seal.c) when a key wrote them. */
	if (rc == TS_OK && (rc = ts_seal_config(*out, false, st->seal, err)) != TS_OK) {
		ts_token_config_free(*out);
		*out = NULL;
	}
	return rc;
}

int ts_store_save_config(ts_store *st, const ts_token_config *c, ts_error *err)
{
	int rc;

	if (st == NULL)
		return bad_store(err);
	if (c == NULL || c->name == NULL)
		return ts_error_set(err, TS_EINVAL, "token configuration without a name");
	if (st->seal != NULL && c->client_secret != NULL) {
		ts_token_config *sealed = NULL;

		if ((rc = ts_token_config_dup(&sealed, c, err)) == TS_OK &&
		    (rc = ts_seal_config(sealed, true, st->seal, err)) == TS_OK)
			AS_OWNER(st, err, rc, st->ops->save_config(st, sealed, err));
		ts_token_config_free(sealed);
		return rc;
	}
	AS_OWNER(st, err, rc, st->ops->save_config(st, c, err));
	return rc;
}

int ts_store_load_state(ts_store *st, const char *name, ts_state **out, ts_error *err)
{
	int rc;

	*out = NULL;
	if (st == NULL)
		return bad_store(err);
	AS_OWNER(st, err, rc, st->ops->load_state(st, name, out, err));
	if (rc == TS_OK && (rc = ts_seal_state(*out, false, st->seal, name, err)) != TS_OK) {
		ts_state_free(*out);
		*out = NULL;
	}
	return rc;
}

int ts_store_save_state(ts_store *st, const char *name, ts_state *s, ts_error *err)
{
	int rc;

	if (st == NULL)
		return bad_store(err);
	if (s == NULL)
		return ts_error_set(err, TS_EINVAL, "token '%s': no state to save", name ? name : "");
	if (st->seal != NULL) {
		ts_state *sealed = NULL;

		if ((rc = ts_state_dup(&sealed, s, err)) == TS_OK &&
		    (rc = ts_seal_state(sealed, true, st->seal, name, err)) == TS_OK)
			AS_OWNER(st, err, rc, st->ops->save_state(st, name, sealed, err));
		if (rc == TS_OK)
			s->generation = sealed->generation;
		ts_state_free(sealed);
		return rc;
	}
	AS_OWNER(st, err, rc, st->ops->save_state(st, name, s, err));
	return rc;
}

int ts_store_lock(ts_store *st, const char *name, int timeout_ms, ts_lock **out, ts_error *err)
{
	int rc;

	*out = NULL;
	if (st == NULL)
		return bad_store(err);
	AS_OWNER(st, err, rc, st->ops->lock(st, name, timeout_ms < 0 ? 0 : timeout_ms, out, err));
	return rc;
}

void ts_store_unlock(ts_store *st, ts_lock *lk)
{
	if (st != NULL && lk != NULL)
		st->ops->unlock(lk);
}

int ts_store_remove(ts_store *st, const char *name, ts_error *err)
{
	int rc;

	if (st == NULL)
		return bad_store(err);
	AS_OWNER(st, err, rc, st->ops->remove(st, name, err));
	return rc;
}

int ts_store_stamp(ts_store *st, ts_obj what, const char *name, ts_stamp *out, ts_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return bad_store(err);
	if (st->ops->stamp == NULL)
		return ts_error_set(err, TS_ERR, "the %s store has no cheap change check",
				    st->ops->name);
	if (st->owner_uid == 0)
		return st->ops->stamp(st, what, name, out, err);
	AS_OWNER(st, err, rc, st->ops->stamp(st, what, name, out, err));
	return rc;
}
