# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: directory_conflicts
short_description: The paths a directory list wants with two different owners, groups or modes
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Takes a list in the form M(certrelay.exim.directories) takes and names every path (normalised,
    so C(/a/b/) and C(/a/b) are one) that is listed more than once with a different owner, group or
    mode. Such a list cannot converge - each run changes the directory back and forth - so the roles
    refuse it on the controller, before anything on the host changes.
  - The same check runs in M(certrelay.exim.directories) itself.
options:
  _input:
    description: Directory entries, dicts with C(path) and optional C(owner), C(group), C(mode) and C(label).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse a mailbox in the base directory
  ansible.builtin.assert:
    that: dirs | certrelay.exim.directory_conflicts | length == 0
    fail_msg: "{{ dirs | certrelay.exim.directory_conflicts | join('; ') }}"
  vars:
    dirs:
      - {path: /etc/exim4/certrelay, owner: root, group: Debian-exim, mode: "0755", label: base directory}
      - {path: /etc/exim4/certrelay, owner: Debian-exim, group: Debian-exim, mode: "0750", label: mailbox directory}
"""

RETURN = r"""
_value:
  description: One message per conflicting path, naming each entry's label (or path), owner, group and mode; empty when there is none.
  type: list
  elements: str
  sample:
    - "/etc/exim4/certrelay is wanted as base directory (root:Debian-exim 0755) and as mailbox directory (Debian-exim:Debian-exim 0750)"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.module_utils.files import directory_conflicts as _conflicts


def directory_conflicts(entries):
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise AnsibleFilterError('directory_conflicts: the input must be a list of dicts with a path')
    return _conflicts(entries)


class FilterModule(object):
    def filters(self):
        return {'directory_conflicts': directory_conflicts}
