"""certrelay.exim.tls_credentials, run in-process on real files."""

import grp
import json
import os

import pytest

from ansible_collections.certrelay.exim.plugins.modules import tls_credentials
from tests.lib.module import run_module
from tests.lib.pki import make_cert, server_cert

GROUP = 'daemon'


@pytest.fixture(scope='module')
def relay():
    return server_cert()


def args(tmp_path, cred, **extra):
    return dict({'certificate': cred.cert_pem, 'certificate_path': str(tmp_path / 'server.crt'),
                 'privatekey': cred.key_pem, 'privatekey_path': str(tmp_path / 'server.key'),
                 'owner': 'root', 'group': GROUP}, **extra)


def mode(path):
    return path.stat().st_mode & 0o7777


def key_body(cred):
    """A line of the key's base64 body: must never appear in a result."""
    return cred.key_pem.splitlines()[2]


def test_writes_both_files_with_their_modes(tmp_path, relay):
    result = run_module(tls_credentials.main, args(tmp_path, relay))
    assert result['changed'] and result['certificate_changed'] and result['privatekey_changed']
    assert result['fingerprint'] == relay.fingerprint
    assert (tmp_path / 'server.crt').read_text() == relay.cert_pem.strip() + '\n'
    assert (tmp_path / 'server.key').read_text() == relay.key_pem.strip() + '\n'
    assert mode(tmp_path / 'server.crt') == 0o644 and mode(tmp_path / 'server.key') == 0o640
    assert grp.getgrgid((tmp_path / 'server.key').stat().st_gid).gr_name == GROUP
    assert key_body(relay) not in json.dumps(result)


def test_second_run_touches_nothing(tmp_path, relay):
    run_module(tls_credentials.main, args(tmp_path, relay))
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    result = run_module(tls_credentials.main, args(tmp_path, relay))
    assert not result['changed'] and not result['certificate_changed'] and not result['privatekey_changed']
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_rotation_replaces_both_and_hides_the_key_in_the_diff(tmp_path, relay):
    run_module(tls_credentials.main, args(tmp_path, relay))
    renewed = server_cert()
    result = run_module(tls_credentials.main, args(tmp_path, renewed))
    assert result['certificate_changed'] and result['privatekey_changed']
    assert (tmp_path / 'server.key').read_text() == renewed.key_pem.strip() + '\n'
    assert 'hidden' in result['diff']['after']
    assert key_body(renewed) not in json.dumps(result) and key_body(relay) not in json.dumps(result)


def test_the_key_has_its_final_mode_before_it_is_renamed_into_place(tmp_path, relay, monkeypatch):
    seen = {}
    rename = os.rename

    def spy(src, dest):
        seen[os.path.basename(dest)] = os.stat(src).st_mode & 0o7777
        rename(src, dest)

    monkeypatch.setattr(os, 'rename', spy)
    run_module(tls_credentials.main, args(tmp_path, relay))
    assert seen == {'server.crt': 0o644, 'server.key': 0o640}


def test_mode_drift_is_fixed_without_rewriting(tmp_path, relay):
    run_module(tls_credentials.main, args(tmp_path, relay))
    (tmp_path / 'server.key').chmod(0o644)
    result = run_module(tls_credentials.main, args(tmp_path, relay))
    assert result['privatekey_changed'] and not result['certificate_changed']
    assert mode(tmp_path / 'server.key') == 0o640


def test_check_mode_reports_and_writes_nothing(tmp_path, relay):
    result = run_module(tls_credentials.main, args(tmp_path / 'missing', relay), check=True)
    assert result['changed'] and result['certificate_changed'] and result['privatekey_changed']
    assert not (tmp_path / 'missing').exists()


@pytest.mark.parametrize('field, value, message', [
    ('certificate', 'not a certificate', 'contains no PEM certificate'),
    ('certificate', 'KEY', 'holds a private key'),
    ('privatekey', 'CERT', 'exactly one PEM private key'),
    ('privatekey', '', 'empty'),
    ('privatekey', 'ENCRYPTED', 'encrypted'),
    ('privatekey_mode', '0644', 'at most 0640'),
    ('privatekey_mode', '0660', 'at most 0640'),
    ('privatekey_mode', '0740', 'at most 0640'),
    ('privatekey_mode', '2640', 'at most 0640'),
    ('privatekey_mode', 640, 'at most 0640'),  # unquoted YAML 640 is decimal: 0o1200
    ('privatekey_mode', 'u=rw,g=r', 'at most 0640'),
])
def test_bad_input_fails_before_writing_and_never_quotes_the_key(tmp_path, relay, field, value, message):
    value = {'KEY': relay.key_pem, 'CERT': relay.cert_pem,
             'ENCRYPTED': '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n'
             }.get(value, value)
    result = run_module(tls_credentials.main, args(tmp_path, relay, **{field: value}))
    assert result['failed'] and message in result['msg']
    assert key_body(relay) not in json.dumps(result)
    assert list(tmp_path.iterdir()) == []


def test_another_key_given_as_the_certificate_is_not_echoed(tmp_path, relay):
    other = server_cert()
    result = run_module(tls_credentials.main, args(tmp_path, relay, certificate=other.key_pem))
    assert result['failed'] and 'holds a private key' in result['msg']
    assert key_body(other) not in json.dumps(result)


def test_missing_directory_is_an_error_outside_check_mode(tmp_path, relay):
    result = run_module(tls_credentials.main, args(tmp_path / 'missing', relay))
    assert result['failed'] and 'does not exist' in result['msg']


def test_a_chain_is_written_as_given(tmp_path):
    ca = make_cert('ca')
    leaf = make_cert('relay.example.com', issuer=ca)
    result = run_module(tls_credentials.main, args(tmp_path, leaf, certificate=leaf.cert_pem + ca.cert_pem))
    assert result['fingerprint'] == leaf.fingerprint
    assert (tmp_path / 'server.crt').read_text() == (leaf.cert_pem + ca.cert_pem).strip() + '\n'


@pytest.mark.parametrize('key_mode', ['0600', '0440', '0400'])
def test_stricter_key_modes_are_accepted(tmp_path, relay, key_mode):
    result = run_module(tls_credentials.main, args(tmp_path, relay, privatekey_mode=key_mode))
    assert result['changed'] and mode(tmp_path / 'server.key') == int(key_mode, 8)


def test_check_mode_reports_attribute_drift_and_changes_nothing(tmp_path, relay):
    run_module(tls_credentials.main, args(tmp_path, relay))
    (tmp_path / 'server.crt').chmod(0o600)
    result = run_module(tls_credentials.main, args(tmp_path, relay), check=True)
    assert result['changed'] and result['certificate_changed'] and not result['privatekey_changed']
    assert mode(tmp_path / 'server.crt') == 0o600


def test_certificate_group_and_kept_attributes(tmp_path, relay):
    run_module(tls_credentials.main, args(tmp_path, relay, certificate_group='root'))
    assert (tmp_path / 'server.crt').group() == 'root' and (tmp_path / 'server.key').group() == GROUP
    # Without owner and group, a rewritten key keeps its group (Exim must still read it).
    renewed = server_cert()
    result = run_module(tls_credentials.main, dict(args(tmp_path, renewed), owner=None, group=None))
    assert result['privatekey_changed'] and (tmp_path / 'server.key').group() == GROUP
    assert mode(tmp_path / 'server.key') == 0o640


def test_a_directory_in_place_of_a_file_is_refused(tmp_path, relay):
    (tmp_path / 'server.key').mkdir()
    result = run_module(tls_credentials.main, args(tmp_path, relay))
    assert result['failed'] and 'is a directory' in result['msg']
    assert not (tmp_path / 'server.crt').exists()


def test_a_failure_before_the_renames_leaves_the_old_pair(tmp_path, relay, monkeypatch):
    run_module(tls_credentials.main, args(tmp_path, relay))
    renewed = server_cert()

    def refuse(src, dest):
        raise PermissionError('read-only file system')

    monkeypatch.setattr(os, 'rename', refuse)
    result = run_module(tls_credentials.main, args(tmp_path, renewed))
    assert result['failed'] and 'read-only' in result['msg']
    assert (tmp_path / 'server.crt').read_text() == relay.cert_pem.strip() + '\n'
    assert (tmp_path / 'server.key').read_text() == relay.key_pem.strip() + '\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['server.crt', 'server.key']
