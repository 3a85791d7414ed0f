"""Relay operations against a real Exim: client names in the log, the per-certificate rate limit,
refused certificates logged safely whatever their DN, and the log reports of certrelay.exim.relay_log.

One standalone relay per allowlist mode (macro, file, dbm; module-scoped); tests run in file order.
"""

import datetime
import gzip
import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from tests.lib import exim, pki
from tests.lib.ansible import REPO, run_playbook, tree_snapshot

PLAYBOOKS = REPO / 'playbooks'

ALLOWED = '250 Accepted'
REFUSED = '550 relay not permitted'
LIMIT = 3
# A line of Exim's main log: date, time, optional message id, text.
LINE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:(?P<id>[-0-9A-Za-z]{16,23}) )?(?P<text>.*)$')
LOOKALIKE = 'x) H=forged [1.2.3.4] certrelay: verified certificate not in the allowlist: 0000 (CN=laptop-new'


def hostile_cert(name: str, attributes, issuer: pki.Credential | None = None) -> pki.Credential:
    """A certificate whose subject is exactly `attributes` (no length checks: an attacker's)."""
    key = pki.new_key('ec')
    now = datetime.datetime.now(datetime.UTC)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # the lengths are the point
        subject = x509.Name([x509.NameAttribute(oid, value, _validate=False) for oid, value in attributes])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=3)))
    return pki.Credential(name, builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


HOSTILE_DNS = {
    'lookalike': [(NameOID.COMMON_NAME, LOOKALIKE)],
    'huge': [(NameOID.ORGANIZATIONAL_UNIT_NAME, 'A' * 5000)] * 3,
    'control': [(NameOID.COMMON_NAME, 'a\nb\r2026-12-01 00:00:00 certrelay: \x1b[2J"q\\d\x7f\xe9')],
}


@pytest.fixture(scope='module')
def creds():
    ca = pki.make_cert('fleet-ca', 'Fleet CA')
    found = {'ann': pki.client_cert('ann'), 'bob': pki.client_cert('bob', kind='ec'),
             'carol': pki.client_cert('carol'), 'ca': ca}
    for label, attributes in HOSTILE_DNS.items():
        # issued by the trusted CA: verified but not allowlisted; self-signed: untrusted
        found[f'verified-{label}'] = hostile_cert(f'verified-{label}', attributes, issuer=ca)
        found[f'untrusted-{label}'] = hostile_cert(f'untrusted-{label}', attributes)
    return found


@pytest.fixture(scope='module', params=['macro', 'file', 'dbm'])
def relay(request, relay_server, creds):
    return relay_server([creds['ann'], creds['bob'], creds['carol'], creds['ca']], allowlist=request.param,
                        exim_server_ratelimit=f'{LIMIT} / 1h')


def log_lines(relay):
    return relay.log_text().splitlines()


def test_accepted_message_log_lines_name_the_laptop(relay, creds):
    for name in ('ann', 'bob'):
        result = relay.swaks(creds[name], subject=f'named-{name}')
        assert result.rcpt_reply == ALLOWED, result.transcript
        queue_id = re.search(r'250 OK id=(\S+)', result.transcript).group(1)
        assert exim.wait_for(lambda queue_id=queue_id: f'{queue_id} <= ' in relay.log_text())
        own = [line for line in log_lines(relay) if f' {queue_id} ' in line]
        assert f'certrelay: client {name} fingerprint {creds[name].fingerprint}' in '\n'.join(own), own
        assert any(' <= ' in line for line in own), own


def test_rate_limit_defers_one_laptop_and_names_it(relay, creds):
    cert, key = creds['carol'].write(relay.root / 'client-creds')
    # a message counts once, whatever its number of recipients
    several = exim.swaks(relay.port, cert=cert, key=key, subject='carol-several',
                         to='one@external.example.org,two@external.example.org,three@external.example.org')
    assert several.transcript.count(ALLOWED) == 3 and '250 OK id=' in several.transcript, several.transcript
    for number in range(LIMIT - 1):
        assert relay.swaks(creds['carol'], subject=f'carol-{number}').rcpt_reply == ALLOWED
    over = relay.swaks(creds['carol'], subject='carol-over')
    assert over.rcpt_reply.startswith('451 rate limit of this client certificate reached'), over.transcript
    assert exim.wait_for(lambda: re.search(
        rf'temporarily rejected RCPT .*certrelay: rate limit reached: client carol fingerprint '
        rf'{creds["carol"].fingerprint}', relay.log_text()))
    # another laptop is unaffected
    assert relay.swaks(creds['bob'], subject='bob-after-carol').rcpt_reply == ALLOWED
    # the hints database is the relay's own, under its spool directory
    assert (relay.root / 'spool' / 'db' / 'ratelimit').is_file()


@pytest.mark.parametrize('value', ['200', '200 per hour', '200 / 1h / per_rcpt', '1h / 200'])
def test_a_bad_rate_limit_is_refused_before_the_host_changes(relay, value):
    if relay.allowlist != 'file':
        pytest.skip('controller-side check, the same in every mode')
    before = tree_snapshot(relay.state_dir, relay.config)
    result = relay.apply(exim_server_ratelimit=value)
    assert result.returncode != 0
    assert 'exim_server_ratelimit must be "<count> / <period>"' in result.output, result.output
    assert tree_snapshot(relay.state_dir, relay.config) == before


@pytest.mark.parametrize('label', sorted(HOSTILE_DNS))
@pytest.mark.parametrize('kind, text', [('verified', 'verified certificate not in the allowlist'),
                                        ('untrusted', 'untrusted client certificate')])
def test_hostile_dn_gives_one_bounded_line_with_its_fingerprint(relay, creds, label, kind, text):
    cred = creds[f'{kind}-{label}']
    before = len(log_lines(relay))
    result = relay.swaks(cred)
    assert result.rcpt_reply == REFUSED, result.transcript
    assert exim.wait_for(lambda: 'rejected RCPT' in '\n'.join(log_lines(relay)[before:]))
    new = log_lines(relay)[before:]
    assert not any('overflowed' in line for line in new), new
    assert all(LINE.match(line) for line in new), new
    mine = [line for line in new if 'certrelay:' in line]
    assert len(mine) == 1, new
    line = LINE.match(mine[0]).group('text')
    match = re.fullmatch(rf'certrelay: {text}: ([0-9A-F]{{64}}) H=\[127\.0\.0\.1\]:\d+ DN="([^"]*)"( truncated=\d+)?', line)
    assert match, line
    assert match.group(1) == cred.fingerprint
    assert len(line) < 1200
    assert (match.group(3) is not None) == (label == 'huge')
    # the rejection line is Exim's and carries the host
    assert any(re.search(r'H=\S* ?\[127\.0\.0\.1\].* rejected RCPT <dest@external\.example\.org>: relay not permitted', n)
               for n in new), new


def write_inventory(relay) -> Path:
    inventory = relay.root / 'report-inventory.json'
    inventory.write_text(json.dumps({'all': {'children': {'relays': {'hosts': {'relay-1': {
        'ansible_connection': 'local',
        'ansible_python_interpreter': sys.executable,
        'exim_server_layout': 'standalone',
        'exim_server_config_file': str(relay.config),
        'exim_server_log_directory': str(relay.root / 'log'),
        'exim_server_state_directory': str(relay.state_dir),
    }}}}}}))
    return inventory


def test_report_and_pending_read_current_and_rotated_logs(relay, creds):
    if relay.allowlist != 'file':
        pytest.skip('the log is the same in every allowlist mode; read it once')
    log = relay.root / 'log'
    # logrotate's way: rename, compress, and the daemon's next line starts a new mainlog
    (log / 'mainlog').rename(log / 'mainlog.1')
    with open(log / 'mainlog.1', 'rb') as plain, gzip.open(log / 'mainlog.1.gz', 'wb') as packed:
        shutil.copyfileobj(plain, packed)
    (log / 'mainlog.1').unlink()
    result = relay.swaks(creds['ann'], subject='after-rotation')
    assert result.rcpt_reply == ALLOWED, result.transcript
    assert exim.wait_for(lambda: exim.file_has(log / 'mainlog', r' <= '))
    inventory = write_inventory(relay)
    # (the running Exim keeps writing its current logs)
    before = tree_snapshot(relay.state_dir, log / 'mainlog.1.gz')
    for check in (False, True):
        report = run_playbook(PLAYBOOKS / 'report.yml', {'certrelay_report_days': 2}, inventory=inventory, check=check)
        assert report.returncode == 0, report.output
        assert re.search(r'"ann: 2 message\(s\) in the last 2 days, last seen \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, '
                         r'certificate expires \d{4}-\d\d-\d\dT[\d:]+Z \((29|30) days\)"', report.stdout), report.stdout
        assert re.search(r'"bob: 2 message\(s\) in the last 2 days', report.stdout), report.stdout
        assert re.search(r'"carol: 3 message\(s\) .*, rate-limited 1 time\(s\)"', report.stdout), report.stdout
        pending = run_playbook(PLAYBOOKS / 'pending.yml', inventory=inventory, check=check)
        assert pending.returncode == 0, pending.output
        verified, untrusted = pending.stdout.partition('"Untrusted (does not verify')[::2]
        for label in HOSTILE_DNS:
            for kind, section, other in (('verified', verified, untrusted), ('untrusted', untrusted, verified)):
                fingerprint = creds[f'{kind}-{label}'].fingerprint
                assert re.search(rf'"{fingerprint} DN=.*: 1 time\(s\), first ', section), pending.stdout
                assert fingerprint not in other
        assert creds['ann'].fingerprint not in pending.stdout
    assert tree_snapshot(relay.state_dir, log / 'mainlog.1.gz') == before
