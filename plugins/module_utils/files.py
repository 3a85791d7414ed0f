# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""File helpers shared by the collection's modules: compare before writing, write atomically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
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


def temp_path(dest):
    """A fresh name in dest's directory (same file system, so a rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=os.path.dirname(dest))
    os.close(fd)
    return tmp


def settle(module, tmp, dest, args):
    """Give tmp the attributes dest must have, before it is renamed onto dest.

    Attributes not in args are those of the file being replaced (as a copy would keep them), or
    for a new file 0644 minus the umask and the module's user; SELinux gets dest's context or the
    policy's default for dest. Nobody can read tmp in between: mkstemp made it 0600.
    """
    replacing = os.path.lexists(dest)
    if replacing:
        current = os.stat(dest)
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
    """A temporary file beside dest with content and dest's final attributes; commit() it."""
    tmp = temp_path(dest)
    try:
        with open(tmp, 'wb') as handle:
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
