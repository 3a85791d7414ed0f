"""The one validation of certificates and keys: every refusal worded, no input quoted."""

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.certrelay.exim.plugins.plugin_utils.entry_check import check_entries
from ansible_collections.certrelay.exim.plugins.plugin_utils.tls_validation import (
    check_credential,
    check_pin,
    check_private_key,
)
from tests.lib.pki import client_cert, make_cert, server_cert


@pytest.fixture(scope='module')
def creds():
    ca = make_cert('ca', 'Test CA', ca=True)
    return {
        'relay': server_cert(),
        'ec': client_cert('ec', kind='ec'),
        'short': client_cert('short', bits=1024),
        'sha1': client_cert('sha1', digest='sha1'),
        'future': server_cert('future', future=True),
        'ca': ca,
        'issued': make_cert('issued', 'relay.example.com', dns=('relay.example.com',), issuer=ca),
    }


def body(credential):
    return credential.key_pem.splitlines()[1]


def test_a_good_credential_passes(creds):
    info, problems = check_credential(creds['relay'].cert_pem, creds['relay'].key_pem, 'cert', 'key', 'weak')
    assert problems == [] and info['subject'] == 'CN=relay.example.com'


@pytest.mark.parametrize('key, message', [
    (lambda c: c['relay'].cert_pem + c['relay'].key_pem, 'key holds a certificate as well as a key'),
    (lambda c: c['relay'].key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
     'key is not an unencrypted PEM private key'),
    (lambda c: c['ec'].key_pem, 'key does not belong to cert (CN=relay.example.com)'),
    (lambda c: 'garbage', 'key is not an unencrypted PEM private key'),
    (lambda c: '', 'key is empty'),
])
def test_keys_refused_without_quoting_them(creds, key, message):
    text = key(creds)
    problems = check_private_key(text, creds['relay'].cert, 'key', 'cert')
    assert len(problems) == 1 and message in problems[0]
    for line in text.splitlines()[1:-1]:
        assert line not in problems[0]


@pytest.mark.parametrize('name, message', [
    ('short', 'is weak: RSA key of 1024 bits (at least 2048 needed) (set allow_it to accept it)'),
    ('sha1', 'is weak: signed with SHA-1'),
    ('future', 'is not valid now'),
])
def test_weak_and_not_yet_valid_credentials_refused(creds, name, message):
    _info, problems = check_credential(creds[name].cert_pem, creds[name].key_pem, 'cert', 'key', 'allow_it')
    assert any(message in problem for problem in problems), problems


def test_weak_accepted_when_allowed(creds):
    assert check_credential(creds['short'].cert_pem, creds['short'].key_pem, 'c', 'k', 'w', allow_weak=True)[1] == []


def test_credential_name_check(creds):
    _info, problems = check_credential(creds['relay'].cert_pem, None, 'cert', None, 'w', host='other.example.com')
    assert problems and 'does not name other.example.com' in problems[0]


def test_pin_with_a_ca_refused_unless_allowed(creds):
    fullchain = creds['issued'].cert_pem + creds['ca'].cert_pem
    infos, problems = check_pin(fullchain, 'pin', 'relay.example.com', 'w', verify_hostname=False)
    assert len(infos) == 2 and len(problems) == 1
    assert 'pin (CN=Test CA, certificate 2 of 2): is a CA certificate' in problems[0]
    infos, problems = check_pin(fullchain, 'pin', 'relay.example.com', 'w', verify_hostname=False, allow_ca=True)
    assert problems == [] and [info['fingerprint'] for info in infos] == [creds['issued'].fingerprint,
                                                                          creds['ca'].fingerprint]


def test_pinned_intermediate_without_key_usage_is_a_ca(creds):
    # CA:TRUE on a certificate another CA issued: GnuTLS and OpenSSL let it sign, whatever it names
    middle = make_cert('middle', 'relay.example.com', dns=('relay.example.com',), issuer=creds['ca'],
                       intermediate=True)
    problems = check_pin(middle.cert_pem, 'pin', 'relay.example.com', 'w')[1]
    assert len(problems) == 1 and 'is a CA certificate (it signs certificates)' in problems[0]
    assert check_pin(middle.cert_pem, 'pin', 'relay.example.com', 'w', allow_ca=True)[1] == []


def test_self_signed_relay_pin_is_not_a_ca(creds):
    # `openssl req -x509` certificates say CA:TRUE; only signing others (or keyCertSign) makes a CA
    assert check_pin(creds['relay'].cert_pem, 'pin', '127.0.0.1', 'w')[1] == []


def test_pin_weak_and_future(creds):
    problems = check_pin(creds['future'].cert_pem + creds['short'].cert_pem, 'pin', 'x', 'w', verify_hostname=False)[1]
    assert 'certificate 1 of 2): not valid before' in problems[0]
    assert 'certificate 2 of 2): is weak: RSA key of 1024 bits' in problems[1]


def test_client_list_bundle_weak_future_and_names_matched_whole(creds):
    entries = [
        {'name': 'two', 'certificate': creds['relay'].cert_pem + creds['ec'].cert_pem},
        {'name': 'short', 'certificate': creds['short'].cert_pem},
        {'name': 'future', 'certificate': creds['future'].cert_pem},
        {'name': 'ec\n', 'certificate': creds['ec'].cert_pem},
    ]
    problems = check_entries(entries, allow_weak=False)['problems']
    assert problems['unusable'] == [{'name': 'two', 'reason': "it holds 2 certificates (a bundle); give the "
                                                              "client's own certificate only"}]
    assert problems['weak'] == [{'name': 'short', 'reason': 'RSA key of 1024 bits (at least 2048 needed)'}]
    assert problems['not_yet_valid'] == ['future']
    assert problems['invalid_names'] == ['ec\n']
    assert check_entries(entries[1:2])['problems']['weak'] == []
