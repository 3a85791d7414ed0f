"""certrelay.exim.server in private-CA mode (GnuTLS, Debian's Exim), real swaks.

exim_server_relay_policy ca: any certificate a client CA issued relays, until its serial is in the
CRL and the role has converged (the role reloads; no HUP by hand); certificates of another CA and
self-signed ones that are not listed never do. exim_server_relay_policy allowlist: a CA-issued
certificate still needs its fingerprint. Bad CA, CRL and policy input is refused before anything
changes.
"""

import json
import re
import sys

import pytest

from tests.integration.conftest import client_entry
from tests.lib import exim, pki
from tests.lib.ansible import role_playbook, run_playbook, tree_snapshot

ALLOWED = '250 Accepted'
REFUSED = '550 relay not permitted'


@pytest.fixture(scope='module')
def pkis():
    ca = pki.ca_cert('fleet-ca', 'Fleet CA')
    other = pki.ca_cert('other-ca', 'Other CA')
    return {
        'ca': ca,
        'other': other,
        'ann': pki.issue_cert('ann', ca),
        'bob': pki.issue_cert('bob', ca),
        'carl': pki.issue_cert('carl', ca),
        'outsider': pki.issue_cert('outsider', other),
        'selfsigned': pki.client_cert('selfsigned', kind='ec'),
    }


def ca_vars(pkis, crl=None, policy='ca'):
    return {
        'exim_server_relay_policy': policy,
        'exim_server_client_ca_certificates': [pkis['ca'].cert_pem],
        'exim_server_client_crl': pki.make_crl(pkis['ca']) if crl is None else crl,
    }


@pytest.fixture(scope='module')
def ca_relay(relay_server, pkis):
    return relay_server([], **ca_vars(pkis))


def hups(relay) -> int:
    return relay.log_text().count('SIGHUP received')


def converge(relay, **extra):
    """Run the role with new variables and wait for the reload it makes (it HUPs the daemon)."""
    before = hups(relay)
    relay.extra_vars.update(extra)
    result = relay.apply()
    assert result.returncode == 0, result.output
    assert exim.wait_for(lambda: hups(relay) > before, timeout=10), 'the role did not reload Exim'
    assert exim.wait_listening(relay.port)
    return result


def rcpt(relay, cred):
    return relay.swaks(cred).rcpt_reply


def test_ca_issued_certificates_relay_without_being_listed(ca_relay, pkis):
    assert ca_relay.variables()['exim_server_client_certs'] == []
    assert rcpt(ca_relay, pkis['ann']) == ALLOWED
    assert rcpt(ca_relay, pkis['bob']) == ALLOWED
    # named by the CN the CA vouches for (not in the allowlist)
    assert re.search(r'certrelay: client ca:ann\.example\.com fingerprint ' + pkis['ann'].fingerprint + '$',
                     ca_relay.log_text(), re.MULTILINE)
    # a CN is the laptop's to ask for: it stays one bounded word of the line
    odd = pki.make_cert('odd', 'odd name "x" ' + 'A' * 51, kind='ec', issuer=pkis['ca'], key_ids=True)
    assert rcpt(ca_relay, odd) == ALLOWED  # a whole message: the DATA ACL writes the line
    # (Exim's RFC 4514 form escapes the quotes; the 64-byte bound cuts two A)
    assert re.search(r'certrelay: client ca:odd_name___x___A{49} fingerprint ' + odd.fingerprint + '$',
                     ca_relay.log_text(), re.MULTILINE)


def test_other_ca_and_unlisted_self_signed_certificates_are_refused(ca_relay, pkis):
    assert rcpt(ca_relay, pkis['outsider']) == REFUSED
    assert rcpt(ca_relay, pkis['selfsigned']) == REFUSED
    assert rcpt(ca_relay, None) == REFUSED


def test_the_ca_and_its_crl_are_part_of_the_generation(ca_relay, pkis):
    trust = ca_relay.trust_dir
    ca_file = trust / f'ca+{pkis["ca"].fingerprint[:16]}.pem'
    assert ca_file.read_text() == pkis['ca'].cert_pem
    assert (ca_relay.current / 'crl.pem').read_text().startswith('-----BEGIN X509 CRL-----')
    config = ca_relay.config.read_text()
    assert f'tls_crl = {ca_relay.state_dir}/current/crl.pem' in config
    # the tls:cert ACL (the chain check) is a file of the same generation, as in the debian layout
    assert f'${{acl{{{ca_relay.state_dir}/current/acl_tls_cert}}' in config
    assert pkis['ca'].fingerprint in (ca_relay.current / 'acl_tls_cert').read_text()
    again = ca_relay.apply()
    assert again.returncode == 0 and again.changed == 0, again.output


def test_a_revoked_certificate_is_refused_after_a_converge(ca_relay, pkis):
    """Only the CRL changes: a new generation, and the role's reload applies it."""
    assert rcpt(ca_relay, pkis['carl']) == ALLOWED
    config = ca_relay.config.read_bytes()
    generation = ca_relay.current.resolve()
    result = converge(ca_relay, exim_server_client_crl=pki.make_crl(pkis['ca'], [pkis['carl']], number=2))
    assert result.changed > 0
    assert ca_relay.config.read_bytes() == config      # the CRL alone changed
    assert ca_relay.current.resolve() != generation
    assert rcpt(ca_relay, pkis['carl']) == REFUSED
    # refused by the verification (the CRL), not by the relay rules: logged as untrusted
    assert 'certrelay: untrusted client certificate: ' + pkis['carl'].fingerprint in ca_relay.log_text()
    assert rcpt(ca_relay, pkis['ann']) == ALLOWED


def test_allowlist_policy_still_needs_the_fingerprint_of_a_ca_issued_certificate(relay_server, pkis):
    relay = relay_server([pkis['ann']], **ca_vars(pkis, policy='allowlist'))
    assert rcpt(relay, pkis['ann']) == ALLOWED
    assert rcpt(relay, pkis['bob']) == REFUSED
    assert 'verified certificate not in the allowlist: ' + pkis['bob'].fingerprint in relay.log_text()
    config = relay.config.read_text()
    assert 'event_action' not in config and 'acl_c_certrelay_ca' not in config
    assert not (relay.current / 'acl_tls_cert').exists()


def bad_inputs(pkis):
    ca = pkis['ca']
    expired_ca = pki.ca_cert('old-ca', 'Old CA', expired=True)
    not_ca = pki.make_cert('not-a-ca', 'Not A CA', key_ids=True)  # CA:TRUE but no keyCertSign
    good_crl = pki.make_crl(ca)
    return {
        'CA certificate without keyCertSign': (
            {'exim_server_client_ca_certificates': [not_ca.cert_pem]},
            r'exim_server_client_ca_certificates\[0\] \(CN=Not A CA\) is not a CA certificate: it needs basic '
            r'constraints CA:TRUE and key usage keyCertSign \(has CA:TRUE\)'),
        'expired CA certificate': (
            {'exim_server_client_ca_certificates': [expired_ca.cert_pem], 'exim_server_client_crl': ''},
            r'exim_server_client_ca_certificates\[0\] \(CN=Old CA\) expired on'),
        'garbage CRL': (
            {'exim_server_client_crl': 'this is no CRL'},
            r'exim_server_client_crl is not a CRL: it holds no PEM .*X509 CRL.* block'),
        'certificate as the CRL': (
            {'exim_server_client_crl': ca.cert_pem},
            r'exim_server_client_crl is not a CRL: it holds a .*CERTIFICATE.* PEM block'),
        'CRL of another CA': (
            {'exim_server_client_crl': pki.make_crl(pkis['other'])},
            r'exim_server_client_crl \(issuer CN=Other CA\) is not signed by any of exim_server_client_ca_certificates'),
        'CRL with the CA name, signed by another key': (
            {'exim_server_client_crl': pki.make_crl(ca, signer=pkis['other'])},
            r'exim_server_client_crl \(issuer CN=Fleet CA\) is not signed by any of'),
        'CRL past its nextUpdate': (
            {'exim_server_client_crl': pki.make_crl(ca, next_update_days=-1)},
            r'exim_server_client_crl of CN=Fleet CA is past its nextUpdate'),
        'two CRLs of one CA': (
            {'exim_server_client_crl': good_crl + good_crl},
            r'CN=Fleet CA has a second CRL'),
        'CA certificate as a client certificate': (
            {'exim_server_client_certs': [client_entry(ca)]},
            r'exim_server_client_certs lists CA certificates .* as client certificates: fleet-ca'),
        'policy ca without a CA': (
            {'exim_server_client_ca_certificates': [], 'exim_server_client_crl': ''},
            r'exim_server_relay_policy is ca but exim_server_client_ca_certificates is empty'),
        'unknown policy': (
            {'exim_server_relay_policy': 'anyone'},
            r'exim_server_relay_policy must be one of: allowlist, ca'),
    }


@pytest.fixture(scope='module')
def refusals(relay_server, pkis):
    """Every bad case as its own inventory host of one run against a deployed CA-mode relay."""
    relay = relay_server([], start=False, **ca_vars(pkis))
    cases = bad_inputs(pkis)
    hosts = {}
    for index, overrides in enumerate(value[0] for value in cases.values()):
        hosts[f'case{index}'] = dict(relay.variables(**overrides), ansible_connection='local',
                                     ansible_python_interpreter=sys.executable)
    before = tree_snapshot(relay.root)
    inventory = relay.root / 'bad-inputs.json'
    inventory.write_text(json.dumps({'all': {'hosts': hosts}}))
    result = run_playbook(role_playbook(relay.root, 'server'), {}, '--forks', '6', inventory=inventory)
    inventory.unlink()
    return result, before, tree_snapshot(relay.root), cases, relay


@pytest.mark.parametrize('case', [
    'CA certificate without keyCertSign', 'expired CA certificate', 'garbage CRL', 'certificate as the CRL',
    'CRL of another CA', 'CRL with the CA name, signed by another key', 'CRL past its nextUpdate',
    'two CRLs of one CA', 'CA certificate as a client certificate', 'policy ca without a CA', 'unknown policy'])
def test_bad_ca_input_is_refused_with_the_host_unchanged(refusals, case):
    result, before, after, cases, relay = refusals
    host = f'case{list(cases).index(case)}'
    failures = dict(re.findall(r'^fatal: \[(case\d+)\]: FAILED! => (.*)$', result.output, re.MULTILINE))
    assert host in failures, result.output[-3000:]
    assert re.search(cases[case][1], failures[host]), failures[host]
    assert result.recap(host).get('changed') == 0
    assert after == before
    assert relay.server.key_pem.splitlines()[1] not in result.output


def test_a_revoked_certificate_is_refused_even_when_listed(relay_server, pkis):
    """Its own file in the trust directory does not make a revoked CA-issued certificate verify
    (measured with GnuTLS 3.7.9): the CRL wins over the allowlist."""
    revoked = pki.issue_cert('dora', pkis['ca'])
    relay = relay_server([pkis['ann'], revoked],
                         **ca_vars(pkis, crl=pki.make_crl(pkis['ca'], [revoked]), policy='allowlist'))
    assert rcpt(relay, pkis['ann']) == ALLOWED
    assert rcpt(relay, revoked) == REFUSED
    assert 'certrelay: untrusted client certificate: ' + revoked.fingerprint in relay.log_text()
