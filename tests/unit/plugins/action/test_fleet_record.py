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
