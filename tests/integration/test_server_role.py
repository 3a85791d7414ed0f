"""certrelay.exim.server in the standalone layout against a real Exim and real swaks on loopback.

One relay per allowlist mode (macro, file, dbm; module-scoped); the tests run in file order, revocation last.
"""

import stat
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import client_entry
from tests.lib import exim, pki
from tests.lib.ansible import tree_snapshot

ALLOWED = '250 Accepted'
REFUSED = '550 relay not permitted'


@pytest.fixture(scope='module')
def creds():
    ca = pki.make_cert('fleet-ca', 'Fleet CA')
    return {
        'alice': pki.client_cert('alice', kind='rsa'),
        'bob': pki.client_cert('bob', kind='ec'),
        # chains to a trusted CA but is not itself allowlisted: "verified but unknown"
        'carol': pki.make_cert('carol', 'carol.example.com', issuer=ca),
        'ca': ca,
        'stranger': pki.client_cert('stranger'),
        'dave': pki.client_cert('dave', kind='ed25519'),
    }


@pytest.fixture(scope='module', params=['macro', 'file', 'dbm'])
def relay(request, relay_server, creds):
    return relay_server([creds['alice'], creds['bob'], creds['ca']], allowlist=request.param)


def delivered(relay, subject):
    return exim.wait_for(lambda: exim.file_has(relay.mailbox, rf'^Subject: {subject}$'), timeout=10)


@pytest.mark.parametrize('name', ['alice', 'bob'])
def test_allowed_certificate_relays(relay, creds, name):
    subject = f'allowed-{name}-{relay.allowlist}'
    result = relay.swaks(creds[name], subject=subject)
    assert result.rcpt_reply == ALLOWED, result.transcript
    assert delivered(relay, subject)


def test_verified_but_unknown_certificate_is_refused_and_logged(relay, creds):
    result = relay.swaks(creds['carol'])
    assert result.rcpt_reply == REFUSED, result.transcript
    assert exim.wait_for(lambda: f'not in the allowlist: {creds["carol"].fingerprint}' in relay.log_text())


def test_untrusted_certificate_is_refused_and_logged(relay, creds):
    result = relay.swaks(creds['stranger'])
    assert result.rcpt_reply == REFUSED, result.transcript
    assert exim.wait_for(lambda: f'untrusted client certificate: {creds["stranger"].fingerprint}'
                         in relay.log_text())


def test_tls_without_certificate_is_refused(relay):
    result = relay.swaks()
    assert result.tls_started
    assert result.rcpt_reply == REFUSED, result.transcript


def test_plain_smtp_is_refused(relay):
    result = relay.swaks(tls=False)
    assert result.rcpt_reply == REFUSED, result.transcript


def test_files_and_permissions(relay, creds):
    names = sorted(p.name for p in relay.trust_dir.glob('*.pem'))
    assert names == ['alice.pem', 'bob.pem', 'fleet-ca.pem']
    assert (relay.trust_dir / 'alice.pem').read_text() == creds['alice'].cert_pem
    # Debian's Exim is a GnuTLS build, which never looks at hash links: rehash=auto writes none
    # (tests/integration/test_openssl_server.py checks the links of an OpenSSL build)
    assert [p for p in relay.trust_dir.iterdir() if p.is_symlink()] == []
    key = relay.current / 'server.key'
    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0
    assert key.group() == 'Debian-exim'
    assert stat.S_IMODE(relay.current.stat().st_mode) == 0o750
    assert stat.S_IMODE(relay.state_dir.stat().st_mode) == 0o750
    assert 'PRIVATE KEY' not in relay.config.read_text()
    macros = (relay.current / 'allowlist.conf').read_text()
    # membership is never in the configuration itself, in any mode
    assert creds['alice'].fingerprint not in relay.config.read_text()
    lines = relay.allowlist_file.read_text().splitlines()
    assert f'{creds["alice"].fingerprint}: alice' in lines
    if relay.allowlist != 'macro':
        dbm = Path(f'{relay.allowlist_file}.db')
        assert dbm.exists() == (relay.allowlist == 'dbm')
        assert (f'RELAY_FROM_CERTS_FILE = {dbm}\n' in macros) == (relay.allowlist == 'dbm')
    else:
        assert creds['alice'].fingerprint in macros


def test_second_run_changes_nothing(relay):
    before = tree_snapshot(relay.root / 'etc', relay.config)
    result = relay.apply()
    assert result.returncode == 0, result.output
    assert result.changed == 0, result.output
    assert tree_snapshot(relay.root / 'etc', relay.config) == before


def test_mailbox_spool_and_log_inside_the_base_directory_converge(relay_server, creds):
    root = Path(tempfile.mkdtemp(prefix='certrelay-server-'))
    root.chmod(0o755)
    base = root / 'etc'
    inside = {'exim_server_spool_directory': str(base / 'spool'), 'exim_server_log_directory': str(base / 'log'),
              'exim_server_deliver_to_file': str(base / 'mail' / 'relayed')}
    probe = relay_server([creds['alice']], start=False, root=root, **inside)
    before = tree_snapshot(base, probe.config)
    again = probe.apply()
    assert again.returncode == 0 and again.changed == 0, again.output
    assert tree_snapshot(base, probe.config) == before
    for path, owner, mode in [(base, 'root', 0o755), (base / 'spool', 'Debian-exim', 0o750),
                              (base / 'log', 'Debian-exim', 0o750), (base / 'mail', 'Debian-exim', 0o750)]:
        assert (path.owner(), path.group(), stat.S_IMODE(path.stat().st_mode)) == (owner, 'Debian-exim', mode), path
    probe.start()
    assert probe.swaks(creds['alice'], subject='inside-base').rcpt_reply == ALLOWED
    assert exim.wait_for(lambda: exim.file_has(base / 'mail' / 'relayed', r'^Subject: inside-base$'), timeout=10)


def test_check_mode_with_diff_reports_but_writes_nothing(relay, creds):
    if relay.allowlist != 'macro':
        pytest.skip('same tasks in every mode; check mode is covered with the macro relay (suite time)')
    before = tree_snapshot(relay.root / 'etc', relay.config)
    wanted = [creds['alice'], creds['ca'], creds['dave'], client_entry(creds['bob'], 'absent')]
    result = relay.apply(wanted, check=True, diff=True)
    assert result.returncode == 0, result.output
    assert result.changed > 0
    assert 'dave.pem ' + creds['dave'].fingerprint in result.output  # summary diff
    assert 'PRIVATE KEY' not in result.output
    assert relay.server.key_pem.splitlines()[1] not in result.output
    assert tree_snapshot(relay.root / 'etc', relay.config) == before


def test_revoked_client_is_refused_after_rerun(relay, creds):
    config_before = relay.config.read_bytes()
    result = relay.apply([creds['alice'], creds['ca'], client_entry(creds['bob'], 'absent')])
    assert result.returncode == 0, result.output
    assert result.changed > 0
    assert not (relay.trust_dir / 'bob.pem').exists()
    assert all(link.exists() for link in relay.trust_dir.iterdir())  # no dangling hash link
    # membership lives in the relay state: the Exim configuration is untouched
    assert relay.config.read_bytes() == config_before
    assert creds['bob'].fingerprint not in relay.allowlist_file.read_text()
    assert creds['bob'].fingerprint not in (relay.current / 'allowlist.conf').read_text()
    relay.reload()
    assert relay.swaks(creds['bob']).rcpt_reply == REFUSED
    assert relay.swaks(creds['alice']).rcpt_reply == ALLOWED
    again = relay.apply()
    assert again.returncode == 0 and again.changed == 0, again.output


def test_certificates_given_as_file_lookups(relay, creds):
    """The README's form: one lookup('file', ...) per certificate, found beside the playbook."""
    if relay.allowlist != 'file':
        pytest.skip('the same controller-side step in every mode (suite time)')
    fleet = relay.root / 'fleet'
    fleet.mkdir(exist_ok=True)
    entries = []
    for name in ('alice', 'ca'):
        (fleet / f'{creds[name].name}.pem').write_text(creds[name].cert_pem)
        entries.append({'name': creds[name].name,
                        'certificate': "{{ lookup('ansible.builtin.file', 'fleet/%s.pem') }}" % creds[name].name})
    result = relay.apply(entries)
    assert result.returncode == 0, result.output
    assert sorted(p.name for p in relay.trust_dir.glob('*.pem')) == ['alice.pem', 'fleet-ca.pem']
    assert (relay.trust_dir / 'alice.pem').read_text() == creds['alice'].cert_pem
    again = relay.apply(entries)
    assert again.returncode == 0 and again.changed == 0, again.output


def test_standalone_config_validates(relay):
    assert exim.check_config(Path(relay.config)).returncode == 0


def test_no_task_per_certificate(relay, creds):
    """Performance hook: the play's output (tasks, loop items) is the same for 3 and 40 clients."""
    if relay.allowlist != 'macro':
        pytest.skip('covered with the macro relay (suite time)')
    few = relay.apply([creds['alice'], creds['bob'], creds['ca']], check=True)
    many = relay.apply([pki.client_cert(f'laptop{i}', kind='ec') for i in range(40)], check=True)
    assert few.returncode == 0 and many.returncode == 0, many.output
    assert len(many.stdout.splitlines()) == len(few.stdout.splitlines()), many.stdout
