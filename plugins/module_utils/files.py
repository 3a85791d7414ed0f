# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""File helpers shared by the collection's modules: compare before writing, write atomically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import stat
import tempfile

# Temporary files start with this so a module scanning a directory can tell them from content.
TEMP_PREFIX = '.certrelay-'


def file_args(owner=None, group=None, mode=None):
    """The dict AnsibleModule.set_fs_attributes_if_different expects, without SELinux or attributes."""
    return dict(owner=owner, group=group, mode=mode, seuser=None, serole=None, setype=None,
                selevel=None, secontext=None, attributes=None)


def read_bytes(path):
    """The file's content, or None when it cannot be read (missing, a directory, no permission)."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError:
        return None


def attributes_differ(module, path, args):
    """Whether owner, group or mode of an existing path differ from args; changes nothing."""
    # set_fs_attributes_if_different only reports in check mode.
    saved = module.check_mode
    module.check_mode = True
    try:
        return module.set_fs_attributes_if_different(dict(args, path=path), False)
    finally:
        module.check_mode = saved


def differences(module, path, content, args):
    """(content differs, attributes differ) of path against what it should be; changes nothing.

    Attributes are only compared when the content is equal: a rewrite sets them anyway.
    """
    if read_bytes(path) != content:
        return True, False
    return False, attributes_differ(module, path, args)


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return 'uid %d' % uid


def _component_problem(path, st, last):
    """Why another user than root could replace what lies below path, or None."""
    if st.st_uid != 0:
        return '%s belongs to %s, not root' % (path, _owner(st.st_uid))
    mode = stat.S_IMODE(st.st_mode)
    writable = mode & stat.S_IWOTH or (mode & stat.S_IWGRP and st.st_gid != 0)
    if writable and (last or not mode & stat.S_ISVTX):
        return '%s is writable by %s (mode %04o)' % (path, 'others' if mode & stat.S_IWOTH else 'its group', mode)
    return None


def unsafe_directory(path):
    """Why path (a directory, existing or to be made) is not one only root controls, or None.

    Every component of its real path must be root's and writable by root only (group root may
    write); a sticky, world-writable parent such as /tmp is fine when the next component is
    root's, since then nobody else can rename it. Checked for the path as given and for the real
    path of each of its prefixes, so a symbolic link into a directory someone else controls is
    refused as well.
    """
    path = os.path.abspath(path)
    prefixes = [path]
    while prefixes[-1] != os.path.dirname(prefixes[-1]):
        prefixes.append(os.path.dirname(prefixes[-1]))
    existing = [prefix for prefix in prefixes if os.path.exists(prefix)]
    checked = set()
    # The deepest existing prefix, and the directory holding each symbolic link on the way (whoever
    # may write there may replace the link).
    for prefix in existing[:1] + [os.path.dirname(p) for p in existing if os.path.islink(p)]:
        real = os.path.realpath(prefix)
        chain = [real]
        while chain[-1] != os.path.dirname(chain[-1]):
            chain.append(os.path.dirname(chain[-1]))
        chain.reverse()
        for index, component in enumerate(chain):
            if component in checked:
                continue
            checked.add(component)
            # A sticky parent is fine because the next component must be root's too.
            problem = _component_problem(component, os.stat(component), index == len(chain) - 1)
            if problem:
                return problem
    return None


def settle(module, tmp, dest, args):
    """Give tmp the attributes dest must have, before it is renamed onto dest.

    Attributes not in args are those of the file being replaced (as a copy would keep them), or
    for a new file 0644 minus the umask and the module's user; SELinux gets dest's context or the
    policy's default for dest. Nobody can read tmp in between: mkstemp made it 0600.
    """
    # A symbolic link at dest is replaced by the rename, never followed: its target's attributes
    # are no model for the new file.
    replacing = os.path.lexists(dest) and not os.path.islink(dest)
    if replacing:
        current = os.lstat(dest)
        os.chown(tmp, current.st_uid, current.st_gid)
        os.chmod(tmp, current.st_mode & 0o7777)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o644 & ~umask)
    if module.selinux_enabled():
        context = module.selinux_context(dest) if replacing else module.selinux_default_context(dest)
        module.set_context_if_different(tmp, context, False)
    module.set_fs_attributes_if_different(dict(args, path=tmp), False)


def prepare(module, dest, content, args):
    """A temporary file beside dest with content and dest's final attributes; commit() it.

    The content goes through the descriptor mkstemp opened (O_EXCL, mode 0600): never through a
    name someone could have replaced in between.
    """
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content)
        settle(module, tmp, dest, args)
    except BaseException:
        discard(tmp)
        raise
    return tmp


def commit(tmp, dest):
    os.rename(tmp, dest)


def discard(tmp):
    if tmp and os.path.lexists(tmp):
        os.unlink(tmp)


def write_atomic(module, dest, content, args):
    """Replace dest with content in one rename; readers see the old file or the new one, never a mix
    and never the new content with the wrong permissions."""
    commit(prepare(module, dest, content, args), dest)


def _mode_key(mode):
    if isinstance(mode, int):
        return '%04o' % mode
    if isinstance(mode, str) and mode.isdigit():
        return '%04o' % int(mode, 8)
    return mode


def directory_conflicts(entries):
    """Messages for each path listed more than once with a different owner, group or mode.

    Two wishes for one directory cannot both hold: applying them in turn changes it on every run
    and leaves whichever came last. Entries may carry a label (what the directory is for) to name.
    """
    seen = {}
    for entry in entries:
        path = entry.get('path')
        if not isinstance(path, str) or not path:
            continue
        want = (entry.get('owner'), entry.get('group'), _mode_key(entry.get('mode')))
        seen.setdefault(os.path.normpath(path), []).append((want, entry.get('label') or path))
    messages = []
    for path, wishes in seen.items():
        # an attribute left out ("unchanged") agrees with any value given for it
        if any(len(set(want[i] for want, _label in wishes) - {None}) > 1 for i in range(3)):
            messages.append('%s is wanted as %s' % (path, ' and as '.join(
                '%s (%s:%s %s)' % (label, want[0] or '-', want[1] or '-', want[2] or '-') for want, label in wishes)))
    return messages
