"""Bad input to certrelay.exim.server fails with a clear message and changes nothing on the host."""

import json
import re
import shutil
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration.conftest import client_entry
from tests.lib import pki
from tests.lib.ansible import role_playbook, run_playbook, tree_snapshot


@pytest.fixture(scope='module')
def good(relay_server):
    alice, bob = pki.client_cert('alice'), pki.client_cert('bob', kind='ec')
    relay = relay_server([alice, bob], allowlist='file', start=False)
    return relay, alice, bob


FUTURE_SERVER = pki.server_cert('future-relay', future=True)


def public_pem(credential):
    return credential.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def entry(name, certificate):
    return {'name': name, 'certificate': certificate}


def bad_inputs(alice, bob, server, root):
    """Each case keeps listing the relay's clients (alice, bob): a case that dropped one would
    revoke it, which a failed run still does (tests/integration/test_relay_state.py)."""
    other_server = pki.server_cert('other')
    expired = pki.client_cert('old', expired=True)
    rsa1024 = pki.client_cert('short', bits=1024)
    sha1 = pki.client_cert('sha1', digest='sha1')
    future = pki.client_cert('future', future=True)
    weak_server = pki.server_cert('weak-relay', bits=1024)
    return {
        'RSA-1024 client certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), client_entry(rsa1024)]},
            r"the certificate of client 'short' is weak: RSA key of 1024 bits .*exim_server_allow_weak"),
        'SHA-1 client certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), client_entry(sha1)]},
            r"the certificate of client 'sha1' is weak: signed with SHA-1"),
        'not yet valid client certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), client_entry(future)]},
            r'certificates not valid yet \(Exim would refuse them\): future'),
        'bundle as one client certificate': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob),
                                          entry('two', alice.cert_pem + expired.cert_pem)]},
            r"client 'two' is unusable: it holds 2 certificates"),
        'name with a trailing newline': (
            {'exim_server_client_certs': [client_entry(alice), client_entry(bob), entry('alice\n', expired.cert_pem)]},
            r'invalid names'),
        'certificate and key as the server key': (
            {'exim_server_tls_privatekey': server.cert_pem + server.key_pem},
            r'exim_server_tls_privatekey holds a certificate as well as a key'),
        'public key as the server key': (
            {'exim_server_tls_privatekey': public_pem(server)},
            r'exim_server_tls_privatekey is not an unencrypted PEM private key'),
        'key of another type as the server key': (
            {'exim_server_tls_privatekey': pki.client_cert('ec', kind='ec').key_pem},
            r'exim_server_tls_privatekey does not belong to exim_server_tls_certificate'),
        'weak server certificate': (
            {'exim_server_tls_certificate': weak_server.cert_pem, 'exim_server_tls_privatekey': weak_server.key_pem},
            r'exim_server_tls_certificate \(CN=relay.example.com\) is weak: RSA key of 1024 bits'),
        'not yet valid server certificate': (
            {'exim_server_tls_certificate': FUTURE_SERVER.cert_pem, 'exim_server_tls_privatekey': FUTURE_SERVER.key_pem},
            r'exim_server_tls_certificate \(CN=relay.example.com\) is not valid now'),
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
        'port with STARTTLS and implicit TLS': (
            {'exim_server_ports': [25, 465], 'exim_server_tls_on_connect_ports': [465]},
            r'no port may be in both\s+lists'),
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


CASES = ['RSA-1024 client certificate', 'SHA-1 client certificate', 'not yet valid client certificate',
         'bundle as one client certificate', 'name with a trailing newline',
         'certificate and key as the server key', 'public key as the server key',
         'key of another type as the server key', 'weak server certificate', 'not yet valid server certificate',
         'garbage certificate', 'private key as certificate', 'truncated certificate',
         'duplicate names', 'same certificate under two names', 'expired certificate',
         'empty allowlist', 'path in a name', 'server key does not match',
         'server certificate is a key', 'unknown allowlist mode', 'port with STARTTLS and implicit TLS',
         'certificate file a lookup cannot find',
         'mailbox in the base directory itself', 'spool is the state directory']


def run_cases(relay, cases, *args, check=False, diff=False):
    """Every bad case as its own inventory host of one ansible-playbook run (fast, in parallel)."""
    hosts = {}
    for index, case in enumerate(CASES):
        host_vars = relay.variables(**cases[case][0])
        host_vars.update(ansible_connection='local', ansible_python_interpreter=sys.executable)
        hosts[f'case{index}'] = host_vars
    inventory = relay.root / 'bad-inputs.json'
    inventory.write_text(json.dumps({'all': {'hosts': hosts}}))
    result = run_playbook(role_playbook(relay.root, 'server'), {}, '--forks', '12', *args, inventory=inventory,
                          check=check, diff=diff)
    inventory.unlink()
    return result


def key_lines(cases):
    """Every base64 line of every private key the cases hold (wherever the key was given)."""
    lines = set()
    for overrides, _message in cases.values():
        for text in re.findall(r'-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END', json.dumps(overrides), re.DOTALL):
            lines.update(line for line in text.split('\\n') if len(line) > 20)
    return lines


@pytest.fixture(scope='module')
def failed_runs(good):
    relay, alice, bob = good
    cases = bad_inputs(alice, bob, relay.server, relay.root)
    before = tree_snapshot(relay.root)
    result = run_cases(relay, cases)
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


@pytest.mark.parametrize('mode', ['run', 'check and diff'])
def test_no_key_material_in_the_output_of_refusals_at_vvv(good, failed_runs, mode):
    """Keys given in the wrong places (as a client certificate, with a certificate, as the relay's
    key) never reach the output, even at -vvv, in check mode and with --diff."""
    relay = good[0]
    cases = failed_runs[3]
    before = tree_snapshot(relay.root)
    result = run_cases(relay, cases, '-vvv', check=mode != 'run', diff=mode != 'run')
    assert tree_snapshot(relay.root) == before
    assert result.returncode != 0 and 'FAILED!' in result.output
    secrets = key_lines(cases) | {line for line in relay.server.key_pem.splitlines() if len(line) > 20}
    assert len(secrets) > 50
    leaked = [line for line in secrets if line in result.output]
    assert not leaked, leaked[:3]


@pytest.mark.parametrize('mode', ['run', 'check and diff'])
def test_no_key_material_in_the_output_of_a_key_change_at_vvv(relay_server, mode):
    """A successful run that installs a new relay key prints no line of the old or the new key,
    even at -vvv, in check mode and with --diff."""
    alice = pki.client_cert('alice-vvv')
    relay = relay_server([alice], allowlist='file', start=False)
    new_server = pki.server_cert('relay-vvv')
    checking = mode != 'run'
    result = run_playbook(role_playbook(relay.root, 'server'),
                          relay.variables(exim_server_tls_certificate=new_server.cert_pem,
                                          exim_server_tls_privatekey=new_server.key_pem),
                          '-vvv', check=checking, diff=checking)
    assert result.returncode == 0, result.output[-3000:]
    assert re.search(r'changed=[1-9]', result.output) and '"invocation"' in result.output
    secrets = {line for cred in (relay.server, new_server, alice) for line in cred.key_pem.splitlines()
               if len(line) > 20}
    assert len(secrets) > 30
    leaked = [line for line in secrets if line in result.output]
    assert not leaked, leaked[:3]


def test_weak_certificates_accepted_when_allowed(good):
    relay, alice = good[:2]
    weak = pki.client_cert('short', bits=1024)
    result = relay.apply(check=True, exim_server_allow_weak=True,
                         exim_server_client_certs=[client_entry(alice), client_entry(weak)])
    assert result.returncode == 0, result.output


@pytest.mark.parametrize('kind', ['link into a directory of another user', 'below a world-writable directory'])
def test_base_directory_another_user_controls_is_refused_with_the_host_unchanged(good, kind, tmp_path):
    """Whoever controls a directory on the base directory's real path could later swap in a trust
    directory and allowlist of their own: refused before anything changes, never repaired."""
    relay = good[0]
    mallory = relay.root / 'mallory'
    mallory.mkdir()
    if kind.startswith('link'):
        shutil.chown(mallory, 65534, 65534)
        base = relay.root / 'linked-etc'
        base.symlink_to(mallory)
        expected = f'{mallory} belongs to nobody, not root'
    else:
        mallory.chmod(0o777)
        base = mallory / 'etc'
        expected = f'{mallory} is writable by others (mode 0777)'
    try:
        before = tree_snapshot(relay.root)
        result = relay.apply(exim_server_base_directory=str(base))
        assert result.returncode != 0
        assert f'refusing {base}: {expected}' in result.output, result.output[-3000:]
        assert result.recap().get('changed') == 0
        assert tree_snapshot(relay.root) == before
    finally:
        if base.is_symlink():
            base.unlink()
        shutil.rmtree(mallory)
