"""certrelay.exim.signed_credentials: the CA signs on the controller only what the host needs."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.certrelay.exim.plugins.action.signed_credentials import ActionModule
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import Authority, create
from tests.lib.action import run_action


class Host:
    """The laptop as generated_credentials shows it: a key, a request for it, the certificate in place."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = ''
        self.calls = []

    def request(self):
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'laptop')])).sign(self.key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def execute(self, module_name, module_args, task_vars):
        self.calls.append(module_args)
        assert 'PRIVATE KEY' not in str(module_args)
        if module_args.get('request'):
            return {'changed': False, 'generated': False, 'certificate': self.certificate, 'request': self.request()}
        self.certificate = module_args['certificate'] + '\n'
        return {'changed': True, 'generated': False, 'certificate': self.certificate}


@pytest.fixture(scope='module')
def ca():
    return create('Fleet CA')


def run(monkeypatch, host, ca, **args):
    monkeypatch.setattr(ActionModule, '_execute_module', lambda self, module_name, module_args, task_vars: host.execute(
        module_name, module_args, task_vars))
    task_vars = {'exim_client_signing_ca_certificate': ca[0], 'exim_client_signing_ca_privatekey': ca[1],
                 'exim_client_signing_ca_passphrase': ''}
    return run_action(ActionModule, {'privatekey_path': '/k', 'certificate_path': '/c',
                                     'common_name': 'laptop-7.example.com', **args}, task_vars)


def test_a_key_without_a_certificate_gets_one_and_a_valid_one_is_kept(monkeypatch, ca):
    host = Host()
    first = run(monkeypatch, host, ca)
    assert first['signed'] and first['changed'] and len(host.calls) == 2
    cert = x509.load_pem_x509_certificate(first['certificate'].encode())
    assert Authority.public(ca[0]).issued(cert) and first['serial'] == '%X' % cert.serial_number
    assert 'PRIVATE KEY' not in str(first)
    again = run(monkeypatch, host, ca)
    assert not again['signed'] and not again['changed'] and len(host.calls) == 3
    renewed = run(monkeypatch, host, ca, renew=True)
    assert renewed['signed'] and renewed['serial'] != first['serial']


def test_a_self_signed_certificate_or_another_key_is_replaced(monkeypatch, ca):
    host = Host()
    run(monkeypatch, host, ca)
    host.key = ec.generate_private_key(ec.SECP256R1())   # the key changed under the certificate
    assert run(monkeypatch, host, ca)['signed']
    other = create('Other CA')
    assert run(monkeypatch, host, other)['signed']       # issued by another CA


def test_a_bad_ca_fails_before_the_host_is_asked_anything(monkeypatch, ca):
    host = Host()
    result = run(monkeypatch, host, (ca[0], create('Other')[1]))
    assert result['failed'] and 'does not belong to' in result['msg']
    assert host.calls == []


def test_check_mode_signs_nothing_and_says_so(monkeypatch, ca):
    host = Host()
    monkeypatch.setattr(ActionModule, '_execute_module', lambda self, module_name, module_args, task_vars: host.execute(
        module_name, module_args, task_vars))
    task_vars = {'exim_client_signing_ca_certificate': ca[0], 'exim_client_signing_ca_privatekey': ca[1],
                 'exim_client_signing_ca_passphrase': ''}
    result = run_action(ActionModule, {'privatekey_path': '/k', 'certificate_path': '/c', 'common_name': 'laptop-7'},
                        task_vars, check=True)
    assert result.get('changed'), result
    assert result['changed'] and result['would_sign'] and not result['signed']
    assert 'BEGIN CERTIFICATE' not in str(result) and 'serial' not in result
    # only the request was asked for: nothing signed reached the host
    assert len(host.calls) == 1 and 'certificate' not in host.calls[0]


def test_each_signed_certificate_is_recorded_before_it_is_sent(monkeypatch, ca, tmp_path):
    record = tmp_path / 'issued' / 'laptop-7.serials'
    host = Host()
    seen = []
    install = host.execute

    def execute(module_name, module_args, task_vars):
        if 'certificate' in module_args:
            serial = '%X' % x509.load_pem_x509_certificate(module_args['certificate'].encode()).serial_number
            seen.append(serial in record.read_text())
        return install(module_name, module_args, task_vars)
    host.execute = execute
    first = run(monkeypatch, host, ca, record_path=str(record))
    second = run(monkeypatch, host, ca, record_path=str(record), renew=True)
    assert seen == [True, True]
    assert [line.split()[0] for line in record.read_text().splitlines()] == [first['serial'], second['serial']]


def test_only_the_serials_to_keep_stay(monkeypatch, ca):
    host = Host()
    first = run(monkeypatch, host, ca)
    assert not run(monkeypatch, host, ca, keep_serials=[first['serial'].lower()])['signed']
    # a certificate the fleet does not record as the laptop's (it is revoked) is replaced
    assert run(monkeypatch, host, ca, keep_serials=[])['signed']


@pytest.mark.parametrize('name', ['l' * 65, 'two words', '.hidden'])
def test_a_bad_name_fails_before_the_host_is_asked_anything(monkeypatch, ca, name):
    host = Host()
    result = run(monkeypatch, host, ca, common_name=name)
    assert result['failed'] and result['msg'].startswith('common_name: ')
    assert host.calls == []
