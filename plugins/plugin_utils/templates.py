# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a role template inside an action plugin, with the task's own templar.

The ``template`` lookup copies every task variable for each call; at fleet scale (thousands of
client entries among the variables) that copy alone costs close to a second. The search path is
the one ``ansible.builtin.template`` uses, so includes resolve beside the template.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.template import trust_as_template


def render_template(action, source, task_vars):
    """The text of template `source` (found in the role's templates/ first) rendered with task_vars."""
    try:
        path = action._find_needle('templates', source)
        text = action._loader.get_text_file_contents(path)
    except AnsibleError as exc:
        raise AnsibleActionFail(to_text(exc)) from None
    searchpath = []
    for directory in list(task_vars.get('ansible_search_path', [])) + [action._loader.get_basedir()]:
        searchpath.extend([directory + '/templates', directory])
    searchpath.append(path.rpartition('/')[0])
    variables = dict(task_vars)
    variables.setdefault('ansible_managed', C.config.get_config_value('DEFAULT_MANAGED_STR'))
    templar = action._templar.copy_with_new_env(searchpath=searchpath, available_variables=variables)
    rendered = templar.template(trust_as_template(text), escape_backslashes=False)
    return '' if rendered is None else to_text(rendered)


def render_options(action, args, pairs, task_vars):
    """args with each controller option of pairs ((template option, option it becomes), ...) rendered."""
    args = dict(args)
    for option, target in pairs:
        source = args.pop(option, None)
        if source is None:
            continue
        if args.get(target) is not None:
            raise AnsibleActionFail('%s and %s are mutually exclusive' % (option, target))
        args[target] = render_template(action, source, task_vars)
    return args
