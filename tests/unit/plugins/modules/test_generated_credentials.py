"""certrelay.exim.generated_credentials, run in-process with the real openssl."""

import datetime
import grp
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ansible_collections.certrelay.exim.plugins.modules import generated_credentials
from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    key_matches_certificate,
    load_private_key,
)
from tests.lib.module import run_module
from tests.lib.pki import client_cert, make_cert

GROUP = grp.getgrgid(os.getgid()).gr_name


def run(tmp_path, check=False, **extra):
    args = {'privatekey_path': str(tmp_path / 'client.key'), 'certificate_path': str(tmp_path / 'client.crt'),
            'common_name': 'laptop-7.example.com', 'group': GROUP, **extra}
    return run_module(generated_credentials.main, args, check)


def mode(path):
    return oct(path.stat().st_mode & 0o777)


def test_generates_a_restricted_key_and_returns_its_certificate(tmp_path):
    result = run(tmp_path, days=30)
    assert result['changed'] and result['generated']
    cert = x509.load_pem_x509_certificate(result['certificate'].encode())
    assert cert.subject.rfc4514_string() == 'CN=laptop-7.example.com'
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ['laptop-7.example.com']
    key = load_private_key((tmp_path / 'client.key').read_bytes())
    assert key_matches_certificate(key, cert)
    assert (mode(tmp_path / 'client.key'), mode(tmp_path / 'client.crt')) == ('0o640', '0o644')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['client.crt', 'client.key']
    # the key itself is never part of the result
    assert 'PRIVATE KEY' not in str(result)


def test_an_existing_certificate_is_kept_and_only_its_attributes_fixed(tmp_path):
    first = run(tmp_path)
    assert run(tmp_path) == {**run(tmp_path), 'changed': False}
    (tmp_path / 'client.key').chmod(0o644)
    fixed = run(tmp_path)
    assert fixed['changed'] and not fixed['generated']
    assert fixed['certificate'] == first['certificate']
    assert mode(tmp_path / 'client.key') == '0o640'


def test_check_mode_generates_nothing(tmp_path):
    result = run(tmp_path, check=True)
    assert result['changed'] and result['generated'] and result['certificate'] == ''
    assert list(tmp_path.iterdir()) == []


def test_a_failing_openssl_leaves_no_file_behind(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path / 'nowhere'))
    result = run(tmp_path)
    assert result.get('failed')
    assert list(tmp_path.iterdir()) == []


def test_each_file_has_its_final_mode_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    renamed = []
    real_commit = generated_credentials.commit

    def watching_commit(tmp, dest):
        renamed.append((os.path.basename(dest), oct(os.stat(tmp).st_mode & 0o777)))
        real_commit(tmp, dest)

    monkeypatch.setattr(generated_credentials, 'commit', watching_commit)
    run(tmp_path)
    # key first: a certificate on disk always has its key beside it
    assert renamed == [('client.key', '0o640'), ('client.crt', '0o644')]


# ------------------------------------------------------------------- request and install (private CA)


def test_request_makes_only_the_key_and_returns_a_request_for_it(tmp_path):
    result = run(tmp_path, request=True)
    assert result['changed'] and result['generated'] and result['certificate'] == ''
    csr = x509.load_pem_x509_csr(result['request'].encode())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == 'CN=laptop-7.example.com'
    key = load_private_key((tmp_path / 'client.key').read_bytes())
    assert csr.public_key().public_numbers() == key.public_key().public_numbers()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['client.key']
    assert mode(tmp_path / 'client.key') == '0o640'
    assert 'PRIVATE KEY' not in str(result)
    # an existing key is kept: another request for the same key, no change
    again = run(tmp_path, request=True)
    assert not again['changed'] and not again['generated']
    assert x509.load_pem_x509_csr(again['request'].encode()).public_key() == csr.public_key()


def test_request_in_check_mode_makes_nothing(tmp_path):
    result = run(tmp_path, check=True, request=True)
    assert result == {**result, 'changed': True, 'generated': True, 'request': ''}
    assert list(tmp_path.iterdir()) == []


def test_a_certificate_for_the_key_is_installed_once_and_one_for_another_key_refused(tmp_path):
    run(tmp_path, request=True)
    key = load_private_key((tmp_path / 'client.key').read_bytes())
    ca = make_cert('ca', 'CA', ca=True)

    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'x')]))
            .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(7)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(ca.key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    installed = run(tmp_path, certificate=pem)
    assert installed['changed'] and (tmp_path / 'client.crt').read_text() == pem
    assert mode(tmp_path / 'client.crt') == '0o644'
    assert not run(tmp_path, certificate=pem)['changed']
    assert run(tmp_path, request=True)['certificate'] == pem
    wrong = run(tmp_path, certificate=ca.cert_pem)
    assert wrong['failed'] and 'does not belong to the key' in wrong['msg']
    assert (tmp_path / 'client.crt').read_text() == pem


def test_a_certificate_without_a_key_is_refused(tmp_path):
    result = run(tmp_path, certificate=client_cert('x').cert_pem)
    assert result['failed'] and 'no key at' in result['msg']
    assert list(tmp_path.iterdir()) == []
