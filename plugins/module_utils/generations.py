# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A directory whose content changes in one step: complete generations behind one `current` link.

Standard library only (runs on targets). Layout of a state directory:

    current -> g-20261201T101500-3fa9c1   the one generation readers use (relative symlink)
    g-20261201T101500-3fa9c1/             a complete generation, never changed after the switch
    .lock                                 flock()ed by the writer for the whole transition

A new generation is built beside the current one under a hidden name, given its final owner and
mode, renamed to a g-* name and published by renaming a new symlink over `current`: a reader (or a
writer killed at any instant) sees the complete old generation or the complete new one. Anything
else in the state directory is a leftover of an interrupted writer and is removed under the lock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import shutil
import stat
import time

CURRENT = 'current'
LOCK = '.lock'
# When the Exim daemon was last told to re-read the current generation (see exim_reload).
RELOADED = '.reloaded'
GENERATION_PREFIX = 'g-'
BUILD_PREFIX = '.build-'


class StateError(Exception):
    """A failure worded for the user; the state directory is as it was before the call."""


class Wanted(object):
    """One regular file of a generation: bytes, mode, uid, gid."""

    __slots__ = ('content', 'mode', 'uid', 'gid')

    def __init__(self, content, mode, uid, gid):
        self.content, self.mode, self.uid, self.gid = content, mode, uid, gid


def generation_name(now=None):
    stamp = time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))
    return '%s%s-%s' % (GENERATION_PREFIX, stamp, os.urandom(3).hex())


def current_generation(state):
    """The directory `current` names, or None when it is missing or not one of our generations."""
    link = os.path.join(state, CURRENT)
    if not os.path.islink(link):
        return None
    target = os.readlink(link)
    if '/' in target or not target.startswith(GENERATION_PREFIX):
        return None
    path = os.path.join(state, target)
    st = os.lstat(path) if os.path.lexists(path) else None
    return path if st is not None and stat.S_ISDIR(st.st_mode) else None


class Lock(object):
    """flock() on <state>/.lock, waiting at most timeout seconds; names the holder on timeout."""

    def __init__(self, state, timeout, holder):
        self.path = os.path.join(state, LOCK)
        self.timeout, self.holder, self.fd = timeout, holder, None

    def __enter__(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                with os.fdopen(os.dup(fd), 'r') as handle:
                    holder = handle.read().strip() or 'unknown'
                os.close(fd)
                raise StateError('another run holds the lock %s (%s) and did not release it within %d s; '
                                 'nothing was changed' % (self.path, holder, self.timeout))
            time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, ('pid %d since %s: %s\n' % (os.getpid(), time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                                                 self.holder)).encode('utf-8'))
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.ftruncate(self.fd, 0)  # the holder's note is only there while it holds the lock
        os.close(self.fd)  # releases the flock
        self.fd = None


def leftovers(state):
    """Entries of the state directory that are neither the lock, the link nor its generation."""
    keep = {LOCK, CURRENT, RELOADED}
    current = current_generation(state)
    if current:
        keep.add(os.path.basename(current))
    return sorted(entry for entry in os.listdir(state) if entry not in keep)


def remove_entry(path):
    """Remove a file, link or whole tree without following symlinks."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _describe_filesystem(path):
    """'<mount point> (<type>, N bytes free)' for an error message."""
    best, fstype = '/', '?'
    try:
        real = os.path.realpath(path)
        with open('/proc/self/mounts') as mounts:
            for line in mounts:
                fields = line.split()
                point = fields[1].replace('\\040', ' ')
                if (real + '/').startswith(point.rstrip('/') + '/') and len(point) >= len(best):
                    best, fstype = point, fields[2]
        free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
        return '%s (%s, %d bytes free)' % (best, fstype, free)
    except OSError:
        return best


def worded(exc, path):
    """A StateError for an OSError met while writing path: the file and, when full, the filesystem."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StateError('no space left writing %s on the filesystem %s' % (path, _describe_filesystem(path)))
    return StateError('%s: %s' % (path, os.strerror(exc.errno) if exc.errno else exc))


class Builder(object):
    """A new generation under construction: files, hash links and sub-directories, then publish()."""

    def __init__(self, state, dir_mode, uid, gid, previous=None, reuse=()):
        self.state, self.dir_mode, self.uid, self.gid = state, dir_mode, uid, gid
        # relpaths known to be the same in the previous generation: hard-linked, not written
        self.previous, self.reuse = previous, frozenset(reuse) if previous else frozenset()
        # Its final owner and mode at once: validating the new generation runs Exim, which reads it
        # as Exim's user (an ACL file named in the configuration). Files are created 0600 and get
        # their mode before their content.
        self.path = os.path.join(state, BUILD_PREFIX + os.urandom(4).hex())
        self._mkdir(self.path)

    def _target(self, relpath):
        return os.path.join(self.path, relpath)

    def _mkdir(self, path):
        os.mkdir(path, 0o700)
        os.chown(path, self.uid, self.gid)
        os.chmod(path, self.dir_mode)

    def mkdir(self, relpath):
        self._mkdir(self._target(relpath))

    def write(self, relpath, wanted):
        """The file, hard-linked from the previous generation when it is the same there."""
        dest = self._target(relpath)
        try:
            if relpath in self.reuse:
                os.link(os.path.join(self.previous, relpath), dest, follow_symlinks=False)
                return
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.fchown(fd, wanted.uid, wanted.gid)
                os.fchmod(fd, wanted.mode)
                view = memoryview(wanted.content)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            raise worded(exc, dest) from None

    def publish(self):
        """The build gets its g-* name, then `current` is switched to it."""
        name = generation_name()
        final = os.path.join(self.state, name)
        os.rename(self.path, final)
        self.path = final
        # Data on disk before the link that names it (a power cut keeps the old generation).
        if hasattr(os, 'sync'):
            os.sync()
        link = os.path.join(self.state, '.%s-%s' % (CURRENT, os.urandom(4).hex()))
        os.symlink(name, link)
        os.rename(link, os.path.join(self.state, CURRENT))
        dirfd = os.open(self.state, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
        return final

    def discard(self):
        if self.path and os.path.lexists(self.path) and os.path.basename(self.path).startswith(BUILD_PREFIX):
            shutil.rmtree(self.path, ignore_errors=True)


def same_file(path, wanted, content=None):
    """Whether path is a regular file (not a link) with exactly wanted's content and attributes;
    content: what the caller already read from path."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or (st.st_uid, st.st_gid) != (wanted.uid, wanted.gid) \
            or stat.S_IMODE(st.st_mode) != wanted.mode or st.st_size != len(wanted.content):
        return False
    if content is not None:
        return content == wanted.content
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, 'rb') as handle:
        return handle.read() == wanted.content


def walk(root):
    """relpath -> lstat result for everything below root (not root itself), links not followed."""
    found, skip = {}, len(root.rstrip('/')) + 1
    for directory, dirs, files in os.walk(root):
        for entry in dirs + files:
            full = directory + '/' + entry
            found[full[skip:]] = os.lstat(full)
    return found
