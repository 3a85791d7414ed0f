"""Every plugin is documented for ansible-doc and usable by its FQCN in a real play."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.lib.ansible import REPO, ansible_env, run_playbook
from tests.lib.pki import client_cert

ANSIBLE_DOC = Path(__import__('sys').executable).parent / 'ansible-doc'


def plugins(kind_dir):
    return sorted(p.stem for p in (REPO / 'plugins' / kind_dir).glob('*.py') if p.stem != '__init__')


@pytest.mark.parametrize('doc_type, name', [
    *[('filter', n) for n in plugins('filter')],
    *[('module', n) for n in plugins('modules')],
    *[('role', p.name) for p in sorted((REPO / 'roles').glob('*')) if p.is_dir()],
])
def test_ansible_doc(doc_type, name):
    proc = subprocess.run([str(ANSIBLE_DOC), '-t', doc_type, '--json', f'certrelay.exim.{name}'],
                          check=False, capture_output=True, text=True, env=ansible_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[f'certrelay.exim.{name}']
    if doc_type == 'role':
        assert doc['entry_points']['main']['options'], 'role argument_specs lists no options'
    else:
        assert doc['doc']['short_description']
        assert doc['examples'].strip()
        assert doc['return']


def test_filters_in_a_real_play(tmp_path):
    cred = client_cert('play', kind='ec')
    playbook = tmp_path / 'play.yml'
    playbook.write_text(
        '- hosts: all\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - name: Fingerprint and facts through the FQCNs\n'
        '      ansible.builtin.copy:\n'
        '        dest: "{{ out }}"\n'
        '        mode: "0644"\n'
        '        content: "{{ {\'fp\': pem | certrelay.exim.cert_fingerprint,\n'
        '                     \'list\': [pem, pem] | certrelay.exim.cert_fingerprint(\'sha1\', format=\'colon\'),\n'
        '                     \'cn\': (pem | certrelay.exim.cert_info).common_name} | to_json }}"\n'
        '    - name: A private key is refused by name\n'
        '      ansible.builtin.debug:\n'
        '        msg: "{{ key | certrelay.exim.cert_fingerprint }}"\n'
        '      register: refused\n'
        '      ignore_errors: true\n'
        '    - name: The refusal says why\n'
        '      ansible.builtin.assert:\n'
        '        that: refused is failed and "private key" in refused.msg\n'
    )
    out = tmp_path / 'out.json'
    result = run_playbook(playbook, {'pem': cred.cert_pem, 'key': cred.key_pem, 'out': str(out)})
    assert result.returncode == 0, result.output
    data = json.loads(out.read_text())
    assert data['fp'] == cred.fingerprint
    assert data['cn'] == 'play.example.com'
    assert len(data['list']) == 2 and data['list'][0].count(':') == 19
    assert cred.key_pem.splitlines()[1] not in result.output
