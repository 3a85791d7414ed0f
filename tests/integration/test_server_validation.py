"""Bad input to certrelay.exim.server fails with a clear message and changes nothing on the host."""

import json
import re
import sys

import pytest

from tests.integration.conftest import client_entry
from tests.lib import pki
from tests.lib.ansible import role_playbook, run_playbook, tree_snapshot


@pytest.fixture(scope='module')
def good(relay_server):
    alice, bob = pki.client_cert('alice'), pki.client_cert('bob', kind='ec')
    relay = relay_server([alice, bob], allowlist='file', start=False)
    return relay, alice, bob


def entry(name, certificate):
    return {'name': name, 'certificate': certificate}


def bad_inputs(alice, bob, server, root):
    """Each case keeps listing the relay's clients (alice, bob): a case that dropped one would
    revoke it, which a failed run still does (tests/integration/test_relay_state.py)."""
    other_server = pki.server_cert('other')
    expired = pki.client_cert('old', expired=True)
    return {
        'garbage certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), entry('mallory', 'hello, I am a cert')]},
            r"client 'mallory' is unusable: .*no PEM certificate"),
        'private key as certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), entry('keyholder', bob.key_pem)]},
            r"client 'keyholder' is unusable: .*private key"),
        'truncated certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), entry('cut', alice.cert_pem[:200])]},
            r"client 'cut' is unusable: .*truncated"),
        'duplicate names': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), entry('alice', bob.cert_pem)]},
            r'names given more than once: alice'),
        'same certificate under two names': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), entry('alice2', alice.cert_pem)]},
            r'same certificate is listed under several names: alice = alice2'),
        'expired certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), client_entry(expired)]},
            r'expired certificates \(set exim_server_allow_expired to accept them\): old'),
        'empty allowlist': (
            {'exim_server_client_certs': [client_entry(alice, 'absent'), client_entry(bob, 'absent')]},
            r'no client certificate is present'),
        'path in a name': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), entry('../evil', alice.cert_pem)]},
            r'invalid names .*\.\./evil'),
        'server key does not match': (
            {'exim_server_tls_privatekey': other_server.key_pem},
            r'exim_server_tls_privatekey does not belong to exim_server_tls_certificate'),
        'server certificate is a key': (
            {'exim_server_tls_certificate': server.key_pem},
            r'exim_server_tls_certificate is unusable: .*private key'),
        'unknown allowlist mode': (
            {'exim_server_allowlist': 'ldap'},
            r'exim_server_allowlist'),
        'certificate file a lookup cannot find': (
            {'exim_server_client_certs': [client_entry(alice),
                                          client_entry(bob),
                                          entry('ghost', "{{ lookup('ansible.builtin.file', 'fleet/ghost.pem') }}")]},
            r"Unable to access the file 'fleet/ghost.pem'"),
        # the base directory (root:Debian-exim 0755) cannot also be the mailbox's (Debian-exim 0750)
        'mailbox in the base directory itself': (
            {'exim_server_deliver_to_file': str(root / 'etc' / 'relayed')},
            rf"Two of the role's directories are one path: {root}/etc is wanted as exim_server_base_directory "
            r"\(root:Debian-exim 0755\) and as the directory of exim_server_deliver_to_file \(Debian-exim:Debian-exim 0750\)"),
        'spool is the state directory': (
            {'exim_server_spool_directory': str(root / 'etc' / 'state') + '/'},
            rf'{root}/etc/state is wanted as exim_server_state_directory \(root:Debian-exim 0750\) '
            r'and as exim_server_spool_directory \(Debian-exim:Debian-exim 0750\)'),
    }


CASES = ['garbage certificate', 'private key as certificate', 'truncated certificate',
         'duplicate names', 'same certificate under two names', 'expired certificate',
         'empty allowlist', 'path in a name', 'server key does not match',
         'server certificate is a key', 'unknown allowlist mode', 'certificate file a lookup cannot find',
         'mailbox in the base directory itself', 'spool is the state directory']


@pytest.fixture(scope='module')
def failed_runs(good):
    """Every bad case as its own inventory host of one ansible-playbook run (fast, in parallel)."""
    relay, alice, bob = good
    cases = bad_inputs(alice, bob, relay.server, relay.root)
    hosts = {}
    for index, case in enumerate(CASES):
        host_vars = relay.variables(**cases[case][0])
        host_vars.update(ansible_connection='local', ansible_python_interpreter=sys.executable)
        hosts[f'case{index}'] = host_vars
    before = tree_snapshot(relay.root)
    inventory = relay.root / 'bad-inputs.json'
    inventory.write_text(json.dumps({'all': {'hosts': hosts}}))
    result = run_playbook(role_playbook(relay.root, 'server'), {}, '--forks', '12', inventory=inventory)
    inventory.unlink()
    after = tree_snapshot(relay.root)
    return result, before, after, cases


@pytest.mark.parametrize('case', CASES)
def test_bad_input_fails_clearly_and_changes_nothing(good, failed_runs, case):
    relay, alice, bob = good
    result, before, after, cases = failed_runs
    message = cases[case][1]
    host = f'case{CASES.index(case)}'
    failures = dict(re.findall(r'^fatal: \[(case\d+)\]: FAILED! => (.*)$', result.output, re.MULTILINE))
    assert host in failures, result.output
    assert re.search(message, failures[host]), failures[host]
    assert result.recap(host).get('changed') == 0
    assert after == before
    # secrets never appear, not even in a failure report
    assert relay.server.key_pem.splitlines()[1] not in result.output
    assert bob.key_pem.splitlines()[1] not in result.output


def test_expired_certificate_accepted_when_allowed(good):
    relay, alice = good[:2]
    expired = pki.client_cert('old', expired=True)
    result = relay.apply(check=True, exim_server_allow_expired=True,
                         exim_server_client_certs=[client_entry(alice), client_entry(expired)])
    assert result.returncode == 0, result.output


def test_config_exim_rejects_never_replaces_the_live_one(good):
    """Input the controller cannot judge is caught by `exim -bV` on the candidate file."""
    relay = good[0]
    before = tree_snapshot(relay.root)
    result = relay.apply(exim_server_primary_hostname='relay.example.com\nno_such_option = 1')
    assert result.returncode != 0, result.output
    assert 'no_such_option' in result.output and 'failed to validate' in result.output
    assert tree_snapshot(relay.root) == before
