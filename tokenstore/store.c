/*
 * store.c - the backend-independent face of the store: thin wrappers that
 * dispatch through st->ops and check their arguments, so that callers never
 * depend on which backend is behind a ts_store.
 */
#include <config.h>

#include "ts_p.h"

static int bad_store(ts_error *err)
{
	return ts_error_set(err, TS_EINVAL, "no store is open");
}

void ts_store_close(ts_store *st)
{
	if (st != NULL && st->ops != NULL && st->ops->close != NULL)
		st->ops->close(st);
}

int ts_store_list(ts_store *st, ts_strlist *out, ts_error *err)
{
	if (st == NULL)
		return bad_store(err);
	return st->ops->list(st, out, err);
}

int ts_store_load_config(ts_store *st, const char *name, ts_token_config **out, ts_error *err)
{
	*out = NULL;
	if (st == NULL)
		return bad_store(err);
	return st->ops->load_config(st, name, out, err);
}

int ts_store_save_config(ts_store *st, const ts_token_config *c, ts_error *err)
{
	if (st == NULL)
		return bad_store(err);
	if (c == NULL || c->name == NULL)
		return ts_error_set(err, TS_EINVAL, "token configuration without a name");
	return st->ops->save_config(st, c, err);
}

int ts_store_load_state(ts_store *st, const char *name, ts_state **out, ts_error *err)
{
	*out = NULL;
	if (st == NULL)
		return bad_store(err);
	return st->ops->load_state(st, name, out, err);
}

int ts_store_save_state(ts_store *st, const char *name, ts_state *s, ts_error *err)
{
	if (st == NULL)
		return bad_store(err);
	if (s == NULL)
		return ts_error_set(err, TS_EINVAL, "token '%s': no state to save", name ? name : "");
	return st->ops->save_state(st, name, s, err);
}

int ts_store_lock(ts_store *st, const char *name, int timeout_ms, ts_lock **out, ts_error *err)
{
	*out = NULL;
	if (st == NULL)
		return bad_store(err);
	return st->ops->lock(st, name, timeout_ms < 0 ? 0 : timeout_ms, out, err);
}

void ts_store_unlock(ts_store *st, ts_lock *lk)
{
	if (st != NULL && lk != NULL)
		st->ops->unlock(lk);
}

int ts_store_remove(ts_store *st, const char *name, ts_error *err)
{
	if (st == NULL)
		return bad_store(err);
	return st->ops->remove(st, name, err);
}
