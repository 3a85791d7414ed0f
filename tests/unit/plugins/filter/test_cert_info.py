"""cert_info and the shared helpers the roles validate input with."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.cert_info import cert_info
from ansible_collections.certrelay.exim.plugins.module_utils import pem
from ansible_collections.certrelay.exim.plugins.plugin_utils import certificates as certs
from tests.lib.pki import client_cert, make_cert


def test_facts_of_a_relay_certificate(relay_cert):
    info = cert_info(relay_cert.cert_pem)
    assert info['subject'] == 'CN=relay.example.com'
    assert info['issuer'] == 'CN=relay.example.com'
    assert info['common_name'] == 'relay.example.com'
    assert info['subject_alt_names'] == {'dns': ['relay.example.com', 'localhost'], 'ip': ['127.0.0.1']}
    assert info['self_signed'] is True
    assert info['expired'] is False and info['not_yet_valid'] is False
    assert 28 <= info['days_left'] <= 30
    assert info['fingerprint'] == relay_cert.fingerprint == info['fingerprints']['sha256']
    assert set(info['fingerprints']) == {'sha256', 'sha1', 'md5'}
    assert info['public_key_type'] == 'RSA' and info['public_key_size'] == 2048
    datetime.datetime.strptime(info['not_after'], '%Y-%m-%dT%H:%M:%SZ')


def test_expired(expired_cert):
    info = cert_info(expired_cert.cert_pem)
    assert info['expired'] is True and info['days_left'] < 0


def test_signed_by_a_ca_is_not_self_signed():
    ca = make_cert('ca', 'Fleet CA')
    leaf = make_cert('leaf', 'laptop.example.com', issuer=ca)
    info = cert_info(leaf.cert_pem)
    assert info['self_signed'] is False
    assert info['issuer'] == 'CN=Fleet CA'


def test_same_names_different_key_is_not_self_signed():
    # subject == issuer but signed by another key: not self-signed
    other = make_cert('x', 'same.example.com')
    forged = make_cert('y', 'same.example.com', issuer=other)
    assert cert_info(forged.cert_pem)['self_signed'] is False


@pytest.mark.parametrize('kind, key_type', [('ec', 'EC'), ('ed25519', 'Ed25519')])
def test_key_types(kind, key_type):
    assert cert_info(client_cert('k', kind=kind).cert_pem)['public_key_type'] == key_type


@pytest.mark.parametrize('host, expected', [
    ('relay.example.com', True),
    ('RELAY.example.com.', True),
    ('localhost', True),
    ('127.0.0.1', True),
    ('127.0.0.2', False),
    ('other.example.com', False),
    ('::1', False),
])
def test_names_host(relay_cert, host, expected):
    assert cert_info(relay_cert.cert_pem, host=host)['names_host'] is expected


def test_names_host_wildcard_and_common_name():
    wild = make_cert('w', 'ignored.example.org', dns=('*.example.com',))
    assert cert_info(wild.cert_pem, host='relay.example.com')['names_host'] is True
    assert cert_info(wild.cert_pem, host='a.b.example.com')['names_host'] is False
    # the common name does not count once the certificate has DNS names
    assert cert_info(wild.cert_pem, host='ignored.example.org')['names_host'] is False
    cn_only = make_cert('c', 'relay.example.com')
    assert cert_info(cn_only.cert_pem, host='relay.example.com')['names_host'] is True
    # an IP address is never matched through the common name
    ip_cn = make_cert('i', '127.0.0.1')
    assert cert_info(ip_cn.cert_pem, host='127.0.0.1')['names_host'] is False


def test_list_input(rsa_cert, ec_cert):
    infos = cert_info([rsa_cert.cert_pem, ec_cert.cert_pem])
    assert [i['fingerprint'] for i in infos] == [rsa_cert.fingerprint, ec_cert.fingerprint]


def test_refuses_a_private_key(rsa_cert):
    with pytest.raises(AnsibleFilterError, match='cert_info: .*private key'):
        cert_info(rsa_cert.key_pem)


def test_key_matches_certificate(rsa_cert, ec_cert):
    key = certs.load_private_key(rsa_cert.key_pem)
    assert certs.key_matches_certificate(key, rsa_cert.cert)
    assert not certs.key_matches_certificate(key, ec_cert.cert)


@pytest.mark.parametrize('value', ['', 'not a key', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'])
def test_load_private_key_refuses_garbage_without_echo(value):
    with pytest.raises(certs.CertificateError) as exc:
        certs.load_private_key(value)
    assert 'AAAA' not in str(exc.value)


def test_is_exim_fingerprint(rsa_cert):
    assert pem.is_exim_fingerprint(rsa_cert.fingerprint)
    assert not pem.is_exim_fingerprint(rsa_cert.fingerprint.lower())
    assert not pem.is_exim_fingerprint(certs.fingerprint(rsa_cert.cert, fmt='colon'))
