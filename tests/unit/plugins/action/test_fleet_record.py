"""certrelay.exim.fleet_record: all fleet directory writes of a run in one call, check mode and diff."""

import pytest

from ansible_collections.certrelay.exim.plugins.action.fleet import read_fleet
from ansible_collections.certrelay.exim.plugins.action.fleet_record import ActionModule
from tests.lib.action import run_action
from tests.lib.ansible import tree_snapshot
from tests.lib.pki import client_cert, server_cert


@pytest.fixture(scope='module')
def certs():
    return {name: client_cert(name, kind='ec') for name in ('a-old', 'a-new', 'b', 'c')}


@pytest.fixture(scope='module')
def relay():
    return server_cert()


def setup_fleet(root, relay, certs, revoke=None, next_relay=None):
    root.mkdir(exist_ok=True)
    (root / 'laptop-a.pem').write_text(certs['a-old'].cert_pem)
    (root / 'laptop-b.pem').write_text(certs['b'].cert_pem)
    hostvars = {'relay1': {'exim_server_tls_certificate': relay.cert_pem}, 'laptop-a': {}, 'laptop-b': {},
                'laptop-c': {}}
    if next_relay:
        hostvars['relay1']['certrelay_relay_next_certificate'] = next_relay
    task_vars = {'groups': {'relays': ['relay1'], 'laptops': ['laptop-a', 'laptop-b', 'laptop-c']},
                 'ansible_play_hosts_all': ['relay1', 'laptop-a', 'laptop-b', 'laptop-c'], 'hostvars': hostvars}
    return read_fleet(str(root), revoke, task_vars), task_vars


def test_check_mode_plans_and_diffs_but_writes_nothing(tmp_path, relay, certs):
    root = tmp_path / 'fleet'
    data, task_vars = setup_fleet(root, relay, certs)
    task_vars['hostvars']['laptop-a']['exim_client_certificate_pem'] = certs['a-new'].cert_pem
    task_vars['hostvars']['laptop-c']['exim_client_certificate_pem'] = certs['c'].cert_pem
    before = tree_snapshot(root)
    result = run_action(ActionModule, {'fleet': data}, task_vars, check=True, diff=True)
    assert tree_snapshot(root) == before
    assert result['changed'] is True
    assert [d['after_header'] for d in result['diff']] == [f'{root}/laptop-a.pem', f'{root}/laptop-c.pem']
    assert result['fingerprints'] == {'laptop-a': certs['a-new'].fingerprint, 'laptop-b': certs['b'].fingerprint,
                                      'laptop-c': certs['c'].fingerprint}


def test_one_call_records_announces_and_a_rerun_changes_nothing(tmp_path, relay, certs):
    root = tmp_path / 'fleet'
    data, task_vars = setup_fleet(root, relay, certs)
    task_vars['hostvars']['laptop-a'].update(exim_client_certificate_pem=certs['a-old'].cert_pem,
                                             exim_client_next_certificate_pem=certs['a-new'].cert_pem)
    task_vars['hostvars']['laptop-c']['exim_client_certificate_pem'] = certs['c'].cert_pem
    result = run_action(ActionModule, {'fleet': data}, task_vars, diff=True)
    assert result['changed'] is True and len(result['diff']) == 2
    assert sorted(p.name for p in root.iterdir()) == ['laptop-a.next.pem', 'laptop-a.pem', 'laptop-b.pem',
                                                      'laptop-c.pem']
    assert [e['name'] for e in result['trusted']] == ['laptop-a', 'laptop-a.next', 'laptop-b', 'laptop-c']
    # the returned fleet is the next call's input: nothing left to do
    again = run_action(ActionModule, {'fleet': result}, task_vars, diff=True)
    assert again['changed'] is False and 'diff' not in again

    # the laptop switched: its new certificate is recorded and the announcement dropped
    task_vars['hostvars']['laptop-a']['exim_client_certificate_pem'] = certs['a-new'].cert_pem
    switched = run_action(ActionModule, {'fleet': again}, task_vars)
    assert (root / 'laptop-a.pem').read_text().strip() == certs['a-new'].cert_pem.strip()
    assert not (root / 'laptop-a.next.pem').exists()
    assert [e['name'] for e in switched['trusted']] == ['laptop-a', 'laptop-b', 'laptop-c']


def test_revocation_moves_the_certificate_and_survives_collected_facts(tmp_path, relay, certs):
    root = tmp_path / 'fleet'
    data, task_vars = setup_fleet(root, relay, certs, revoke='laptop-b')
    task_vars['hostvars']['laptop-b']['exim_client_certificate_pem'] = certs['b'].cert_pem
    result = run_action(ActionModule, {'fleet': data}, task_vars)
    assert not (root / 'laptop-b.pem').exists()
    assert (root / 'revoked' / 'laptop-b.pem').read_text().strip() == certs['b'].cert_pem.strip()
    assert [e['name'] for e in result['trusted']] == ['laptop-a']
    assert result['revoking'] == ['laptop-b']


def test_reenrol_takes_a_laptop_off_the_revoked_list(tmp_path, relay, certs):
    root = tmp_path / 'fleet'
    (root / 'revoked').mkdir(parents=True)
    (root / 'revoked' / 'laptop-c.pem').write_text(certs['c'].cert_pem)
    data, task_vars = setup_fleet(root, relay, certs)
    task_vars['hostvars']['laptop-c']['exim_client_certificate_pem'] = certs['c'].cert_pem
    assert run_action(ActionModule, {'fleet': data}, task_vars, check=True)['changed'] is False
    result = run_action(ActionModule, {'fleet': data, 'reenrol': True}, task_vars)
    assert result['revoked'] == {} and (root / 'laptop-c.pem').exists()
    assert not (root / 'revoked' / 'laptop-c.pem').exists()


def test_unpinned_lists_laptops_that_do_not_pin_the_announced_relay_certificate(tmp_path, relay, certs):
    new_relay = server_cert('relay-next').cert_pem
    data, task_vars = setup_fleet(tmp_path / 'fleet', relay, certs, next_relay=new_relay)
    task_vars['hostvars']['laptop-a']['__certrelay_pinned'] = relay.cert_pem + new_relay
    task_vars['hostvars']['laptop-b']['__certrelay_pinned'] = relay.cert_pem
    result = run_action(ActionModule, {'fleet': data}, task_vars, check=True)
    assert result['unpinned'] == {'relay1': ['laptop-b', 'laptop-c']}


def test_a_laptop_certificate_that_does_not_parse_fails_by_name(tmp_path, relay, certs):
    data, task_vars = setup_fleet(tmp_path / 'fleet', relay, certs)
    task_vars['hostvars']['laptop-c']['exim_client_certificate_pem'] = 'garbage'
    result = run_action(ActionModule, {'fleet': data}, task_vars)
    assert result['failed'] is True
    assert result['msg'].startswith('Not recorded in the fleet directory: laptop-c: ')
    assert not (tmp_path / 'fleet' / 'laptop-c.pem').exists()


# ------------------------------------------------------------------------------ private-CA mode


def ca_fleet(root, relay, laptops=('laptop-a',)):
    """A CA fleet directory, the run's task variables, and a signer that records like signed_credentials."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet import issued_path, record_issued
    from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import Authority, create
    certificate, key = create('Fleet CA')
    authority = Authority.load(certificate, key)
    root.mkdir(exist_ok=True)
    hostvars = dict([('relay1', {'exim_server_tls_certificate': relay.cert_pem})] + [(name, {}) for name in laptops])
    task_vars = {'groups': {'relays': ['relay1'], 'laptops': list(laptops)},
                 'ansible_play_hosts_all': ['relay1', *laptops], 'hostvars': hostvars,
                 'certrelay_ca_certificate': certificate, 'certrelay_ca_privatekey': key}

    def sign(laptop):
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, laptop)])).sign(
                ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        pem = authority.sign(csr.public_bytes(serialization.Encoding.PEM).decode(), laptop)
        cert = x509.load_pem_x509_certificate(pem.encode())
        record_issued(issued_path(str(root), laptop), cert.serial_number, cert.not_valid_after_utc)
        return pem, cert.serial_number
    return authority, task_vars, sign


def run_record(task_vars, fleet, facts, check=False):
    variables = dict(task_vars, hostvars=dict(task_vars['hostvars'], **facts))
    return run_action(ActionModule, {'fleet': fleet}, variables, check=check)


def revoked_serials(result):
    from cryptography import x509
    return sorted(entry.serial_number for entry in x509.load_pem_x509_crl(result['authority']['crl'].encode()))


def test_a_replaced_ca_certificate_is_revoked_once_the_new_one_is_recorded(tmp_path, relay):
    authority, task_vars, sign = ca_fleet(tmp_path, relay)
    # as in a run: the fleet read first, then the laptop's certificate signed
    fleet = read_fleet(str(tmp_path), None, task_vars, authority=authority)
    first, first_serial = sign('laptop-a')
    recorded = run_record(task_vars, fleet, {'laptop-a': {'exim_client_certificate_pem': first}})
    assert revoked_serials(recorded) == [] and (tmp_path / 'laptop-a.pem').exists()
    # re-signed (renewal, rotation, a fresh request): the old serial goes on the CRL with the new record
    fleet = read_fleet(str(tmp_path), None, task_vars, authority=authority)
    assert fleet['current_serials'] == {'laptop-a': ['%X' % first_serial]}
    second, second_serial = sign('laptop-a')
    recorded = run_record(task_vars, fleet, {'laptop-a': {'exim_client_certificate_pem': second}})
    assert revoked_serials(recorded) == [first_serial]
    assert (tmp_path / 'crl.pem').read_text().strip() == recorded['authority']['crl']
    # a run that records nothing new changes nothing
    fleet = read_fleet(str(tmp_path), None, task_vars, authority=authority)
    again = run_record(task_vars, fleet, {'laptop-a': {'exim_client_certificate_pem': second}})
    assert again['changed'] is False


def test_a_signed_certificate_never_recorded_is_revoked_by_the_next_run(tmp_path, relay):
    authority, task_vars, sign = ca_fleet(tmp_path, relay)
    fleet = read_fleet(str(tmp_path), None, task_vars, authority=authority)
    current, current_serial = sign('laptop-a')
    run_record(task_vars, fleet, {'laptop-a': {'exim_client_certificate_pem': current}})
    lost, lost_serial = sign('laptop-a')            # the run died before the laptop reported it
    fleet = read_fleet(str(tmp_path), None, task_vars, authority=authority)
    assert revoked_serials(fleet) == [lost_serial]
    assert fleet['current_serials'] == {'laptop-a': ['%X' % current_serial]}


def test_revoke_lists_every_serial_ever_issued_to_the_laptop(tmp_path, relay):
    authority, task_vars, sign = ca_fleet(tmp_path, relay, laptops=('laptop-a', 'laptop-b'))
    serials = []
    for laptop in ('laptop-a', 'laptop-a'):    # signed twice: the second replaces the first
        fleet = read_fleet(str(tmp_path), None, task_vars, authority=authority)
        pem, serial = sign(laptop)
        serials.append(serial)
        run_record(task_vars, fleet, {laptop: {'exim_client_certificate_pem': pem}})
    fleet = read_fleet(str(tmp_path), None, task_vars, authority=authority)
    other, other_serial = sign('laptop-b')
    run_record(task_vars, fleet, {'laptop-b': {'exim_client_certificate_pem': other}})
    fleet = read_fleet(str(tmp_path), 'laptop-a', task_vars, authority=authority)
    assert revoked_serials(fleet) == sorted(serials) and other_serial not in revoked_serials(fleet)


def test_expired_serials_are_left_off_the_crl(tmp_path, relay):
    from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet import Fleet
    fleet = Fleet(str(tmp_path), authority={'certificate': ''},
                  signed={'laptop-a': {'1A': '2000-01-01T00:00:00Z', '2B': '2999-01-01T00:00:00Z'}})
    assert fleet.serials_to_revoke() == [0x2B]


def test_a_laptop_name_the_ca_cannot_sign_is_a_problem_before_anything_changes(tmp_path, relay):
    long_name = 'laptop-' + 'x' * 60
    authority, task_vars, sign = ca_fleet(tmp_path, relay, laptops=(long_name,))
    problems = read_fleet(str(tmp_path), None, task_vars, authority=authority)['problems']
    assert problems == ['%s: %s is 67 characters long: a certificate name has at most 64' % (long_name, long_name)]
