"""certrelay.exim.server in private-CA mode on Exim built with OpenSSL, real swaks.

OpenSSL builds trust the system CA store in addition to tls_verify_certificates; under
exim_server_relay_policy ca a certificate from a CA in that store verifies, and only the role's
tls:cert check (the chain must end at a client CA) keeps it from relaying. The stand-in public CA
is made system-trusted for the test only (tests/lib/openssl.py).
"""

import os

import pytest

from tests.integration.test_server_ca_mode import ALLOWED, REFUSED, converge, rcpt
from tests.lib import openssl, pki


@pytest.fixture(scope='module')
def pkis():
    ca = pki.ca_cert('fleet-ca', 'Fleet CA')
    standin = pki.ca_cert('standin-public-ca', 'Stand-in Public Root CA')
    return {'ca': ca, 'ann': pki.issue_cert('ann', ca), 'carl': pki.issue_cert('carl', ca),
            'standin': standin, 'public': pki.issue_cert('public-laptop', standin)}


def ca_vars(pkis, crl):
    return {'exim_server_relay_policy': 'ca', 'exim_server_client_ca_certificates': [pkis['ca'].cert_pem],
            'exim_server_client_crl': crl}


@pytest.fixture(scope='module')
def relay(relay_server, openssl_exim, pkis):
    return relay_server([], binary=openssl_exim, rhel=True, gather_facts=False, **ca_vars(pkis, pki.make_crl(pkis['ca'])))


def test_the_ca_is_in_the_trust_directory_with_its_hash_link(relay, pkis):
    name = f'ca+{pkis["ca"].fingerprint[:16]}.pem'
    assert (relay.trust_dir / name).is_file()
    links = {entry.name: os.readlink(entry) for entry in relay.trust_dir.iterdir() if entry.is_symlink()}
    digest = openssl.subject_hash(relay.trust_dir / name)
    assert links == {f'{digest}.0': name}


def test_ca_issued_relays_until_revoked_by_a_converge(relay, pkis):
    assert rcpt(relay, pkis['ann']) == ALLOWED
    assert rcpt(relay, pkis['carl']) == ALLOWED
    converge(relay, exim_server_client_crl=pki.make_crl(pkis['ca'], [pkis['carl']], number=2))
    assert rcpt(relay, pkis['carl']) == REFUSED
    assert 'error=certificate revoked cert=/CN=carl.example.com' in relay.log_text()
    assert rcpt(relay, pkis['ann']) == ALLOWED


@pytest.fixture(scope='module')
def relay_without_crl(relay_server, openssl_exim, pkis):
    """No CRL: OpenSSL's CRL checks (every CA of the chain needs one) would refuse the stand-in's
    client by accident; without them only the role's chain check stands between it and relaying."""
    return relay_server([], binary=openssl_exim, rhel=True, gather_facts=False, **ca_vars(pkis, ''))


def test_a_certificate_from_a_system_trusted_ca_never_relays(relay_without_crl, pkis):
    relay = relay_without_crl
    assert rcpt(relay, pkis['ann']) == ALLOWED
    with openssl.system_trusted_ca(pkis['standin'].cert_pem):
        answer = rcpt(relay, pkis['public'])
    log = relay.log_text()
    assert answer == REFUSED, log[-3000:]
    # it verified (the system store), so it is the chain check that refused it
    assert 'certrelay: verified certificate not in the allowlist: ' + pkis['public'].fingerprint in log


def test_without_the_chain_check_the_system_trusted_ca_would_relay(relay_without_crl, pkis):
    """The same relay with its tls:cert ACL made to pass every chain: the stand-in's client relays,
    so the test above can fail. Exim reads the ACL file when the event runs: no restart."""
    relay = relay_without_crl
    acl = relay.current / 'acl_tls_cert'
    original, st = acl.read_bytes(), acl.stat()
    unguarded = original.replace(b'{eq{$acl_arg3}{gnutls}}', b'{eq{$acl_arg3}{$acl_arg3}}')
    assert unguarded != original
    spare = acl.with_name('.acl_tls_cert.test')
    try:
        spare.write_bytes(unguarded)
        os.chown(spare, st.st_uid, st.st_gid)
        spare.chmod(st.st_mode & 0o777)
        spare.rename(acl)
        with openssl.system_trusted_ca(pkis['standin'].cert_pem):
            answer = rcpt(relay, pkis['public'])
    finally:
        spare.write_bytes(original)
        os.chown(spare, st.st_uid, st.st_gid)
        spare.chmod(st.st_mode & 0o777)
        spare.rename(acl)
    assert answer == ALLOWED
    with openssl.system_trusted_ca(pkis['standin'].cert_pem):
        assert rcpt(relay, pkis['public']) == REFUSED


def test_a_revoked_certificate_is_refused_even_when_listed(relay_server, openssl_exim, pkis):
    revoked = pki.issue_cert('dora', pkis['ca'])
    relay = relay_server([pkis['ann'], revoked], binary=openssl_exim, rhel=True, gather_facts=False,
                         **dict(ca_vars(pkis, pki.make_crl(pkis['ca'], [revoked])), exim_server_relay_policy='allowlist'))
    assert rcpt(relay, pkis['ann']) == ALLOWED
    assert rcpt(relay, revoked) == REFUSED
