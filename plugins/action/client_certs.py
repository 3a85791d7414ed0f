# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve and check a list of named client certificates in one pass on the controller.

The variable is read by name from the task's raw variables, not templated as a whole: each entry
is resolved once (plugin_utils/resolve.py, which the roles' certrelay.exim.validate_tls shares).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.certrelay.exim.plugins.plugin_utils.entry_check import check_entries
from ansible_collections.certrelay.exim.plugins.plugin_utils.resolve import Resolver


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        name = self._task.args.get('var')
        if not name or not isinstance(name, str):
            raise AnsibleActionFail('client_certs: var (the name of the variable to check) is required')
        raw = Resolver(self._templar, self._loader, task_vars).variable(name, [])
        if not isinstance(raw, (list, tuple)):
            raise AnsibleActionFail('%s must be a list of {name, certificate, state} dicts' % name)
        # Returned as the task result (the role registers it), not as ansible_facts: facts of any
        # action but set_fact go to the fact cache, which is copied for every later task.
        result.update(check_entries(raw))
        result['changed'] = False
        return result
