/*
 * perms.c - safe file access for the store: ownership and mode checks,
 * bounded reads that refuse symlinks and non-regular files, atomic writes
 * and `mkdir -p` with 0700.
 *
 * Everything is relative to a directory descriptor (openat, renameat,
 * fstatat) so the store keeps working after chroot. Modes are set with
 * fchmod after creation, so the result does not depend on the umask.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ts_p.h"

const char *ts_path_join(char *buf, size_t len, const char *dir, const char *name)
{
	if (dir == NULL || *dir == '\0' || name[0] == '/')
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	return buf;
}

/* While a thread acts for a store's owner (ts_act_begin), the uid whose
 * rights its file accesses use; -1 otherwise. */
static _Thread_local long acting_uid = -1;

uid_t ts_act_uid(void)
{
	return acting_uid >= 0 ? (uid_t)acting_uid : geteuid();
}

/*
 * Root must never read or create a file for another user's store with
 * root's rights: a store owner could name or plant any path. The file
 * system ids (setfsuid/setfsgid) are per thread on Linux and change only
 * what the kernel checks on open, create and rename, so the plugin's other
 * threads are not affected; CAP_DAC_OVERRIDE is dropped while fsuid is not
 * 0 and comes back with it.
 */
int ts_act_begin(ts_act *save, uid_t uid, gid_t gid, ts_error *err)
{
	save->active = false;
	if (geteuid() != 0 || uid == 0 || acting_uid >= 0)
		return TS_OK;
	save->gid = (gid_t)setfsgid(gid);
	save->uid = (uid_t)setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) {
		setfsuid(save->uid);
		setfsgid(save->gid);
		return ts_error_set(err, TS_EPERM,
				    "cannot take the file rights of uid %ld (the store's owner); refusing to use its files with root's rights",
				    (long)uid);
	}
	save->active = true;
	acting_uid = (long)uid;
	return TS_OK;
}

void ts_act_end(const ts_act *save)
{
	if (save == NULL || !save->active)
		return;
	setfsuid(save->uid);
	setfsgid(save->gid);
	acting_uid = -1;
}

/* Root may manage any user's store; everyone else only their own or root's. */
static bool owner_ok(uid_t owner)
{
	uid_t me = ts_act_uid();

	return me == 0 || owner == me || owner == 0;
}

int ts_perm_check_dir(const struct stat *st, const char *path, ts_error *err)
{
	if (!S_ISDIR(st->st_mode))
		return ts_error_set(err, TS_EPERM, "%s is not a directory; give a directory", path);
	if (!owner_ok(st->st_uid))
		return ts_error_set(err, TS_EPERM,
				    "directory %s is owned by uid %ld, not by you (uid %ld) or root; fix: chown %ld %s",
				    path, (long)st->st_uid, (long)ts_act_uid(), (long)ts_act_uid(), path);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return ts_error_set(err, TS_EPERM,
				    "directory %s is writable by %s; fix: chmod 700 %s", path,
				    (st->st_mode & S_IWOTH) ? "everyone" : "its group", path);
	return TS_OK;
}

int ts_perm_check_file(const struct stat *st, const char *path, bool secret, ts_error *err)
{
	if (!S_ISREG(st->st_mode))
		return ts_error_set(err, TS_EPERM, "%s is not a regular file; remove it or give a regular file",
				    path);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return ts_error_set(err, TS_EPERM, "%s is writable by %s; fix: chmod 600 %s", path,
				    (st->st_mode & S_IWOTH) ? "everyone" : "its group", path);
	if (secret && (st->st_mode & (S_IRGRP | S_IROTH)))
		return ts_error_set(err, TS_EPERM,
				    "%s holds secrets but is readable by %s; fix: chmod 600 %s", path,
				    (st->st_mode & S_IROTH) ? "everyone" : "its group", path);
	if (secret && !owner_ok(st->st_uid))
		return ts_error_set(err, TS_EPERM,
				    "%s holds secrets but is owned by uid %ld, not by you (uid %ld); fix: chown %ld %s",
				    path, (long)st->st_uid, (long)ts_act_uid(), (long)ts_act_uid(), path);
	return TS_OK;
}

int ts_file_read_st(char **out, size_t *outlen, struct stat *stout, int dirfd, const char *dirpath,
		    const char *name, size_t max, bool secret, bool nofollow, ts_error *err)
{
	char path[4096];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, rc = TS_OK;

	*out = NULL;
	if (outlen)
		*outlen = 0;
	ts_path_join(path, sizeof(path), dirpath, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		if (errno == ENOENT)
			return ts_error_set(err, TS_ENOTFOUND, "%s does not exist", path);
		if (errno == ELOOP)
			return ts_error_set(err, TS_EPERM,
					    "%s is a symbolic link, which the store refuses; replace it by a regular file",
					    path);
		if (errno == EACCES || errno == EPERM)
			return ts_error_set(err, TS_EPERM, "cannot open %s: %s; check its owner and mode",
					    path, strerror(errno));
		return ts_error_set(err, TS_EIO, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		rc = ts_error_set(err, TS_EIO, "cannot stat %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if ((rc = ts_perm_check_file(&st, path, secret, err)) != TS_OK)
		goto cleanup;
	if ((size_t)st.st_size > max) {
		rc = ts_error_set(err, TS_EINVAL, "%s is larger than %zu bytes; it cannot be a valid file here",
				  path, max);
		goto cleanup;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = ts_enomem(err);
		goto cleanup;
	}
	/* Read until EOF, but never past the size we allocated for. */
	for (;;) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = ts_error_set(err, TS_EIO, "cannot read %s: %s", path, strerror(errno));
			goto cleanup;
		}
		if (r == 0 || len + (size_t)r == (size_t)st.st_size) {
			len += (size_t)r;
			break;
		}
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	if (outlen)
		*outlen = len;
	if (stout)
		*stout = st;
cleanup:
	if (buf != NULL) {
		ts_wipe(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int ts_file_read(char **out, size_t *outlen, int dirfd, const char *dirpath, const char *name,
		 size_t max, bool secret, ts_error *err)
{
	return ts_file_read_st(out, outlen, NULL, dirfd, dirpath, name, max, secret, true, err);
}

int ts_file_write_atomic(int dirfd, const char *dirpath, const char *name, const void *buf,
			 size_t len, ts_error *err)
{
	return ts_file_write_atomic_ex(dirfd, dirpath, name, buf, len, false, err);
}

int ts_file_write_atomic_ex(int dirfd, const char *dirpath, const char *name, const void *buf,
			    size_t len, bool keep_written, ts_error *err)
{
	char tmp[TS_NAME_MAX + 64], path[4096];
	unsigned char rnd[6];
	const char *p = buf;
	size_t done = 0;
	int fd = -1, rc = TS_OK, attempt;
	bool created = false, written = false;

	ts_path_join(path, sizeof(path), dirpath, name);
	if (strlen(name) > TS_NAME_MAX + 16 || strchr(name, '/') != NULL)
		return ts_error_set(err, TS_EINVAL, "cannot write %s: bad file name", path);
	for (attempt = 0; attempt < 16 && fd < 0; attempt++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			unsigned long v = (unsigned long)getpid() ^ ((unsigned long)attempt << 20);

			memcpy(rnd, &v, sizeof(rnd) < sizeof(v) ? sizeof(rnd) : sizeof(v));
		}
		snprintf(tmp, sizeof(tmp), ".%s.%02x%02x%02x%02x%02x%02x.tmp", name, rnd[0], rnd[1], rnd[2],
			 rnd[3], rnd[4], rnd[5]);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		return ts_error_set(err, errno == EACCES || errno == EPERM ? TS_EPERM : TS_EIO,
				    "cannot create a temporary file in %s: %s; check the directory's owner, mode and free space",
				    dirpath ? dirpath : ".", strerror(errno));
	}
	created = true;
	if (fchmod(fd, 0600) != 0) {
		rc = ts_error_set(err, TS_EIO, "cannot set mode 0600 on %s: %s", path, strerror(errno));
		goto cleanup;
	}
	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = ts_error_set(err, TS_EIO, "cannot write %s: %s", path, strerror(errno));
			goto cleanup;
		}
		done += (size_t)w;
	}
	written = true;
	if (fsync(fd) != 0) {
		rc = ts_error_set(err, TS_EIO, "cannot write %s: fsync: %s", path, strerror(errno));
		goto cleanup;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = ts_error_set(err, TS_EIO, "cannot write %s: close: %s", path, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		rc = ts_error_set(err, TS_EIO, "cannot replace %s: %s", path, strerror(errno));
		goto cleanup;
	}
	created = false;
	/* The rename itself must reach the disk, or a crash could lose it. */
	if (dirfd != AT_FDCWD && fsync(dirfd) != 0 && errno != EINVAL) {
		rc = ts_error_set(err, TS_EIO, "cannot sync directory %s: %s", dirpath ? dirpath : ".",
				  strerror(errno));
		goto cleanup;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	/* A complete copy whose sync or rename failed is left for the next
	 * writer under the lock to adopt or remove (store_file.c). */
	if (created && !(keep_written && written))
		unlinkat(dirfd, tmp, 0);
	return rc;
}

int ts_mkdir_p(const char *path, ts_error *err)
{
	char buf[4096];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return ts_error_set(err, TS_EINVAL, "bad directory path '%.200s'", path);
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == 0) {
			/* Independent of the umask. */
			if (chmod(buf, 0700) != 0)
				return ts_error_set(err, TS_EIO, "cannot set mode 0700 on %s: %s", buf,
						    strerror(errno));
		} else if (errno != EEXIST) {
			return ts_error_set(err, errno == EACCES ? TS_EPERM : TS_EIO,
					    "cannot create directory %s: %s", buf, strerror(errno));
		}
		if (i < len)
			buf[i] = '/';
	}
	return TS_OK;
}
