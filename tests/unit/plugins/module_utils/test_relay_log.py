"""certrelay.exim module_utils.relay_log: log parsing and certificate expiry without cryptography."""

import datetime
import gzip

import pytest

from ansible_collections.certrelay.exim.plugins.module_utils import relay_log
from tests.lib import pki

FP_A, FP_B, FP_X = 'A' * 64, 'B' * 64, 'C' * 64
LOG = f"""\
2026-11-20 10:00:00 1xYOAA-000001-AA certrelay: client ann fingerprint {FP_A}
2026-11-20 10:00:00 1xYOAA-000001-AA <= u@l H=(vm) [127.0.0.1] P=esmtps CV=yes S=475
2026-11-30 10:00:00 1xYOAB-000002-AB certrelay: client ann fingerprint {FP_A}
2026-11-30 10:00:00 1xYOAB-000002-AB <= u@l H=(vm) [127.0.0.1] P=esmtps CV=yes S=475
2026-11-30 10:00:01 1xYOAC-000003-AC certrelay: client bob fingerprint {FP_B}
2026-11-30 10:00:01 1xYOAC-000003-AC H=(vm) [127.0.0.1] F=<u@l> rejected after DATA
2026-11-30 10:00:02 H=(vm) [127.0.0.1] CV=yes F=<u@l> temporarily rejected RCPT <d@e>: certrelay: rate limit reached: \
client bob fingerprint {FP_B} rate 4.0 / 1h
2026-11-30 10:00:03 certrelay: verified certificate not in the allowlist: {FP_X} H=[192.0.2.7]:4100 \
DN="CN=x) H=forged [1.2.3.4] certrelay: untrusted client certificate: {FP_A} (CN=y"
2026-11-30 11:00:03 certrelay: verified certificate not in the allowlist: {FP_X} H=[192.0.2.8]:4100 \
DN="CN=x) H=forged [1.2.3.4] certrelay: untrusted client certificate: {FP_A} (CN=y"
2026-11-30 12:00:00 certrelay: untrusted client certificate: {FP_B} H=[192.0.2.9]:1 DN="OU=AAAA" truncated=15003
2026-11-30 12:00:01 H=(vm) [127.0.0.1] X=TLS1.3 CV=yes F=<u@l> rejected RCPT <d@e>: relay not permitted
"""


def summary_of(text, since='2026-11-25 00:00:00'):
    summary = relay_log.Summary(since)
    summary.feed(text.encode().splitlines(keepends=True))
    return summary


def test_messages_count_only_when_exim_received_them_and_in_the_window():
    clients = summary_of(LOG).clients
    assert clients['ann'] == dict(name='ann', fingerprints=[FP_A], messages=1, messages_total=2,
                                  last_seen='2026-11-30 10:00:00', rate_limited=0)
    # bob's message was rejected after DATA: not relayed; his deferral is counted
    assert clients['bob']['messages_total'] == 0 and clients['bob']['rate_limited'] == 1


def test_refused_certificates_are_keyed_by_fingerprint_and_kind_never_by_what_a_dn_says():
    refused = summary_of(LOG).refused
    assert set(refused) == {('verified', FP_X), ('untrusted', FP_B)}
    entry = refused[('verified', FP_X)]
    assert entry['count'] == 2 and entry['hosts'] == ['[192.0.2.7]', '[192.0.2.8]']
    assert (entry['first_seen'], entry['last_seen']) == ('2026-11-30 10:00:03', '2026-11-30 11:00:03')
    assert refused[('untrusted', FP_B)]['dn_truncated'] is True


def test_a_line_with_a_raw_quote_in_its_dn_is_not_a_record():
    bad = f'2026-11-30 12:00:00 certrelay: untrusted client certificate: {FP_B} H=[192.0.2.9]:1 DN="a"b"\n'
    assert summary_of(bad).refused == {}


def test_rotated_gzip_and_plain_logs_are_read_once_each(tmp_path):
    lines = LOG.splitlines(keepends=True)
    with gzip.open(tmp_path / 'mainlog.1.gz', 'wt') as handle:
        handle.writelines(lines[:4])
    (tmp_path / 'mainlog').write_text(''.join(lines[4:]))
    summary, files = relay_log.summarize([str(tmp_path / 'mainlog'), str(tmp_path / 'mainlog.*'),
                                          str(tmp_path / 'missing')], '2026-11-25 00:00:00')
    assert files == [str(tmp_path / 'mainlog'), str(tmp_path / 'mainlog.1.gz')]
    assert summary.clients['ann']['messages_total'] == 2
    assert summary.lines == len(lines)


def test_window_start_is_in_the_logs_form():
    now = datetime.datetime(2026, 12, 1, 13, 0, 0)
    assert relay_log.window_start(7, now) == '2026-11-24 13:00:00'


@pytest.mark.parametrize('kind', ['rsa', 'ec', 'ed25519'])
@pytest.mark.parametrize('days', [3, 20000])  # UTCTime until 2049, GeneralizedTime after
def test_not_after_matches_cryptography(kind, days):
    cred = pki.client_cert('x', kind=kind, days=days)
    assert relay_log.not_after(cred.cert_der) == cred.cert.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')


def test_not_after_refuses_truncated_der():
    with pytest.raises((ValueError, IndexError)):
        relay_log.not_after(pki.client_cert('x').cert_der[:100])
