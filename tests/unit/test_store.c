/*
 * test_store.c - the file backend: atomic writes, modes, permission
 * refusals, symlinks, list, remove, template permanence and locking.
 */
#include <config.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include "unit.h"

static int count_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp") != NULL)
			n++;
	closedir(d);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (sb.st_mode & 07777) : (mode_t)-1;
}

static ts_token_config *mk(const char *name, const char *tpl)
{
	ts_token_config *c = NULL;
	ts_error e;

	ts_token_config_new(&c, name, &e);
	c->template_name = strdup(tpl);
	ts_token_config_set(c, "client_id", "cid", &e);
	ts_token_config_set(c, "client_secret", "csecret", &e);
	return c;
}

int main(void)
{
	const char *tmp = unit_tmpdir();
	char dir[512], path[700], other[700];
	ts_store *st = NULL;
	ts_token_config *c = NULL, *c2 = NULL;
	ts_state *s = NULL, *s2 = NULL;
	ts_strlist names = { NULL, 0 };
	ts_lock *lk = NULL;
	ts_error e;
	int rc, pfd[2];
	pid_t pid;

	umask(0);   /* modes must not depend on the umask */
	snprintf(dir, sizeof(dir), "%s/a/b/store", tmp);
	memset(&e, 0, sizeof(e));
	rc = ts_store_open_file(&st, dir, 0, &e);
	UNIT_ERR(rc, e, TS_ENOTFOUND, dir, NULL, "missing store without CREATE is TS_ENOTFOUND");
	rc = ts_store_open_file(&st, dir, TS_STORE_CREATE, &e);
	if (!tap_ok(rc == TS_OK, "store created with parents")) {
		tap_diag("%s", e.msg);
		return tap_done();
	}
	tap_ok(mode_of(dir) == 0700, "store directory is 0700 (umask 0)");
	snprintf(path, sizeof(path), "%s/a", tmp);
	tap_ok(mode_of(path) == 0700, "created parent is 0700");
	tap_ok(strcmp(st->ops->name, "file") == 0 && strcmp(st->location, dir) == 0, "file backend");

	/* Config save/load. */
	c = mk("alice@example.com", "generic");
	rc = ts_store_save_config(st, c, &e);
	tap_ok(rc == TS_OK, "config saved");
	snprintf(path, sizeof(path), "%s/alice@example.com.yaml", dir);
	tap_ok(mode_of(path) == 0600, "config file is 0600");
	tap_ok(count_tmp(dir) == 0, "no temporary files left after save");
	rc = ts_store_load_config(st, "alice@example.com", &c2, &e);
	tap_ok(rc == TS_OK && strcmp(c2->client_secret, "csecret") == 0, "config loaded with secret");
	ts_token_config_free(c2);
	c2 = NULL;
	memset(&e, 0, sizeof(e));
	rc = ts_store_load_config(st, "nobody", &c2, &e);
	UNIT_ERR(rc, e, TS_ENOTFOUND, "nobody", "sasl-oauth2 add", "missing token is TS_ENOTFOUND with the fix");
	rc = ts_store_load_config(st, "../etc", &c2, &e);
	tap_ok(rc == TS_EINVAL, "bad name refused by the store");

	/* Template is permanent. */
	free(c->template_name);
	c->template_name = strdup("google");
	memset(&e, 0, sizeof(e));
	rc = ts_store_save_config(st, c, &e);
	UNIT_ERR(rc, e, TS_EINVAL, "template", "remove", "changing the template is refused");
	free(c->template_name);
	c->template_name = strdup("generic");
	ts_token_config_set(c, "user", "alice@example.com", &e);
	tap_ok(ts_store_save_config(st, c, &e) == TS_OK, "same template overwrite allowed");

	/* State. */
	memset(&e, 0, sizeof(e));
	rc = ts_store_load_state(st, "alice@example.com", &s, &e);
	UNIT_ERR(rc, e, TS_ENOTFOUND, "authorize", NULL, "no state yet is TS_ENOTFOUND");
	ts_state_new(&s, &e);
	s->access_token = strdup("at-1");
	s->refresh_token = strdup("rt-1");
	s->expires_at = 100;
	rc = ts_store_save_state(st, "alice@example.com", s, &e);
	tap_ok(rc == TS_OK && s->generation == 1, "state saved, generation incremented");
	rc = ts_store_save_state(st, "alice@example.com", s, &e);
	tap_ok(rc == TS_OK && s->generation == 2, "second save increments again");
	snprintf(path, sizeof(path), "%s/alice@example.com.state", dir);
	tap_ok(mode_of(path) == 0600, "state file is 0600");
	tap_ok(count_tmp(dir) == 0, "no temporary files left after state save");
	rc = ts_store_load_state(st, "alice@example.com", &s2, &e);
	tap_ok(rc == TS_OK && strcmp(s2->refresh_token, "rt-1") == 0 && s2->generation == 2, "state loaded");
	ts_state_free(s2);
	s2 = NULL;

	/* Permission refusals. */
	chmod(path, 0644);
	memset(&e, 0, sizeof(e));
	rc = ts_store_load_state(st, "alice@example.com", &s2, &e);
	UNIT_ERR(rc, e, TS_EPERM, "chmod 600", path, "world-readable state refused");
	chmod(path, 0620);
	rc = ts_store_load_state(st, "alice@example.com", &s2, &e);
	UNIT_ERR(rc, e, TS_EPERM, "writable", path, "group-writable state refused");
	chmod(path, 0600);
	snprintf(other, sizeof(other), "%s/alice@example.com.yaml", dir);
	chmod(other, 0664);
	rc = ts_store_load_config(st, "alice@example.com", &c2, &e);
	UNIT_ERR(rc, e, TS_EPERM, "chmod 600", other, "group-writable config refused");
	chmod(other, 0644);
	rc = ts_store_load_config(st, "alice@example.com", &c2, &e);
	UNIT_ERR(rc, e, TS_EPERM, "readable", other, "readable config with client_secret refused");
	chmod(other, 0600);

	/* Truncated state. */
	unit_write(path, "{\"access_token\": \"at", 0600);
	rc = ts_store_load_state(st, "alice@example.com", &s2, &e);
	UNIT_ERR(rc, e, TS_EINVAL, path, "authorize", "truncated state names file and fix");

	/* Symlinks are refused. */
	snprintf(path, sizeof(path), "%s/target", tmp);
	unit_write(path, "name: evil\ntemplate: generic\n", 0600);
	snprintf(other, sizeof(other), "%s/evil.yaml", dir);
	if (symlink(path, other) == 0) {
		memset(&e, 0, sizeof(e));
		rc = ts_store_load_config(st, "evil", &c2, &e);
		UNIT_ERR(rc, e, TS_EPERM, "symbolic link", NULL, "symlinked config refused (O_NOFOLLOW)");
		unlink(other);
	} else {
		tap_ok(0, "symlink created");
	}
	/* A planted state symlink is not read as token state (a confused
	 * deputy: root or postfix reading an arbitrary file). */
	unit_write(path, "{\"access_token\": \"at-planted\", \"token_type\": \"Bearer\", \"expires_at\": 9999999999}", 0600);
	snprintf(other, sizeof(other), "%s/evil.state", dir);
	if (symlink(path, other) == 0) {
		memset(&e, 0, sizeof(e));
		rc = ts_store_load_state(st, "evil", &s2, &e);
		UNIT_ERR(rc, e, TS_EPERM, "symbolic link", NULL, "symlinked state refused (O_NOFOLLOW)");
		if (rc == TS_OK) {
			ts_state_free(s2);
			s2 = NULL;
		}
		unlink(other);
	} else {
		tap_ok(0, "symlink created");
	}
	/* A planted lock symlink is neither followed nor created through. */
	snprintf(other, sizeof(other), "%s/evil.lock", dir);
	snprintf(path, sizeof(path), "%s/lock-target", tmp);
	if (symlink(path, other) == 0) {
		memset(&e, 0, sizeof(e));
		rc = ts_store_lock(st, "evil", 100, &lk, &e);
		UNIT_ERR(rc, e, TS_EPERM, "lock file", NULL, "symlinked lock file refused");
		tap_ok(access(path, F_OK) != 0, "no file created through the lock symlink");
		if (rc == TS_OK) {
			ts_store_unlock(st, lk);
			lk = NULL;
		}
		unlink(other);
	} else {
		tap_ok(0, "symlink created");
	}

	/* List: valid names only, sorted, temporaries ignored. */
	c2 = mk("bob", "generic");
	ts_store_save_config(st, c2, &e);
	ts_token_config_free(c2);
	c2 = NULL;
	snprintf(path, sizeof(path), "%s/.bob.123456.tmp", dir);
	unit_write(path, "x", 0600);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	unit_write(path, "x", 0600);
	snprintf(path, sizeof(path), "%s/.yaml", dir);
	unit_write(path, "x", 0600);
	rc = ts_store_list(st, &names, &e);
	tap_ok(rc == TS_OK && names.n == 2 && strcmp(names.v[0], "alice@example.com") == 0 &&
		       strcmp(names.v[1], "bob") == 0,
	       "list returns valid names sorted");
	ts_strlist_clear(&names);

	/* Locking: a child holds the lock. */
	tap_ok(ts_store_lock(st, "bob", 100, &lk, &e) == TS_OK, "lock taken");
	ts_store_unlock(st, lk);
	lk = NULL;
	if (pipe(pfd) != 0)
		return 99;
	pid = fork();
	if (pid == 0) {
		ts_lock *clk = NULL;
		char ch = 'x';

		close(pfd[0]);
		if (ts_store_lock(st, "bob", 1000, &clk, NULL) != TS_OK)
			_exit(1);
		if (write(pfd[1], &ch, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	{
		char ch;

		tap_ok(read(pfd[0], &ch, 1) == 1, "child holds the lock");
	}
	memset(&e, 0, sizeof(e));
	rc = ts_store_lock(st, "bob", 200, &lk, &e);
	UNIT_ERR(rc, e, TS_ELOCKED, "'bob'", "bob.lock", "lock held elsewhere times out with TS_ELOCKED");
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	rc = ts_store_lock(st, "bob", 1000, &lk, &e);
	tap_ok(rc == TS_OK, "lock obtained after the holder exited");
	snprintf(path, sizeof(path), "%s/bob.lock", dir);
	ts_store_unlock(st, lk);
	tap_ok(access(path, F_OK) == 0, "lock file kept after unlock");

	/* Remove. */
	rc = ts_store_remove(st, "bob", &e);
	tap_ok(rc == TS_OK && access(path, F_OK) != 0, "remove deletes config and lock file");
	rc = ts_store_remove(st, "bob", &e);
	tap_ok(rc == TS_ENOTFOUND, "removing again is TS_ENOTFOUND");
	ts_store_close(st);
	st = NULL;

	/* Unsafe directories. */
	chmod(dir, 0770);
	memset(&e, 0, sizeof(e));
	rc = ts_store_open_file(&st, dir, 0, &e);
	UNIT_ERR(rc, e, TS_EPERM, "chmod 700", dir, "group-writable store directory refused");
	chmod(dir, 0707);
	rc = ts_store_open_file(&st, dir, 0, &e);
	UNIT_ERR(rc, e, TS_EPERM, "everyone", dir, "world-writable store directory refused");
	chmod(dir, 0700);
	if (geteuid() == 0) {
		/* A directory owned by uid 65534, opened by uid 65533: refused for its owner. */
		char odir[600];

		snprintf(odir, sizeof(odir), "%s/other", tmp);
		mkdir(odir, 0755);
		chmod(odir, 0755);
		chmod(tmp, 0711);
		if (chown(odir, 65534, 65534) != 0)
			tap_diag("chown failed");
		pid = fork();
		if (pid == 0) {
			ts_store *st2 = NULL;
			ts_error e2;

			if (setgid(65533) != 0 || setuid(65533) != 0)
				_exit(2);
			memset(&e2, 0, sizeof(e2));
			_exit(ts_store_open_file(&st2, odir, 0, &e2) == TS_EPERM && strstr(e2.msg, "owned by") &&
					      strstr(e2.msg, "chown")
				      ? 0
				      : 1);
		}
		{
			int status = 0;

			waitpid(pid, &status, 0);
			tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			       "store directory owned by another non-root user refused");
		}
		/* Root may manage that user's store; new files are given to the user. */
		{
			ts_store *st3 = NULL;
			ts_token_config *c3 = mk("svc", "generic");
			ts_lock *lk3 = NULL;
			struct stat sb;
			char f[700];

			rc = ts_store_open_file(&st3, odir, 0, &e);
			tap_ok(rc == TS_OK, "root opens a service user's store");
			if (rc == TS_OK) {
				rc = ts_store_save_config(st3, c3, &e);
				snprintf(f, sizeof(f), "%s/svc.yaml", odir);
				tap_ok(rc == TS_OK && stat(f, &sb) == 0 && sb.st_uid == 65534 && (sb.st_mode & 0777) == 0600,
				       "file written by root belongs to the store's owner");
				rc = ts_store_lock(st3, "svc", 100, &lk3, &e);
				snprintf(f, sizeof(f), "%s/svc.lock", odir);
				tap_ok(rc == TS_OK && stat(f, &sb) == 0 && sb.st_uid == 65534,
				       "lock file created by root belongs to the store's owner");
				ts_store_unlock(st3, lk3);
				ts_store_close(st3);
			}
			ts_token_config_free(c3);
		}
		chmod(tmp, 0700);
	}
	/* A store path that names a regular file (the audit found this check
	 * opening a deleted path, which passed on TS_ENOTFOUND). */
	snprintf(path, sizeof(path), "%s/plain-file", tmp);
	unit_write(path, "x", 0600);
	memset(&e, 0, sizeof(e));
	rc = ts_store_open_file(&st, path, 0, &e);
	UNIT_ERR(rc, e, TS_EPERM, "not a directory", path, "opening a non-directory fails naming it");
	if (rc == TS_OK) {
		ts_store_close(st);
		st = NULL;
	}

	/* ts_file_write_atomic directly. */
	{
		int dfd = open(tmp, O_RDONLY | O_DIRECTORY);
		char *buf = NULL;
		size_t len = 0;

		rc = ts_file_write_atomic(dfd, tmp, "direct", "hello", 5, &e);
		tap_ok(rc == TS_OK && count_tmp(tmp) == 0, "atomic write leaves no temporaries");
		rc = ts_file_read(&buf, &len, dfd, tmp, "direct", 1024, true, &e);
		tap_ok(rc == TS_OK && len == 5 && strcmp(buf, "hello") == 0, "read back");
		ts_free_secret(buf);
		rc = ts_file_read(&buf, &len, dfd, tmp, "direct", 3, false, &e);
		tap_ok(rc == TS_EINVAL, "size cap enforced");
		close(dfd);
	}
	ts_state_free(s);
	ts_token_config_free(c);
	return tap_done();
}
