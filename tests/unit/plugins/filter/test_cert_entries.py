"""certrelay.exim.cert_entries: one pass over a fleet's {name, certificate, state} list."""

import time

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.cert_entries import cert_entries
from tests.lib.pki import client_cert, make_cert


@pytest.fixture(scope='module')
def alice():
    return client_cert('alice', kind='ec')


@pytest.fixture(scope='module')
def bob():
    return client_cert('bob', kind='ec')


def entry(cred, **extra):
    return dict({'name': cred.name, 'certificate': cred.cert_pem}, **extra)


def no_problems(result):
    return all(not found for found in result['problems'].values())


def test_good_input_gives_entries_and_allowlist_facts(alice, bob):
    result = cert_entries([entry(alice), entry(bob, state='present'), {'name': 'carol', 'state': 'absent'}])
    assert no_problems(result)
    assert [e['state'] for e in result['entries']] == ['present', 'present', 'absent']
    assert [(c['name'], c['fingerprint'], c['expired']) for c in result['present']] == [
        ('alice', alice.fingerprint, False), ('bob', bob.fingerprint, False)]


def test_every_problem_is_named_at_once(alice, bob):
    old = make_cert('old', expired=True)
    result = cert_entries([
        entry(alice), entry(alice, name='alias'), {'name': 'bob', 'certificate': bob.cert_pem},
        {'name': 'bob', 'certificate': bob.cert_pem}, {'name': '../evil', 'certificate': bob.cert_pem},
        {'name': 'nocert'}, {'name': 'weird', 'state': 'gone'}, {'name': 'keyholder', 'certificate': bob.key_pem},
        {'name': 'junk', 'certificate': 'hello'}, {'name': 'old', 'certificate': old.cert_pem},
    ])
    problems = result['problems']
    assert problems['invalid_names'] == ['../evil']
    assert problems['duplicate_names'] == ['bob']
    assert problems['no_certificate'] == ['nocert']
    assert problems['invalid_states'] == ['weird']
    assert [(u['name'], 'private key' in u['reason']) for u in problems['unusable']] == [
        ('keyholder', True), ('junk', False)]
    assert 'no PEM certificate' in problems['unusable'][1]['reason']
    assert problems['expired'] == ['old']
    assert 'alice = alias' in problems['duplicate_certificates']
    assert bob.key_pem.splitlines()[1] not in repr(result['problems'])


def test_not_a_list_is_refused():
    with pytest.raises(AnsibleFilterError, match='expected a list'):
        cert_entries('alice')


def test_a_thousand_entries_in_well_under_a_second(alice):
    certs = [client_cert(f'c{i}', kind='ec') for i in range(50)]
    entries = [entry(certs[i % 50], name=f'laptop-{i}') for i in range(1000)]
    start = time.perf_counter()
    result = cert_entries(entries)
    assert time.perf_counter() - start < 1.0
    assert len(result['present']) == 1000 and len(result['problems']['duplicate_certificates']) == 50
