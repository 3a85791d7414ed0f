"""cert_split: the client role splits a pinned bundle so that cert_info checks every certificate."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.cert_info import cert_info
from ansible_collections.certrelay.exim.plugins.filter.cert_split import cert_split
from tests.lib.pki import make_cert


def test_bundle_gives_every_certificate_in_order(relay_cert, expired_cert, rsa_cert):
    bundle = f'leading text\n{relay_cert.cert_pem}\nbetween\n{expired_cert.cert_pem}{rsa_cert.cert_pem}trailing'
    parts = cert_split(bundle.replace('\n', '\r\n'))
    assert parts == [relay_cert.cert_pem, expired_cert.cert_pem, rsa_cert.cert_pem]
    infos = cert_info(parts, host='127.0.0.1')
    assert [i['fingerprint'] for i in infos] == [c.fingerprint for c in (relay_cert, expired_cert, rsa_cert)]
    assert [i['expired'] for i in infos] == [False, True, False]
    assert [i['names_host'] for i in infos] == [True, False, False]


def test_canonical_form_of_a_single_certificate(relay_cert):
    body = relay_cert.cert_pem.splitlines()[1:-1]
    rewrapped = '-----BEGIN CERTIFICATE-----\n' + ''.join(body) + '\n-----END CERTIFICATE-----'
    assert cert_split(rewrapped) == [relay_cert.cert_pem]


def test_list_input_is_concatenated(relay_cert, rsa_cert):
    assert cert_split([relay_cert.cert_pem + rsa_cert.cert_pem, relay_cert.cert_pem]) == [
        relay_cert.cert_pem, rsa_cert.cert_pem, relay_cert.cert_pem]


@pytest.mark.parametrize('text, message', [
    ('', 'is empty'),
    ('no pem at all', 'contains no PEM certificate'),
    ('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', 'corrupt'),
    ('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', '"X509 CRL" PEM block'),
])
def test_unusable_input_is_refused(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cert_split(text)


def test_private_key_in_a_bundle_is_refused_without_echo(relay_cert):
    with pytest.raises(AnsibleFilterError, match='holds a private key') as caught:
        cert_split(relay_cert.cert_pem + relay_cert.key_pem)
    assert relay_cert.key_pem.splitlines()[1] not in str(caught.value)


def test_list_item_is_named(relay_cert):
    with pytest.raises(AnsibleFilterError, match='item 1 of the list holds a private key'):
        cert_split([relay_cert.cert_pem, make_cert('k').key_pem])
