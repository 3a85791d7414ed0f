#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: client_certs
short_description: Check a list of named client certificates in one pass, resolving each entry once
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Runs on the controller (action plugin). Reads the variable O(var) (a list of C(name),
    C(certificate), C(state) dicts, as C(exim_server_client_certs)) and resolves each entry once;
    a certificate given as C({{ lookup('ansible.builtin.file', 'path') }}) is read the way that
    lookup reads it, without templating it (thousands of lookups cost seconds through Jinja).
  - Checks every entry in one Python pass and reports every problem at once; changes nothing.
options:
  var:
    description: Name of the variable holding the list.
    type: str
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - certrelay.exim.controller_action
  - certrelay.exim.controller_action.read_only
notes:
  - The same result as the P(certrelay.exim.cert_entries#filter) filter on the templated list.
"""

EXAMPLES = r"""
- name: Check the relay's clients
  certrelay.exim.client_certs:
    var: exim_server_client_certs
  register: clients
"""

RETURN = r"""
entries:
  description: The entries, each with its certificate resolved and C(state) defaulted to C(present).
  returned: always
  type: list
  elements: dict
present:
  description: C(name), C(fingerprint) (Exim's form), C(expired), C(not_after), C(subject), C(signs) (key usage keyCertSign) of every present entry that parses.
  returned: always
  type: list
  elements: dict
problems:
  description: Names per kind of problem (invalid_names, duplicate_names, no_certificate, invalid_states, unusable, expired, duplicate_certificates).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(var=dict(type='str', required=True)), supports_check_mode=True)
    module.fail_json(msg='certrelay.exim.client_certs runs on the controller (action plugin)')


if __name__ == '__main__':
    main()
