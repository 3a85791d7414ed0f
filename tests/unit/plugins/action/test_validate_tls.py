"""certrelay.exim.validate_tls: variables read by name, every problem worded, no key in the result."""

import json

import pytest

from ansible_collections.certrelay.exim.plugins.action.validate_tls import ActionModule
from tests.lib.action import run_action
from tests.lib.pki import client_cert, server_cert


@pytest.fixture(scope='module')
def creds():
    return {'relay': server_cert(), 'alice': client_cert('alice'), 'short': client_cert('short', bits=1024)}


def server_args():
    return {'credentials': [{'certificate': 'crt', 'privatekey': 'key'}],
            'client_certs': {'var': 'clients', 'expired_option': 'exim_server_allow_expired'},
            'weak_option': 'exim_server_allow_weak'}


def test_good_input_returns_the_list_and_the_certificate(creds):
    result = run_action(ActionModule, server_args(), {
        'crt': creds['relay'].cert_pem, 'key': creds['relay'].key_pem,
        'clients': [{'name': 'alice', 'certificate': creds['alice'].cert_pem}]})
    assert not result.get('failed'), result
    assert [entry['fingerprint'] for entry in result['present']] == [creds['alice'].fingerprint]
    assert result['certificates']['crt']['subject'] == 'CN=relay.example.com'


def test_every_problem_at_once_and_no_key_in_the_result(creds):
    result = run_action(ActionModule, server_args(), {
        'crt': creds['relay'].cert_pem, 'key': creds['relay'].cert_pem + creds['relay'].key_pem,
        'clients': [{'name': 'alice', 'certificate': creds['alice'].key_pem},
                    {'name': 'short', 'certificate': creds['short'].cert_pem}]})
    assert result['failed'] and result['listed'] == ['alice', 'short']
    assert "the certificate of client 'alice' is unusable: the certificate holds a private key" in result['msg']
    assert "client 'short' is weak: RSA key of 1024 bits (at least 2048 needed) (set exim_server_allow_weak" \
        in result['msg']
    assert 'key holds a certificate as well as a key' in result['msg']
    text = json.dumps(result)
    for key in (creds['alice'].key_pem, creds['relay'].key_pem):
        assert key.splitlines()[1] not in text
    assert 'entries' not in result


def test_pin_fingerprints_in_order(creds):
    result = run_action(ActionModule, {'pin': {'var': 'pin', 'host': '127.0.0.1'}},
                        {'pin': creds['relay'].cert_pem})
    assert result['pin']['fingerprints'] == [creds['relay'].fingerprint]
