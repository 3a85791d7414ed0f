"""certrelay.exim.fleet: the fleet directory and the inventory read once, problems worded."""

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.certrelay.exim.plugins.action.fleet import ActionModule
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import Authority, create
from tests.lib.action import run_action
from tests.lib.pki import client_cert, server_cert


@pytest.fixture(scope='module')
def relay():
    return server_cert()


@pytest.fixture(scope='module')
def laptop():
    return client_cert('laptop-a', kind='ec')


def task_vars(relay, run_hosts=('relay1', 'laptop-a', 'laptop-b')):
    return {
        'groups': {'relays': ['relay1'], 'laptops': ['laptop-a', 'laptop-b']},
        'ansible_play_hosts_all': list(run_hosts),
        'hostvars': {'relay1': {'exim_server_tls_certificate': relay.cert_pem, 'exim_server_ports': [587]},
                     'laptop-a': {}, 'laptop-b': {}},
    }


def test_a_good_fleet_has_no_problems_and_settings_for_the_laptops_of_the_run(tmp_path, relay, laptop):
    (tmp_path / 'laptop-a.pem').write_text(laptop.cert_pem)
    result = run_action(ActionModule, {'directory': str(tmp_path)},
                        task_vars(relay, run_hosts=('relay1', 'laptop-b')), check=True)
    assert result['problems'] == [] and result['changed'] is False
    assert result['trusted'] == [{'name': 'laptop-a', 'certificate': laptop.cert_pem.strip()}]
    assert result['fingerprints'] == {'laptop-a': laptop.fingerprint}
    assert list(result['laptops']) == ['laptop-b']
    assert result['laptops']['laptop-b']['smarthost_port'] == 587
    assert result['laptops']['laptop-b']['pins']['auto'] == relay.cert_pem.strip()
    assert result['revoking'] == []


def test_every_problem_is_reported_at_once(tmp_path, relay):
    (tmp_path / 'laptop-z.pem').write_text('-----BEGIN PRIVATE KEY-----\nS3cr3tK3y\n-----END PRIVATE KEY-----\n')
    result = run_action(ActionModule, {'directory': str(tmp_path), 'revoke': 'laptop-typo'},
                        task_vars(relay, run_hosts=('laptop-a',)))
    problems = result['problems']
    assert len(problems) == 3
    assert 'leaves out the relay(s) relay1' in problems[0]
    assert f'{tmp_path}/laptop-z.pem is not a usable certificate' in problems[1]
    assert problems[2].startswith('Unknown laptop(s): laptop-typo. Known: laptop-a, laptop-b.')
    assert 'S3cr3tK3y' not in str(result)


def test_a_revocation_request_is_checked_and_returned(tmp_path, relay):
    result = run_action(ActionModule, {'directory': str(tmp_path), 'revoke': 'laptop-b, laptop-a'},
                        task_vars(relay))
    assert result['problems'] == [] and result['revoking'] == ['laptop-b', 'laptop-a']
    empty = run_action(ActionModule, {'directory': str(tmp_path), 'revoke': ''}, task_vars(relay))
    assert empty['problems'] == ['Name the laptops to revoke: -e certrelay_revoke=laptop-7,laptop-8.']


def test_certificates_ending_within_the_window_are_listed_and_warned_about(tmp_path, relay):
    soon, later = client_cert('laptop-a', days=10), client_cert('laptop-b', days=90)
    (tmp_path / 'laptop-a.pem').write_text(soon.cert_pem)
    (tmp_path / 'laptop-b.pem').write_text(later.cert_pem)
    # an announced successor is the rotation under way, not a certificate about to expire
    (tmp_path / 'laptop-b.next.pem').write_text(client_cert('laptop-b', days=5).cert_pem)
    result = run_action(ActionModule, {'directory': str(tmp_path), 'expiry_warn_days': 20}, task_vars(relay), check=True)
    assert [e['name'] for e in result['expiring']['laptops']] == ['laptop-a']
    assert result['expiring']['laptops'][0]['days_left'] in (9, 10)
    assert result['expiring']['relays'] == []  # the test relay certificate is valid for 30 days
    assert len(result['warnings']) == 1 and 'laptop laptop-a expires' in result['warnings'][0]
    wide = run_action(ActionModule, {'directory': str(tmp_path), 'expiry_warn_days': 100}, task_vars(relay), check=True)
    assert [e['name'] for e in wide['expiring']['laptops']] == ['laptop-a', 'laptop-b']
    assert [e['name'] for e in wide['expiring']['relays']] == ['relay1']
    assert any('relay relay1 expires' in w for w in wide['warnings'])


def test_a_negative_window_is_refused(tmp_path, relay):
    with pytest.raises(AnsibleActionFail, match='certrelay_expiry_warn_days must be 0 or more'):
        run_action(ActionModule, {'directory': str(tmp_path), 'expiry_warn_days': -1}, task_vars(relay), check=True)


def test_private_ca_mode_plans_the_crl_and_a_bad_ca_is_a_problem(tmp_path, relay):
    certificate, key = create('Fleet CA')
    good = dict(task_vars(relay), certrelay_ca_certificate=certificate, certrelay_ca_privatekey=key)
    result = run_action(ActionModule, {'directory': str(tmp_path)}, good)
    assert result['problems'] == []
    assert result['authority']['certificate'] == certificate.strip()
    assert result['authority']['crl'].startswith('-----BEGIN X509 CRL-----')
    assert result['authority']['crl_reason'] == 'new CRL'
    assert 'PRIVATE KEY' not in str(result)
    # the CA key alone, or a key of another CA: worded, before anything changes
    no_cert = dict(task_vars(relay), certrelay_ca_privatekey=key)
    assert run_action(ActionModule, {'directory': str(tmp_path)}, no_cert)['authority'] is None
    other = dict(good, certrelay_ca_privatekey=create('Other')[1])
    problems = run_action(ActionModule, {'directory': str(tmp_path)}, other)['problems']
    assert problems == ['certrelay_ca_privatekey does not belong to certrelay_ca_certificate (CN=Fleet CA)']
    no_key = dict(task_vars(relay), certrelay_ca_certificate=certificate)
    assert 'certrelay_ca_privatekey is empty' in run_action(ActionModule, {'directory': str(tmp_path)}, no_key)['problems'][0]


def test_a_crl_of_another_ca_and_a_laptop_named_crl_are_problems(tmp_path, relay):
    certificate, key = create('Fleet CA')
    (tmp_path / 'crl.pem').write_text(Authority.load(*create('Other CA')).plan_crl(None, [])[0])
    variables = dict(task_vars(relay), certrelay_ca_certificate=certificate, certrelay_ca_privatekey=key)
    variables['groups'] = {'relays': ['relay1'], 'laptops': ['laptop-a', 'crl']}
    problems = run_action(ActionModule, {'directory': str(tmp_path)}, variables)['problems']
    assert any('A laptop may not be named "crl"' in problem for problem in problems)
    assert any(problem.startswith('%s/crl.pem: the fleet CRL was not issued by the fleet CA' % tmp_path)
               for problem in problems)


def test_a_crl_validity_within_its_renewal_window_is_refused(tmp_path, relay):
    with pytest.raises(AnsibleActionFail, match='certrelay_crl_days'):
        run_action(ActionModule, {'directory': str(tmp_path), 'crl_days': 30, 'crl_renew_days': 30}, task_vars(relay))
