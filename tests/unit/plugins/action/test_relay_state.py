"""certrelay.exim.relay_state's controller side: a registered client_certs result goes to the
module as one JSON text, unchanged; templates render with the task's variables."""

import json
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.certrelay.exim.plugins.action.relay_state import ActionModule
from tests.lib.action import run_action

ENTRIES = [{'name': 'laptop-a', 'certificate': 'PEM-A', 'state': 'present'},
           {'name': 'laptop-b', 'certificate': None, 'state': 'absent'}]


def sent(args, task_vars):
    """The module arguments the action passes on."""
    with mock.patch.object(ActionModule, '_execute_module', return_value={'changed': False}) as execute:
        run_action(ActionModule, args, task_vars)
    return execute.call_args.kwargs['module_args']


def test_certificates_var_passes_the_checked_entries_as_one_json_text():
    module_args = sent({'state_directory': '/s', 'certificates_var': 'check'}, {'check': {'entries': ENTRIES}})
    assert 'certificates_var' not in module_args and 'certificates' not in module_args
    assert json.loads(module_args['certificates_json']) == ENTRIES


def test_plain_arguments_pass_through_untouched():
    module_args = sent({'state_directory': '/s', 'certificates': ENTRIES, 'config': 'x'}, {})
    assert module_args == {'state_directory': '/s', 'certificates': ENTRIES, 'config': 'x'}


@pytest.mark.parametrize('task_vars, message', [
    ({}, 'must name the registered result of certrelay.exim.validate_tls or certrelay.exim.client_certs'),
    ({'check': {'entries': ENTRIES, 'failed': True}}, 'result of a failed check'),
])
def test_certificates_var_must_name_a_successful_check(task_vars, message):
    with pytest.raises(AnsibleActionFail, match=message):
        sent({'state_directory': '/s', 'certificates_var': 'check'}, task_vars)


@pytest.mark.parametrize('args', [
    {'certificates_var': 'check', 'certificates': ENTRIES},
    {'config_template': 'exim.conf.j2', 'config': 'x'},
    {'acl_template': 'acl.j2', 'acl': 'x'},
])
def test_each_controller_option_excludes_the_option_it_becomes(args):
    with pytest.raises(AnsibleActionFail, match='mutually exclusive'):
        sent(args, {'check': {'entries': ENTRIES}})
