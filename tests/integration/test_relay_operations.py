"""Relay operations against a real Exim: client names in the log, the per-certificate rate limit,
refused certificates logged safely whatever their DN, and the log reports of certrelay.exim.relay_log.

One standalone relay per allowlist mode (macro, file, dbm; module-scoped); tests run in file order.
"""

import datetime
import warnings
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from tests.lib import exim, pki

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


def message_ids(relay, subject):
    """The relay's ids of the messages it accepted with this subject (from the delivered copies)."""
    found = re.findall(rf'^Message-Id: .*$\n(?:.*\n)*?^Subject: {subject}$', relay.mailbox.read_text(), re.M)
    return found


def test_accepted_message_log_lines_name_the_laptop(relay, creds):
    for name in ('ann', 'bob'):
        result = relay.swaks(creds[name], subject=f'named-{name}')
        assert result.rcpt_reply == ALLOWED, result.transcript
        queue_id = re.search(r'250 OK id=(\S+)', result.transcript).group(1)
        assert exim.wait_for(lambda: f'{queue_id} <= ' in relay.log_text())
        own = [line for line in log_lines(relay) if f' {queue_id} ' in line]
        assert f'certrelay: client {name} fingerprint {creds[name].fingerprint}' in '\n'.join(own), own
        assert any(' <= ' in line for line in own), own


def test_rate_limit_defers_one_laptop_and_names_it(relay, creds):
    for number in range(LIMIT):
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
