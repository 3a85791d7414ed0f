"""What differs between Debian's GnuTLS build of Exim and the OpenSSL build, measured side by side.

Each case runs the same hand-written relay (loopback, client certificates tried against a trust
directory, RCPT accepted only with a verified certificate) on both builds and asserts each build's
own answer; docs/tls-libraries.md is the table of these answers.
"""

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.lib import exim, openssl, pki

ALLOWED = '250 Accepted'
REFUSED = '550 relay not permitted'

ACL = """\
log_selector = +tls_peerdn +tls_certificate_verified
{extra}
begin acl
acl_rcpt:
  accept  verify = certificate
  deny    message = relay not permitted
"""


@pytest.fixture(params=['gnutls', 'openssl'])
def build(request):
    """(name, binary, user) of one build; the OpenSSL one needs its session user exim."""
    if request.param == 'gnutls':
        return 'gnutls', exim.EXIM, exim.EXIM_USER
    return 'openssl', request.getfixturevalue('openssl_exim'), openssl.RHEL_USER


@contextmanager
def relay(build, base: Path, trusted=(), extra: str = '', links: bool = False, verify_file: bool = False):
    """The relay on build with trusted (PEM texts) in base/trust (verify_file: concatenated in
    base/trust.pem, named by tls_verify_certificates instead); yields its port."""
    binary, user = build[1:]
    base.mkdir(parents=True)
    base = exim.make_traversable(base)
    for sub in ('spool', 'log', 'trust'):
        (base / sub).mkdir()
    server = pki.server_cert()
    (base / 'relay.crt').write_text(server.cert_pem)
    (base / 'relay.key').write_text(server.key_pem)
    shutil.chown(base / 'relay.key', 'root', user)
    (base / 'relay.key').chmod(0o640)
    for index, pem in enumerate(trusted):
        (base / 'trust' / f'c{index}.pem').write_text(pem)
    if links:
        subprocess.run(['openssl', 'rehash', str(base / 'trust')], check=True)
    port = exim.free_port()
    config = base / 'relay.conf'
    text = exim.minimal_relay_config(base, port, ACL.format(extra=extra))
    if verify_file:
        (base / 'trust.pem').write_text(''.join(trusted))
        text = text.replace(f'tls_verify_certificates = {base}/trust\n', f'tls_verify_certificates = {base}/trust.pem\n')
    config.write_text(text)
    exim.chown_exim(base / 'spool', base / 'log', user=user)
    with exim.daemon(config, port, binary=binary):
        yield port


def rcpt(port, cred=None, base=None):
    cert = key = None
    if cred is not None:
        cert, key = cred.write(base / 'client')
    return exim.swaks(port, '--quit-after', 'RCPT', cert=cert, key=key).rcpt_reply


def by_build(build, **answers):
    return answers[build[0]]


def test_hash_links_decide_only_on_openssl(build, tmp_path):
    laptop = pki.client_cert('laptop', kind='ec')
    with relay(build, tmp_path / 'relay', [laptop.cert_pem]) as port:
        without = rcpt(port, laptop, tmp_path)
    with relay(build, tmp_path / 'linked', [laptop.cert_pem], links=True) as port:
        linked = rcpt(port, laptop, tmp_path)
    assert (without, linked) == by_build(build, gnutls=(ALLOWED, ALLOWED), openssl=(REFUSED, ALLOWED))


def test_a_link_removed_while_running(build, tmp_path):
    """OpenSSL looks links up per connection: a removed link refuses at once, no HUP."""
    laptop = pki.client_cert('laptop', kind='ec')
    with relay(build, tmp_path / 'relay', [laptop.cert_pem], links=True) as port:
        assert rcpt(port, laptop, tmp_path) == ALLOWED
        for link in (tmp_path / 'relay' / 'trust').iterdir():
            if link.is_symlink():
                link.unlink()
        assert rcpt(port, laptop, tmp_path) == by_build(build, gnutls=ALLOWED, openssl=REFUSED)


def test_same_subject_self_signed_certificates_without_key_identifiers(build, tmp_path):
    """OpenSSL picks a trust anchor by subject: of two self-signed certificates with one subject
    and no key identifiers only the first link's verifies. With identifiers (openssl req -x509,
    the client role's generated certificates) both do."""
    plain = [pki.make_cert(f'twin{i}', 'twin.example.com', kind='ec') for i in range(2)]
    with_ids = [pki.make_cert(f'kid{i}', 'kid.example.com', kind='ec', key_ids=True) for i in range(2)]
    with relay(build, tmp_path / 'relay', [c.cert_pem for c in plain + with_ids], links=True) as port:
        answers = sorted(rcpt(port, cred, tmp_path) for cred in plain)
        assert [rcpt(port, cred, tmp_path) for cred in with_ids] == [ALLOWED, ALLOWED]
    assert answers == by_build(build, gnutls=[ALLOWED, ALLOWED], openssl=[ALLOWED, REFUSED])


def test_a_ca_in_the_system_store_verifies_client_certificates_on_openssl(build, tmp_path):
    ca = pki.make_cert('standin-ca', 'Stand-in Public Root CA', key_ids=True)
    issued = pki.make_cert('public-laptop', 'laptop.example.com', issuer=ca, key_ids=True)
    with relay(build, tmp_path / 'relay', links=True) as port:
        assert rcpt(port, issued, tmp_path) == REFUSED
        with openssl.system_trusted_ca(ca.cert_pem):
            answer = rcpt(port, issued, tmp_path)
    assert answer == by_build(build, gnutls=REFUSED, openssl=ALLOWED)


def crl_file(directory: Path, ca, revoked=(), next_update_days=7, readable=True) -> Path:
    """A CRL of ca in directory; readable=False leaves the directory traversable only (0711) for
    the Exim user, as pytest's tmp_path is."""
    directory.mkdir(parents=True)
    path = directory / 'crl.pem'
    path.write_text(pki.make_crl(ca, revoked, next_update_days=next_update_days))
    path.chmod(0o644)
    directory.chmod(0o755 if readable else 0o711)
    return path


@pytest.mark.parametrize('verify_file', [False, True], ids=['ca-in-directory', 'ca-file'])
@pytest.mark.parametrize('expired', [False, True], ids=['crl-current', 'crl-past-next-update'])
def test_private_ca_with_a_crl(build, tmp_path, expired, verify_file):
    """tls_crl beside a private CA: the revoked client is refused on both builds. Once the CRL's
    nextUpdate has passed, OpenSSL refuses *every* client ("CRL has expired"); GnuTLS goes on
    applying it (the revoked client refused, the others relay)."""
    ca = pki.ca_cert('fleet-ca', 'Fleet CA')
    good, bad = pki.issue_cert('good', ca), pki.issue_cert('bad', ca)
    path = crl_file(tmp_path / 'crl', ca, [bad], next_update_days=-1 if expired else 7)
    base = tmp_path / 'relay'
    with relay(build, base, [ca.cert_pem], extra=f'tls_crl = {path}', links=True, verify_file=verify_file) as port:
        answers = (rcpt(port, good, tmp_path), rcpt(port, bad, tmp_path))
        log = (base / 'log' / 'mainlog').read_text(errors='replace')
    if expired:
        assert answers == by_build(build, gnutls=(ALLOWED, REFUSED), openssl=(REFUSED, REFUSED)), log
    else:
        assert answers == (ALLOWED, REFUSED), log
    assert ('CRL has expired' in log) == (expired and build[0] == 'openssl'), log


def test_a_crl_exim_cannot_watch_is_ignored_on_gnutls(build, tmp_path):
    """Exim 4.96 (GnuTLS) preloads the CRL only when it can watch the CRL's directory (inotify
    needs read access); otherwise, with the CA bundle preloaded, it never loads the CRL and a
    revoked client relays. OpenSSL builds read the CRL for each connection."""
    ca = pki.ca_cert('fleet-ca', 'Fleet CA')
    bad = pki.issue_cert('bad', ca)
    path = crl_file(tmp_path / 'crl', ca, [bad], readable=False)
    with relay(build, tmp_path / 'relay', [ca.cert_pem], extra=f'tls_crl = {path}', links=True) as port:
        answer = rcpt(port, bad, tmp_path)
    assert answer == by_build(build, gnutls=ALLOWED, openssl=REFUSED)


def test_a_crl_makes_openssl_refuse_self_signed_clients(build, tmp_path):
    """Exim's OpenSSL code sets X509_V_FLAG_CRL_CHECK_ALL with tls_crl: every certificate of the
    chain needs a CRL of its issuer, so a self-signed client certificate in the trust directory
    (fingerprint mode) fails with "unable to get certificate CRL". GnuTLS still verifies it."""
    ca = pki.ca_cert('fleet-ca', 'Fleet CA')
    laptop = pki.make_cert('laptop', 'laptop.example.com', kind='ec', key_ids=True)
    path = crl_file(tmp_path / 'crl', ca)
    base = tmp_path / 'relay'
    with relay(build, base, [ca.cert_pem, laptop.cert_pem], extra=f'tls_crl = {path}', links=True) as port:
        answer = rcpt(port, laptop, tmp_path)
        log = (base / 'log' / 'mainlog').read_text(errors='replace')
    assert answer == by_build(build, gnutls=ALLOWED, openssl=REFUSED), log
    assert ('unable to get certificate CRL' in log) == (build[0] == 'openssl'), log


def test_tls_1_0_by_default(build, tmp_path):
    """The same relay, no TLS options: does a TLS 1.0-only client get a session?"""
    with relay(build, tmp_path / 'relay') as port:
        probe = subprocess.run(['openssl', 's_client', '-connect', f'127.0.0.1:{port}', '-starttls', 'smtp',
                                '-tls1', '-cipher', 'DEFAULT@SECLEVEL=0'],
                               input='', capture_output=True, text=True, timeout=30, check=False)
    negotiated = 'Protocol  : TLSv1\n' in probe.stdout or 'Protocol: TLSv1\n' in probe.stdout
    assert negotiated == by_build(build, gnutls=True, openssl=True), probe.stdout[-1500:] + probe.stderr[-800:]
