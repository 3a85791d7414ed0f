#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: exim_check
short_description: Check an Exim relay configuration with exim -bV and an ACL probe
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Runs C(exim -C <path> -bV) (syntax, options, ACL verbs) and a fake SMTP session (C(-bh)) from a
    TEST-NET address without TLS, whose RCPT for a foreign domain must be refused with
    C(550 relay not permitted); that catches ACL expansion errors C(-bV) cannot see.
  - Changes nothing; the same check M(certrelay.exim.relay_state) applies to a new generation.
options:
  path:
    description: The configuration file to check.
    type: path
    required: true
  exim:
    description: The Exim binary.
    type: path
    default: exim
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - certrelay.exim.attributes
"""

EXAMPLES = r"""
- name: Check the candidate configuration
  certrelay.exim.exim_check:
    path: /tmp/exim4.conf.candidate
    exim: /usr/sbin/exim4
"""

RETURN = r"""
checked:
  description: The configuration file that passed both checks.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certrelay.exim.plugins.module_utils.exim import validate_config


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type='path', required=True), exim=dict(type='path', default='exim')),
        supports_check_mode=True,
    )
    problem = validate_config(module, module.params['exim'], module.params['path'])
    if problem:
        module.fail_json(msg='%s does not validate: %s' % (module.params['path'], problem))
    module.exit_json(changed=False, checked=module.params['path'])


if __name__ == '__main__':
    main()
