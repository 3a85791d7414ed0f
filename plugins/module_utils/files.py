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


def write_atomic(module, dest, content, args):
    """Write content to dest through a temporary file in the same directory and a rename.

    The temporary file gets its owner, group and mode before the rename, so a reader never sees
    dest with the content but the wrong permissions (a private key readable by everyone).
    """
    directory = os.path.dirname(dest)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content)
        module.set_fs_attributes_if_different(dict(args, path=tmp), False)
        os.rename(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
