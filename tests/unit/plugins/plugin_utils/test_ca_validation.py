"""The private-CA mode's checks: client CA certificates, their CRLs, the relay policy."""

import datetime
import re

import pytest

from ansible_collections.certrelay.exim.plugins.plugin_utils.ca_validation import check_cas, check_client_ca, check_crl
from ansible_collections.certrelay.exim.plugins.plugin_utils.entry_check import check_entries
from tests.lib.pki import ca_cert, client_cert, issue_cert, make_cert, make_crl

NAMES = dict(certificates='cas', crl='crl', policy='policy', client_certs='clients')


@pytest.fixture(scope='module')
def pkis():
    ca = ca_cert('fleet-ca', 'Fleet CA')
    return {
        'ca': ca,
        'second': ca_cert('second-ca', 'Second CA'),
        'other': ca_cert('other-ca', 'Other CA'),
        'old': ca_cert('old-ca', 'Old CA', expired=True),
        'future': ca_cert('future-ca', 'Future CA', future=True),
        'weak': ca_cert('weak-ca', 'Weak CA', bits=1024),
        'leaf': make_cert('self-signed', 'Self Signed'),   # CA:TRUE, no keyCertSign (openssl req -x509)
        'issued': issue_cert('ann', ca),
        'laptop': client_cert('laptop', kind='ec'),
    }


def check(pkis, cas=('ca',), crl='', policy='ca', entries=(), **kw):
    return check_client_ca([pkis[name].cert_pem for name in cas], crl, policy, list(entries), 'allow_weak', NAMES, **kw)


def test_a_ca_with_its_crl_passes(pkis):
    facts, problems = check(pkis, crl=make_crl(pkis['ca'], [pkis['issued']]))
    assert problems == []
    assert facts['fingerprints'] == [pkis['ca'].fingerprint]
    assert facts['crls'][0]['issuer'] == 'CN=Fleet CA' and facts['crls'][0]['revoked'] == 1


def test_two_cas_with_one_crl_each_pass(pkis):
    crl = make_crl(pkis['ca']) + make_crl(pkis['second'])
    assert check(pkis, cas=('ca', 'second'), crl=crl)[1] == []


def test_allowlist_policy_needs_no_ca(pkis):
    assert check(pkis, cas=(), policy='allowlist') == (dict(fingerprints=[], subjects=[], crls=[]), [])


@pytest.mark.parametrize('cas, crl, policy, message', [
    (('leaf',), '', 'ca', r'cas\[0\] \(CN=Self Signed\) is not a CA certificate: it needs basic constraints CA:TRUE '
                          r'and key usage keyCertSign \(has CA:TRUE\)'),
    (('laptop',), '', 'ca', r'cas\[0\] \(CN=laptop.example.com\) is not a CA certificate'),
    (('issued',), '', 'ca', r'\(has neither\)'),
    (('old',), '', 'ca', r'cas\[0\] \(CN=Old CA\) expired on .*: no certificate it issued verifies'),
    (('future',), '', 'ca', r'cas\[0\] \(CN=Future CA\) is not valid yet'),
    (('weak',), '', 'ca', r'cas\[0\] \(CN=Weak CA\) is weak: RSA key of 1024 bits .*allow_weak'),
    (('ca', 'ca'), '', 'ca', r'cas\[1\] \(CN=Fleet CA\) is the same certificate as cas\[0\]'),
    ((), '', 'ca', r'policy is ca but cas is empty'),
    ((), 'x', 'allowlist', r'crl is given but cas is empty'),
    (('ca',), '', 'everyone', r'policy must be allowlist or ca \(got everyone\)'),
])
def test_refusals_name_the_item(pkis, cas, crl, policy, message):
    problems = check(pkis, cas=cas, crl=crl, policy=policy)[1]
    assert any(re.search(message, problem) for problem in problems), problems


def test_a_crl_of_an_unusable_ca_is_not_judged_again(pkis):
    problems = check(pkis, cas=('old',), crl=make_crl(pkis['old']))[1]
    assert len(problems) == 1 and 'expired on' in problems[0]


def test_a_bundle_is_not_one_ca(pkis):
    problems = check_client_ca([pkis['ca'].cert_pem + pkis['second'].cert_pem], '', 'ca', [], 'w', NAMES)[1]
    assert problems == ['cas[0] holds 2 certificates: give each CA certificate as its own item']


def test_garbage_and_keys_are_not_crls_and_are_not_quoted(pkis):
    cas = check_cas([pkis['ca'].cert_pem], 'cas', 'w')[0]
    assert check_crl('hello', 'crl', cas, 'cas')[1] == ['crl is not a CRL: it holds no PEM "X509 CRL" block']
    key = pkis['laptop'].key_pem
    problems = check_crl(key, 'crl', cas, 'cas')[1]
    assert problems == ['crl is not a CRL: it holds a "PRIVATE KEY" PEM block (keep it secret)']
    assert key.splitlines()[1] not in ' '.join(problems)
    broken = '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'
    assert check_crl(broken, 'crl', cas, 'cas')[1] == ['crl is not a CRL: the X509 CRL block cannot be parsed']


def test_crl_signatures_dates_and_coverage(pkis):
    cas = check_cas([pkis['ca'].cert_pem, pkis['second'].cert_pem], 'cas', 'w')[0]
    ca, second, other = pkis['ca'], pkis['second'], pkis['other']
    both = make_crl(second)
    assert 'is not signed by any of cas' in check_crl(make_crl(other) + both, 'crl', cas, 'cas')[1][0]
    # the CA's name, another key: a forgery
    forged = check_crl(make_crl(ca, signer=other) + both, 'crl', cas, 'cas')[1]
    assert forged[0].startswith('crl (block 1 of 2) (issuer CN=Fleet CA) is not signed by any of cas')
    stale = check_crl(make_crl(ca, next_update_days=-1) + both, 'crl', cas, 'cas')[1]
    assert stale[0].startswith('crl (block 1 of 2) of CN=Fleet CA is past its nextUpdate')
    twice = check_crl(make_crl(ca) + make_crl(ca, number=2) + both, 'crl', cas, 'cas')[1]
    assert twice == ['crl (block 2 of 3): CN=Fleet CA has a second CRL (crl (block 1 of 3)); give one CRL per CA']
    missing = check_crl(make_crl(ca), 'crl', cas, 'cas')[1]
    assert missing == ['crl has no CRL for CN=Second CA: with a CRL configured, an Exim built with OpenSSL checks every '
                       'CA and refuses every client of a CA without one; give one CRL per CA']


def test_next_update_is_judged_at_now(pkis):
    cas = check_cas([pkis['ca'].cert_pem], 'cas', 'w')[0]
    crl = make_crl(pkis['ca'], next_update_days=2)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3)
    assert check_crl(crl, 'crl', cas, 'cas')[1] == []
    assert 'past its nextUpdate' in check_crl(crl, 'crl', cas, 'cas', now=later)[1][0]


def test_a_ca_among_the_client_certificates_is_refused(pkis):
    entries = [dict(name='ann', certificate=pkis['issued'].cert_pem, state='present'),
               dict(name='the-ca', certificate=pkis['ca'].cert_pem, state='present'),
               dict(name='second', certificate=pkis['second'].cert_pem, state='present'),
               dict(name='gone', certificate=pkis['other'].cert_pem, state='absent')]
    problems = check(pkis, entries=check_entries(entries)['present'])[1]
    assert problems == ['clients lists CA certificates (key usage keyCertSign, or one of cas) as client certificates: '
                        'the-ca, second; every certificate such a CA issued would verify - give CAs in cas only']
    # a self-signed laptop certificate (CA:TRUE, as openssl req -x509 makes it) is no CA
    leaf = check_entries([dict(name='l', certificate=pkis['leaf'].cert_pem)])['present']
    assert leaf[0]['signs'] is False and check(pkis, entries=leaf)[1] == []
