"""Run a module's main() in-process, as Ansible would on the target, and capture its result."""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


def run_module(main, args: dict, check: bool = False) -> dict:
    """The result main() prints for args, as a dict (failures carry 'failed' and 'msg')."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=True, _ansible_remote_tmp='/tmp',
                   _ansible_keep_remote_files=False)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
    basic._ANSIBLE_PROFILE = 'legacy'
    out = []
    original = basic.AnsibleModule._return_formatted

    def capture(self, kwargs):
        # What the module prints: no_log values are masked on the way out, as here.
        out.append(basic.remove_values(kwargs, self.no_log_values))
        original(self, kwargs)

    basic.AnsibleModule._return_formatted = capture
    try:
        with pytest.raises(SystemExit):
            main()
    finally:
        basic.AnsibleModule._return_formatted = original
    return out[-1]
