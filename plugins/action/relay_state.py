# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of certrelay.exim.relay_state: resolve the large inputs, then run the module.

A relay with thousands of clients gives the module thousands of certificates. As an ordinary task
argument (``certificates: "{{ check.entries }}"``) the list is templated once more before the
module runs, and a configuration given as ``lookup('template', ...)`` makes the lookup copy every
task variable, the whole client list included: together about two seconds per 10,000 clients.
``certificates_var`` names the registered result of certrelay.exim.client_certs instead, read as it
is; ``config_template`` and ``acl_template`` are rendered here with the task's own templar.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

# Each controller-side option and the module option it becomes.
RENDERED = (('config_template', 'config'), ('acl_template', 'acl'))


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
        for option, target in RENDERED:
            source = args.pop(option, None)
            if source is None:
                continue
            if target in args:
                raise AnsibleActionFail('relay_state: %s and %s are mutually exclusive' % (option, target))
            args[target] = self._render(source, task_vars)
        result.update(self._execute_module(module_name='certrelay.exim.relay_state', module_args=args,
                                           task_vars=task_vars))
        return result

    @staticmethod
    def _checked_entries(name, task_vars):
        check = task_vars.get(name)
        if not isinstance(check, dict) or not isinstance(check.get('entries'), list):
            raise AnsibleActionFail('relay_state: certificates_var must name the registered result of '
                                    'certrelay.exim.client_certs (%s has no list of entries)' % name)
        if check.get('failed'):
            raise AnsibleActionFail('relay_state: %s is the result of a failed check' % name)
        return check['entries']

    def _render(self, source, task_vars):
        try:
            path = self._find_needle('templates', source)
            text = self._loader.get_text_file_contents(path)
        except AnsibleError as exc:
            raise AnsibleActionFail(to_text(exc)) from None
        # The search path of the template action: includes resolve beside the template.
        searchpath = []
        for directory in list(task_vars.get('ansible_search_path', [])) + [self._loader.get_basedir()]:
            searchpath.extend([directory + '/templates', directory])
        searchpath.append(path.rpartition('/')[0])
        variables = dict(task_vars)
        variables.setdefault('ansible_managed', C.config.get_config_value('DEFAULT_MANAGED_STR'))
        templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=variables)
        rendered = templar.template(trust_as_template(text), escape_backslashes=False)
        return '' if rendered is None else to_text(rendered)
