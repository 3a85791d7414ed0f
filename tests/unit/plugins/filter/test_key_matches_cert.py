"""key_matches_cert: the controller-side check the client role runs before deploying a key."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.key_matches_cert import key_matches_cert
from tests.lib.pki import client_cert


@pytest.mark.parametrize('kind', ['rsa', 'ec', 'ed25519'])
def test_own_key_matches(kind):
    cred = client_cert(f'match-{kind}', kind=kind)
    assert key_matches_cert(cred.key_pem, cred.cert_pem) is True
    assert key_matches_cert(cred.key_pem.replace('\n', '\r\n'), cred.cert_der) is True


def test_other_key_does_not_match(rsa_cert, ec_cert):
    other = client_cert('other-rsa')
    assert key_matches_cert(other.key_pem, rsa_cert.cert_pem) is False
    assert key_matches_cert(ec_cert.key_pem, rsa_cert.cert_pem) is False


@pytest.mark.parametrize('key, message', [
    ('', 'is not a PEM private key'),
    ('not a key', 'is not a PEM private key'),
    ('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'not a valid unencrypted PEM private key'),
])
def test_garbage_key_is_refused_without_echo(rsa_cert, key, message):
    with pytest.raises(AnsibleFilterError, match=message) as caught:
        key_matches_cert(key, rsa_cert.cert_pem)
    assert 'AAAA' not in str(caught.value)


def test_certificate_in_place_of_the_key_is_refused(rsa_cert):
    with pytest.raises(AnsibleFilterError, match='not a valid unencrypted PEM private key'):
        key_matches_cert(rsa_cert.cert_pem, rsa_cert.cert_pem)


def test_key_in_place_of_the_certificate_is_refused_without_echo(rsa_cert):
    with pytest.raises(AnsibleFilterError, match='holds a private key') as caught:
        key_matches_cert(rsa_cert.key_pem, rsa_cert.key_pem)
    assert rsa_cert.key_pem.splitlines()[1] not in str(caught.value)


def test_encrypted_key_is_refused(rsa_cert):
    from cryptography.hazmat.primitives import serialization
    encrypted = rsa_cert.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b'secret')).decode()
    with pytest.raises(AnsibleFilterError, match='encrypted'):
        key_matches_cert(encrypted, rsa_cert.cert_pem)
