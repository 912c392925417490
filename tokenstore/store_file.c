/*
 * store_file.c - the file backend of the token store.
 *
 * Layout in the store directory (0700): <name>.yaml (configuration, 0600),
 * <name>.state (JSON state, 0600), <name>.lock (lock file, kept on unlock
 * because removing it would race with a waiter that already opened it),
 * and temporaries .<name>.XXXXXXXXXXXX.tmp while a file is replaced. A
 * jwt_bearer token keeps the state of each further mailbox under the key
 * <name>#<hex> (<name>#<hex>.state and .lock), removed with the token.
 *
 * The directory is opened once; every access is relative to that
 * descriptor, so the store works after chroot.
 *
 * Template changes: save_config refuses to replace an existing
 * configuration whose template differs (TS_EINVAL). The template is
 * permanent; to switch, remove the token and add (or import) it again.
 * So `import --overwrite` of an entry with another template is refused by
 * the store unless the importer removes the old token first.
 *
 * Ownership: a store directory must belong to the caller or to root, and
 * every file in it to the directory's owner. Root may open any user's
 * store (to administer e.g. Postfix's): store.c then makes every access
 * with that user's file rights, so what root creates there belongs to the
 * user from the start and nothing is ever chowned or chmodded after the
 * fact.
 *
 * Temporaries: a writer killed between writing a temporary and renaming
 * it, or whose rename failed, leaves .<name>.state.<12 hex>.tmp behind.
 * The next lock holder of that token adopts the newest complete one whose
 * generation is higher than the saved state's (it may carry the only live
 * rotated refresh token) and removes the others; state temporaries are
 * only ever written under the lock, so any it finds is stale.
 * Configuration temporaries (written without the lock) are removed once
 * older than a minute. `remove` removes all of them.
 *
 * Lock files: created with O_EXCL when absent; an existing one must be a
 * regular file with one link, owned by the store's owner, or it is refused
 * (a hard link planted there must not be touched).
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ts_p.h"

typedef struct file_store {
	int dirfd;
	uid_t owner;                /* the directory's owner */
} file_store;

struct ts_lock {
	int fd;
	char *name;
};

static int dirfd_of(ts_store *st)
{
	return ((file_store *)st->priv)->dirfd;
}

/* A file of the store must belong to the store's owner. */
static int check_owner(ts_store *st, const struct stat *sb, const char *path, ts_error *err)
{
	uid_t owner = ((file_store *)st->priv)->owner;

	if (sb->st_uid == owner)
		return TS_OK;
	return ts_error_set(err, TS_EPERM,
			    "%s is owned by uid %ld, but the store %s belongs to uid %ld, and every file in a store must belong to its owner; fix: chown %ld %s, or remove it",
			    path, (long)sb->st_uid, st->location, (long)owner, (long)owner, path);
}

/* A store file could not be opened (rc, err): when it belongs to someone
 * other than the store's owner, that is the reason to give. */
static int owner_why(ts_store *st, const char *file, const char *path, int rc, ts_error *err)
{
	struct stat sb;

	if (fstatat(dirfd_of(st), file, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    sb.st_uid != ((file_store *)st->priv)->owner)
		return check_owner(st, &sb, path, err);
	return rc;
}

/* Tokens are the <name>.yaml files with a valid name: the directory is
 * read like a templates directory, and other names are left out. */
static int file_list(ts_store *st, ts_strlist *out, ts_error *err)
{
	size_t i, kept = 0;
	int rc;

	if ((rc = ts_template_list_at(out, dirfd_of(st), st->location, err)) != TS_OK)
		return rc;
	for (i = 0; i < out->n; i++) {
		if (ts_name_check(out->v[i], NULL) == TS_OK)
			out->v[kept++] = out->v[i];
		else
			free(out->v[i]);
	}
	out->n = kept;
	return TS_OK;
}

/* Read the file <name><suffix> of token `name`; `path` receives its path
 * for messages. TS_ENOTFOUND when it does not exist, the caller says why. */
static int read_token_file(char **out, size_t *outlen, struct stat *sb, char *path, size_t pathsz,
			   ts_store *st, const char *name, const char *suffix, bool secret,
			   ts_error *err)
{
	char file[TS_NAME_MAX + TS_STATE_KEY_HEX + 16];
	struct stat own;
	int rc;

	if ((rc = strcmp(suffix, ".yaml") == 0 ? ts_name_check(name, err) :
		  ts_state_key_check(name, err)) != TS_OK)
		return rc;
	snprintf(file, sizeof(file), "%s%s", name, suffix);
	ts_path_join(path, pathsz, st->location, file);
	if (sb == NULL)
		sb = &own;
	rc = ts_file_read_st(out, outlen, sb, dirfd_of(st), st->location, file, TS_FILE_MAX, secret,
			     true, err);
	if (rc == TS_EPERM)
		return owner_why(st, file, path, rc, err);
	if (rc == TS_OK && (rc = check_owner(st, sb, path, err)) != TS_OK) {
		ts_free_secret(*out);
		*out = NULL;
	}
	return rc;
}

static int file_load_config(ts_store *st, const char *name, ts_token_config **out, ts_error *err)
{
	char path[4096];
	char *buf = NULL;
	size_t len = 0;
	struct stat sb;
	int rc;

	*out = NULL;
	rc = read_token_file(&buf, &len, &sb, path, sizeof(path), st, name, ".yaml", false, err);
	if (rc == TS_ENOTFOUND)
		return ts_error_set(err, TS_ENOTFOUND,
				    "token '%s' not found in store %s; create it with: sasl-oauth2 add %s --template TEMPLATE",
				    name, st->location, name);
	if (rc != TS_OK)
		return rc;
	if ((rc = ts_token_config_parse_named(out, buf, len, path, name, err)) != TS_OK)
		goto cleanup;
	if ((*out)->client_secret != NULL && (rc = ts_perm_check_file(&sb, path, true, err)) != TS_OK) {
		ts_token_config_free(*out);
		*out = NULL;
	}
cleanup:
	ts_free_secret(buf);
	return rc;
}

static int file_save_config(ts_store *st, const ts_token_config *c, ts_error *err)
{
	ts_token_config *old = NULL;
	char file[TS_NAME_MAX + 8];
	char *text = NULL;
	ts_error sub;
	int rc;

	if ((rc = ts_name_check(c->name, err)) != TS_OK)
		return rc;
	rc = file_load_config(st, c->name, &old, &sub);
	if (rc == TS_OK) {
		const char *a = old->template_name ? old->template_name : "";
		const char *b = c->template_name ? c->template_name : "";

		if (strcmp(a, b) != 0) {
			rc = ts_error_set(err, TS_EINVAL,
					  "token '%s': field 'template' is permanent: the saved token uses '%s', not '%s'; remove the token first (sasl-oauth2 remove %s) and add it again",
					  c->name, a, b, c->name);
			goto cleanup;
		}
	} else if (rc != TS_ENOTFOUND) {
		/* An unreadable old file must not hide a template change; say why. */
		if (rc == TS_EPERM || rc == TS_EIO) {
			if (err)
				*err = sub;
			goto cleanup;
		}
	}
	snprintf(file, sizeof(file), "%s.yaml", c->name);
	if ((rc = ts_token_config_emit(&text, c, true, err)) != TS_OK)
		goto cleanup;
	rc = ts_file_write_atomic(dirfd_of(st), st->location, file, text, strlen(text), err);
cleanup:
	ts_free_secret(text);
	ts_token_config_free(old);
	return rc;
}

static int file_load_state(ts_store *st, const char *name, ts_state **out, ts_error *err)
{
	char path[4096];
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = read_token_file(&buf, &len, NULL, path, sizeof(path), st, name, ".state", true, err);
	if (rc == TS_ENOTFOUND)
		return ts_error_set(err, TS_ENOTFOUND,
				    "token '%s' has no state yet (never authorized); run: sasl-oauth2 authorize %s",
				    name, name);
	if (rc != TS_OK)
		return rc;
	rc = ts_state_parse(out, buf, len, path, err);
	ts_free_secret(buf);
	return rc;
}

static int file_save_state(ts_store *st, const char *name, ts_state *s, ts_error *err)
{
	char file[TS_NAME_MAX + TS_STATE_KEY_HEX + 16];
	char *text = NULL;
	int rc;

	if ((rc = ts_state_key_check(name, err)) != TS_OK)
		return rc;
	snprintf(file, sizeof(file), "%s.state", name);
	s->generation++;
	if ((rc = ts_state_emit(&text, s, err)) != TS_OK) {
		s->generation--;
		return rc;
	}
	/* Under the lock: a complete copy that could not be renamed may hold
	 * the only live refresh token; sweep_temps adopts it later. */
	rc = ts_file_write_atomic_ex(dirfd_of(st), st->location, file, text, strlen(text), true, err);
	if (rc != TS_OK)
		s->generation--;
	ts_free_secret(text);
	return rc;
}

/* One non-blocking attempt; 0 taken, 1 busy, -1 error (errno set). */
static int try_lock(int fd)
{
#ifdef F_OFD_SETLK
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return 1;
	if (errno != EINVAL)
		return -1;
	/* Kernel without OFD locks: flock has the same per-open semantics. */
#endif
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	return errno == EWOULDBLOCK ? 1 : -1;
}

/* Whether `f` is ".<name>.<suffix>.<12 hex>.tmp", a temporary of
 * ts_file_write_atomic for the file <name>.<suffix>. */
static bool is_temp_of(const char *f, const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix), i;

	if (f[0] != '.' || strncmp(f + 1, name, n) != 0 || f[1 + n] != '.' ||
	    strncmp(f + 2 + n, suffix, k) != 0 || f[2 + n + k] != '.')
		return false;
	f += 3 + n + k;
	for (i = 0; i < 12; i++)
		if (!((f[i] >= '0' && f[i] <= '9') || (f[i] >= 'a' && f[i] <= 'f')))
			return false;
	return strcmp(f + 12, ".tmp") == 0;
}

/* The generation of a state file (or temporary); -1 when it is missing or
 * not a complete state of the store's owner. */
static long long state_generation(ts_store *st, const char *file)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat sb;
	ts_state *s = NULL;
	long long gen = -1;

	if (ts_file_read_st(&buf, &len, &sb, dirfd_of(st), st->location, file, TS_FILE_MAX, true, true,
			    NULL) != TS_OK)
		return -1;
	if (sb.st_uid == ((file_store *)st->priv)->owner && sb.st_nlink == 1 &&
	    ts_state_parse(&s, buf, len, file, NULL) == TS_OK)
		gen = (long long)s->generation;
	ts_state_free(s);
	ts_free_secret(buf);
	return gen;
}

/*
 * Clean up after writers of token `name` that died or failed (see the top
 * of the file); with `all` (remove) every temporary goes. Returns how many
 * files were found. Best effort: a failure here never fails the caller.
 */
static int sweep_temps(ts_store *st, const char *name, bool all)
{
	char state[TS_NAME_MAX + TS_STATE_KEY_HEX + 16], best[TS_NAME_MAX + TS_STATE_KEY_HEX + 64] = "";
	long long best_gen = -1, gen;
	struct dirent *de;
	struct stat sb;
	time_t now = time(NULL);
	int fd, found = 0;
	DIR *d;

	if ((fd = dup(dirfd_of(st))) < 0)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	rewinddir(d);
	snprintf(state, sizeof(state), "%s.state", name);
	while ((de = readdir(d)) != NULL) {
		const char *f = de->d_name;

		if (strlen(f) >= sizeof(best))
			continue;
		if (is_temp_of(f, name, "state")) {
			found++;
			gen = all ? -1 : state_generation(st, f);
			if (gen > best_gen) {
				if (best[0] != '\0')
					unlinkat(dirfd_of(st), best, 0);
				best_gen = gen;
				snprintf(best, sizeof(best), "%s", f);
			} else {
				unlinkat(dirfd_of(st), f, 0);
			}
		} else if (is_temp_of(f, name, "yaml")) {
			found++;
			if (all || (fstatat(dirfd_of(st), f, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
				    now - sb.st_mtime > 60))
				unlinkat(dirfd_of(st), f, 0);
		}
	}
	closedir(d);
	if (best[0] != '\0') {
		if (best_gen > state_generation(st, state) && renameat(dirfd_of(st), best, dirfd_of(st), state) == 0)
			(void)fsync(dirfd_of(st));
		else
			unlinkat(dirfd_of(st), best, 0);
	}
	return found;
}

/* Open the lock file: create it (O_EXCL, so it is ours and new) when it is
 * absent; otherwise it must be a regular file with exactly one link that
 * belongs to the store's owner. An existing file is never chmodded. */
static int open_lock_file(int *out, ts_store *st, const char *file, const char *path, ts_error *err)
{
	const int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct stat sb;
	int fd = -1, rc, tries;

	*out = -1;
	for (tries = 0; tries < 8 && fd < 0; tries++) {
		fd = openat(dirfd_of(st), file, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			/* New and ours: the mode must not depend on the umask. */
			if (fchmod(fd, 0600) != 0) {
				rc = ts_error_set(err, TS_EIO, "cannot set mode 0600 on %s: %s", path,
						  strerror(errno));
				close(fd);
				return rc;
			}
			*out = fd;
			return TS_OK;
		}
		if (errno != EEXIST)
			break;
		fd = openat(dirfd_of(st), file, flags);
		if (fd < 0 && errno != ENOENT)
			break;  /* ENOENT: removed meanwhile, create it again */
	}
	if (fd < 0) {
		rc = ts_error_set(err, errno == ELOOP || errno == EACCES || errno == EPERM ? TS_EPERM : TS_EIO,
				  "cannot open lock file %s: %s%s", path, strerror(errno),
				  errno == ELOOP ? " (a symbolic link, which the store refuses; remove it)" : "");
		return rc == TS_EPERM ? owner_why(st, file, path, rc, err) : rc;
	}
	if (fstat(fd, &sb) != 0) {
		rc = ts_error_set(err, TS_EIO, "cannot stat %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = ts_error_set(err, TS_EPERM, "lock file %s is not a regular file; remove it", path);
		goto fail;
	}
	if (sb.st_nlink != 1) {
		rc = ts_error_set(err, TS_EPERM,
				  "lock file %s has %ld links (a hard link to another file?); the store refuses it: check what it points to, then remove it",
				  path, (long)sb.st_nlink);
		goto fail;
	}
	if ((rc = check_owner(st, &sb, path, err)) != TS_OK)
		goto fail;
	*out = fd;
	return TS_OK;
fail:
	close(fd);
	return rc;
}

static int file_lock(ts_store *st, const char *name, int timeout_ms, ts_lock **out, ts_error *err)
{
	char file[TS_NAME_MAX + TS_STATE_KEY_HEX + 16], path[4096];
	struct timespec start, now;
	ts_lock *lk = NULL;
	int fd = -1, rc, r;
	long waited_ms;

	*out = NULL;
	if ((rc = ts_state_key_check(name, err)) != TS_OK)
		return rc;
	snprintf(file, sizeof(file), "%s.lock", name);
	ts_path_join(path, sizeof(path), st->location, file);
	if ((rc = open_lock_file(&fd, st, file, path, err)) != TS_OK)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		r = try_lock(fd);
		if (r == 0)
			break;
		if (r < 0) {
			rc = ts_error_set(err, TS_EIO, "cannot lock %s: %s", path, strerror(errno));
			goto cleanup;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited_ms >= timeout_ms) {
			rc = ts_error_set(err, TS_ELOCKED,
					  "token '%s' is locked by another process (lock file %s) and was not released within %d ms; try again, or check for a hung sasl-oauth2 process",
					  name, path, timeout_ms);
			goto cleanup;
		}
		nanosleep(&ts, NULL);
	}
	if ((lk = calloc(1, sizeof(*lk))) == NULL || (lk->name = strdup(name)) == NULL) {
		free(lk);
		lk = NULL;
		rc = ts_enomem(err);
		goto cleanup;
	}
	lk->fd = fd;
	fd = -1;
	(void)sweep_temps(st, name, false);
	*out = lk;
	rc = TS_OK;
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

static void file_unlock(ts_lock *lk)
{
	if (lk == NULL)
		return;
	/* Closing the only descriptor of the open file description drops the lock. */
	close(lk->fd);
	free(lk->name);
	free(lk);
}

/* Remove the per-mailbox state and lock files "NAME#HEX.*" of a token, and
 * their temporaries; *any is set when one existed. */
static int remove_mailbox_states(ts_store *st, const char *name, bool *any, ts_error *err)
{
	size_t n = strlen(name);
	struct dirent *de;
	char path[4096];
	DIR *d;
	int fd, rc = TS_OK;

	if ((fd = dup(dirfd_of(st))) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return ts_error_set(err, TS_EIO, "cannot read the store %s: %s", st->location,
				    strerror(errno));
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		const char *f = de->d_name;

		/* NAME#HEX.state, NAME#HEX.lock and their temporaries. */
		const char *g = f[0] == '.' ? f + 1 : f;

		if (strncmp(g, name, n) != 0 || g[n] != '#' ||
		    (!ts_has_suffix(f, ".state") && !ts_has_suffix(f, ".lock") &&
		     !(f[0] == '.' && ts_has_suffix(f, ".tmp"))))
			continue;
		if (unlinkat(dirfd_of(st), f, 0) == 0) {
			*any = true;
		} else if (errno != ENOENT) {
			ts_path_join(path, sizeof(path), st->location, f);
			rc = ts_error_set(err, errno == EACCES || errno == EPERM ? TS_EPERM : TS_EIO,
					  "cannot remove %s: %s", path, strerror(errno));
			break;
		}
	}
	closedir(d);
	return rc;
}

static int file_remove(ts_store *st, const char *name, ts_error *err)
{
	static const char *const sfx[] = { ".yaml", ".state", ".lock" };
	char file[TS_NAME_MAX + 8], path[4096];
	ts_lock *lk = NULL;
	bool any;
	size_t i;
	int rc;

	if ((rc = ts_name_check(name, err)) != TS_OK)
		return rc;
	/* Under the token's lock, so no refresh is half way through. */
	if ((rc = file_lock(st, name, 5000, &lk, err)) != TS_OK)
		return rc;
	any = sweep_temps(st, name, true) > 0;
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", name, sfx[i]);
		if (unlinkat(dirfd_of(st), file, 0) == 0) {
			/* The lock file was just created by file_lock: not a sign of the token. */
			if (i < 2)
				any = true;
		} else if (errno != ENOENT) {
			ts_path_join(path, sizeof(path), st->location, file);
			rc = ts_error_set(err, errno == EACCES || errno == EPERM ? TS_EPERM : TS_EIO,
					  "cannot remove %s: %s", path, strerror(errno));
			goto cleanup;
		}
	}
	if ((rc = remove_mailbox_states(st, name, &any, err)) != TS_OK)
		goto cleanup;
	if (!any) {
		rc = ts_error_set(err, TS_ENOTFOUND, "token '%s' not found in store %s", name,
				  st->location);
		goto cleanup;
	}
	(void)fsync(dirfd_of(st));
cleanup:
	file_unlock(lk);
	return rc;
}

/* A stamp from stat: a file replaced by rename has another inode, an edit
 * in place another ctime (which no one can set back, unlike mtime). */
static void stamp_of(ts_stamp *out, const struct stat *sb)
{
	out->v[0] = (uint64_t)sb->st_dev;
	out->v[1] = (uint64_t)sb->st_ino;
	out->v[2] = (uint64_t)sb->st_size;
	out->v[3] = (uint64_t)sb->st_mtim.tv_sec * 1000000000u + (uint64_t)sb->st_mtim.tv_nsec;
	out->changed_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
}

/* The list changes with the directory: every save renames into it. */
static int file_stamp(ts_store *st, ts_obj what, const char *name, ts_stamp *out, ts_error *err)
{
	const char *sfx = what == TS_OBJ_CONFIG ? ".yaml" : ".state";
	char file[TS_NAME_MAX + 8];
	struct stat sb;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (what == TS_OBJ_LIST) {
		if (fstat(dirfd_of(st), &sb) != 0)
			return ts_error_set(err, TS_EIO, "cannot stat %s: %s", st->location,
					    strerror(errno));
		stamp_of(out, &sb);
		return TS_OK;
	}
	if ((rc = ts_name_check(name, err)) != TS_OK)
		return rc;
	/* Once per login: no formatting unless there is an error to tell. */
	n = strlen(name);
	memcpy(file, name, n);
	memcpy(file + n, sfx, strlen(sfx) + 1);
	if (fstatat(dirfd_of(st), file, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		rc = errno == ENOENT ? TS_ENOTFOUND : TS_EIO;
		return err == NULL ? rc : ts_error_set(err, rc, "cannot stat %s/%s: %s",
						       st->location, file, strerror(errno));
	}
	stamp_of(out, &sb);
	return TS_OK;
}

static void file_close(ts_store *st)
{
	file_store *fs;

	if (st == NULL)
		return;
	fs = st->priv;
	if (fs != NULL && fs->dirfd >= 0)
		close(fs->dirfd);
	free(fs);
	free(st->location);
	free(st);
}

static const ts_backend file_backend = {
	.name = "file",
	.list = file_list,
	.load_config = file_load_config,
	.save_config = file_save_config,
	.load_state = file_load_state,
	.save_state = file_save_state,
	.lock = file_lock,
	.unlock = file_unlock,
	.remove = file_remove,
	.close = file_close,
	.stamp = file_stamp,
};

int ts_store_open_file(ts_store **out, const char *dir, unsigned flags, ts_error *err)
{
	ts_store *st = NULL;
	file_store *fs = NULL;
	struct stat sb;
	int fd = -1, rc;

	*out = NULL;
	if (dir == NULL || *dir == '\0')
		return ts_error_set(err, TS_EINVAL, "no store directory given; use --store DIR or SASL_OAUTH2_STORE");
	if (flags & TS_STORE_CREATE) {
		if ((rc = ts_mkdir_p(dir, err)) != TS_OK)
			return rc;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ts_error_set(err, TS_ENOTFOUND,
					    "store directory %s does not exist; create it with: sasl-oauth2 --store %s add NAME ..., or mkdir -m 700 %s",
					    dir, dir, dir);
		if (errno == ENOTDIR)
			return ts_error_set(err, TS_EPERM, "store %s is not a directory", dir);
		return ts_error_set(err, errno == EACCES ? TS_EPERM : TS_EIO,
				    "cannot open store directory %s: %s", dir, strerror(errno));
	}
	if (fstat(fd, &sb) != 0) {
		rc = ts_error_set(err, TS_EIO, "cannot stat %s: %s", dir, strerror(errno));
		goto cleanup;
	}
	if ((rc = ts_perm_check_dir(&sb, dir, err)) != TS_OK)
		goto cleanup;
	if ((st = calloc(1, sizeof(*st))) == NULL || (fs = calloc(1, sizeof(*fs))) == NULL ||
	    (st->location = strdup(dir)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	fs->dirfd = fd;
	fs->owner = sb.st_uid;
	fd = -1;
	/* Root in another user's store acts with that user's rights (store.c). */
	if (geteuid() == 0 && sb.st_uid != 0) {
		st->owner_uid = sb.st_uid;
		st->owner_gid = sb.st_gid;
	}
	st->ops = &file_backend;
	st->priv = fs;
	*out = st;
	st = NULL;
	fs = NULL;
	rc = TS_OK;
cleanup:
	if (st != NULL) {
		free(st->location);
		free(st);
	}
	free(fs);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The store directory's descriptor, for the context and tests. */
int ts_store_file_dirfd(ts_store *st)
{
	if (st == NULL || st->ops != &file_backend)
		return -1;
	return dirfd_of(st);
}
