#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: directories
short_description: Ensure several directories with their owner, group and mode, in one round trip
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Creates each listed directory when it is missing (missing parents are created with mode
    C(0755), owned by the user the module runs as) and sets its owner, group and mode when they
    differ.
  - One module call for the whole list, where a loop over M(ansible.builtin.file) costs one round
    trip per directory; the roles of this collection use it for their fixed set of directories.
  - Never removes anything.
options:
  directories:
    description: The directories, handled in the order given.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      owner:
        description: Owner (name or uid); unchanged when not given.
        type: str
      group:
        description: Group (name or gid); unchanged when not given.
        type: str
      mode:
        description: Mode, octal string such as C('0750') or symbolic; unchanged when not given.
        type: raw
      label:
        description: What the directory is for (a variable name, say), named in error messages only.
        type: str
      secure:
        description:
          - The directory holds what Exim trusts or key material. Refused, before anything is created
            or changed, when a component of its real path (or of the path as given) belongs to
            another user than root or is writable by another user (a sticky parent such as
            C(/tmp) is fine when the next component is root's); it is not repaired, since whoever
            could write there may have planted files or links in it.
        type: bool
        default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - certrelay.exim.attributes
notes:
  - A path that exists and is not a directory (or a symbolic link to one) is an error, reported
    before anything is created or changed.
  - So is a path listed twice with a different owner, group or mode (it would change on every run
    and end as the last entry says); the same path listed twice alike is handled once.
seealso:
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Create the relay's directories
  certrelay.exim.directories:
    directories:
      - {path: /etc/exim4/certrelay, owner: root, group: Debian-exim, mode: "0755"}
      - {path: /etc/exim4/certrelay/tls, owner: root, group: Debian-exim, mode: "0750"}
      - {path: /var/spool/exim-certrelay, owner: Debian-exim, group: Debian-exim, mode: "0750"}
"""

RETURN = r"""
created:
  description: Directories that did not exist (in check mode, that would be created).
  returned: always
  type: list
  elements: str
  sample: [/var/spool/exim-certrelay]
updated:
  description: Existing directories whose owner, group or mode was (or would be) changed.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.module_utils.files import (
    attributes_differ,
    directory_conflicts,
    file_args,
    unsafe_directory,
)


def make_directory(path):
    """mkdir -p with parents 0755 whatever the umask (a umask of 077 would hide them from Exim)."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory)
        os.chmod(directory, 0o755)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='path', required=True),
                owner=dict(type='str'),
                group=dict(type='str'),
                mode=dict(type='raw'),
                label=dict(type='str'),
                secure=dict(type='bool', default=False),
            )),
        ),
        supports_check_mode=True,
    )
    entries = module.params['directories']
    conflicts = directory_conflicts(entries)
    if conflicts:
        module.fail_json(msg='directories: one directory cannot have two owners or modes: %s' % '; '.join(conflicts))
    for entry in entries:
        path = entry['path']
        if not os.path.isabs(path):
            module.fail_json(msg='directories: %s is not an absolute path' % path)
        if os.path.lexists(path) and not os.path.isdir(path):
            module.fail_json(msg='directories: %s exists and is not a directory' % path)
        problem = unsafe_directory(path) if entry['secure'] else None
        if problem:
            module.fail_json(msg='directories: refusing %s: %s, so another user could replace what is kept '
                                 'there; make every directory on its path root\'s and writable by root only'
                                 % (path, problem))

    # One entry per path: the checks above made sure repeated entries agree, so merge what they give.
    merged = {}
    for entry in entries:
        into = merged.setdefault(os.path.normpath(entry['path']), dict(entry))
        for key in ('owner', 'group', 'mode'):
            if into[key] is None:
                into[key] = entry[key]

    created, updated = [], []
    for entry in merged.values():
        path = entry['path']
        # A symbolic link to a directory stands for that directory (as with ansible.builtin.file).
        target = os.path.realpath(path)
        args = file_args(entry['owner'], entry['group'], entry['mode'])
        try:
            if not os.path.isdir(target):
                created.append(path)
                if not module.check_mode:
                    make_directory(target)
                    module.set_fs_attributes_if_different(dict(args, path=target), False)
            elif attributes_differ(module, target, args):
                updated.append(path)
                if not module.check_mode:
                    module.set_fs_attributes_if_different(dict(args, path=target), False)
        except OSError as exc:
            module.fail_json(msg='directories: %s: %s' % (path, to_native(exc)), created=created, updated=updated)

    result = dict(changed=bool(created or updated), created=created, updated=updated)
    if result['changed']:
        result['diff'] = dict(before=''.join('%s/ (attributes)\n' % p for p in updated),
                              after=''.join('%s/ (created)\n' % p for p in created)
                              + ''.join('%s/ (attributes)\n' % p for p in updated))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
