# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of certrelay.exim.exim_config: render the role's templates, then run the module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.certrelay.exim.plugins.plugin_utils.templates import render_options

RENDERED = (('content_template', 'content'), ('update_conf_template', 'update_conf'),
            ('macros_template', 'macros'))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = render_options(self, self._task.args, RENDERED, task_vars)
        result.update(self._execute_module(module_name='certrelay.exim.exim_config', module_args=args,
                                           task_vars=task_vars))
        return result
