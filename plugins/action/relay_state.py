# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of certrelay.exim.relay_state: resolve the large inputs, then run the module.

A relay with thousands of clients gives the module thousands of certificates. As an ordinary task
argument (``certificates: "{{ check.entries }}"``) the list is templated once more before the
module runs, and a configuration given as ``lookup('template', ...)`` makes the lookup copy every
task variable, the whole client list included: together about two seconds per 10,000 clients.
``certificates_var`` names the registered result of certrelay.exim.validate_tls or client_certs
instead, read as it is; ``config_template`` and ``acl_template`` are rendered here with the task's own templar.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.certrelay.exim.plugins.plugin_utils.templates import render_options

# Each controller-side option and the module option it becomes.
RENDERED = (('config_template', 'config'), ('acl_template', 'acl'), ('data_acl_template', 'data_acl'),
            ('cert_acl_template', 'cert_acl'))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        name = args.pop('certificates_var', None)
        if name is not None:
            if 'certificates' in args or 'certificates_json' in args:
                raise AnsibleActionFail('relay_state: certificates_var is mutually exclusive with certificates and certificates_json')
            # One string: thousands of option dicts cost seconds to encode, decode and validate.
            args['certificates_json'] = json.dumps([dict(name=item.get('name'), state=item.get('state'),
                                                         certificate=item.get('certificate'))
                                                    for item in self._checked_entries(name, task_vars)])
        args = render_options(self, args, RENDERED, task_vars)
        result.update(self._execute_module(module_name='certrelay.exim.relay_state', module_args=args,
                                           task_vars=task_vars))
        return result

    @staticmethod
    def _checked_entries(name, task_vars):
        check = task_vars.get(name)
        if not isinstance(check, dict) or not isinstance(check.get('entries'), list):
            raise AnsibleActionFail('relay_state: certificates_var must name the registered result of '
                                    'certrelay.exim.validate_tls or certrelay.exim.client_certs (%s has no list of entries)' % name)
        if check.get('failed'):
            raise AnsibleActionFail('relay_state: %s is the result of a failed check' % name)
        return check['entries']
