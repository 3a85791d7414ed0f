# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a relay's Exim main log says about its clients, read in one pass.

Standard library only (runs on targets). The lines it understands are the ones the server role's
ACLs write (see roles/server/templates/acl-rules.j2, data-rules.j2) and Exim's own `<=` lines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import glob
import gzip
import os
import re

# date, time, optional fraction and zone (log_selector +millisec, log_timezone), optional [pid],
# optional message id; group 'text' is what follows.
_HEAD = (rb'^(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)?(?: [-+]\d{4})?(?: \[\d+\])?'
         rb'(?: (?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}))? ')
# Anchored at the start of the text: a DN inside a line can never start a record of its own.
CLIENT = re.compile(_HEAD + rb'certrelay: client (?P<name>\S+) fingerprint (?P<fp>[0-9A-F]{64})$')
RECEIVED = re.compile(_HEAD + rb'<= ')
REFUSED = re.compile(_HEAD + rb'certrelay: (?P<kind>verified certificate not in the allowlist|untrusted client certificate): '
                     rb'(?P<fp>[0-9A-F]{64}) H=(?P<host>\S+) DN="(?P<dn>[^"]*)"(?: truncated=(?P<size>\d+))?$')
LIMITED = re.compile(_HEAD + rb'.* temporarily rejected RCPT .*: certrelay: rate limit reached: client (?P<name>\S*) '
                     rb'fingerprint (?P<fp>[0-9A-F]{64}) ')
KINDS = {b'verified certificate not in the allowlist': 'verified', b'untrusted client certificate': 'untrusted'}
GZIP_MAGIC = b'\x1f\x8b'


def log_files(patterns):
    """The regular files the patterns (paths or globs) name, each once, in the order given."""
    found, seen = [], set()
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
            if path not in seen and os.path.isfile(path):
                seen.add(path)
                found.append(path)
    return found


def open_log(path):
    """A binary line iterator over a log file, gzip-compressed or not (rotated logs)."""
    with open(path, 'rb') as handle:
        magic = handle.read(2)
    return gzip.open(path, 'rb') if magic == GZIP_MAGIC else open(path, 'rb')


def client_entry(name):
    return dict(name=name, fingerprints=[], messages=0, messages_total=0, last_seen=None, rate_limited=0)


class Summary(object):
    """Counts over the lines it is fed: per client (accepted messages, rate-limit deferrals) and
    per refused certificate. `since`: 'YYYY-MM-DD HH:MM:SS' (the log's own form), the window start."""

    def __init__(self, since):
        self.since = since.encode('ascii')
        self.clients = {}
        self.refused = {}
        self._pending = {}  # message id -> (name, fingerprint) until its <= line
        self.lines = 0

    def _client(self, name):
        return self.clients.setdefault(name, client_entry(name))

    def feed(self, lines):
        for line in lines:
            self.lines += 1
            # cheap tests first: most lines of a busy relay are neither
            if b' <= ' in line:
                match = RECEIVED.match(line)
                if match and match.group('id') in self._pending:
                    self._received(match, *self._pending.pop(match.group('id')))
            elif b'certrelay: ' in line:
                self._certrelay(line.rstrip(b'\r\n'))

    def _certrelay(self, line):
        match = CLIENT.match(line)
        if match and match.group('id'):
            self._pending[match.group('id')] = (match.group('name').decode('ascii', 'replace'),
                                                match.group('fp').decode('ascii'))
            return
        match = REFUSED.match(line)
        if match:
            when = match.group('when').decode('ascii')
            key = (KINDS[match.group('kind')], match.group('fp').decode('ascii'))
            entry = self.refused.get(key)
            if entry is None:
                entry = self.refused[key] = dict(
                    kind=key[0], fingerprint=key[1], dn=match.group('dn').decode('ascii', 'replace'),
                    dn_truncated=match.group('size') is not None, count=0, first_seen=when, last_seen=when,
                    hosts=[])
            entry['count'] += 1
            entry['first_seen'] = min(entry['first_seen'], when)
            entry['last_seen'] = max(entry['last_seen'], when)
            host = match.group('host').decode('ascii', 'replace').rsplit(':', 1)[0]
            if host not in entry['hosts'] and len(entry['hosts']) < 20:
                entry['hosts'].append(host)
            return
        match = LIMITED.match(line)
        if match:
            client = self._client(match.group('name').decode('ascii', 'replace'))
            client['rate_limited'] += 1

    def _received(self, match, name, fingerprint):
        when = match.group('when').decode('ascii')
        client = self._client(name)
        if fingerprint not in client['fingerprints']:
            client['fingerprints'].append(fingerprint)
        client['messages_total'] += 1
        if match.group('when') >= self.since:
            client['messages'] += 1
        if client['last_seen'] is None or when > client['last_seen']:
            client['last_seen'] = when


def summarize(paths, since):
    """(Summary, files read) over every file, each read once."""
    summary = Summary(since)
    files = log_files(paths)
    for path in files:
        with open_log(path) as handle:
            summary.feed(handle)
    return summary, files


def window_start(days, now=None):
    """The start of the last `days` days in the log's form (local time, as Exim writes it)."""
    now = now or datetime.datetime.now()
    return (now - datetime.timedelta(days=days)).strftime('%Y-%m-%d %H:%M:%S')


def _tlv(data, pos):
    """(tag, start of value, end of value) of the DER element at pos."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], 'big')
        pos += count
    if pos + length > len(data):
        raise ValueError('truncated DER')
    return tag, pos, pos + length


def not_after(der):
    """The notAfter of a DER certificate as 'YYYY-MM-DDTHH:MM:SSZ' (no cryptography on targets)."""
    pos = _tlv(der, 0)[1]              # Certificate
    pos, end = _tlv(der, pos)[1:]      # tbsCertificate
    elements = []
    while pos < end and len(elements) < 6:
        tag, start, pos = _tlv(der, pos)
        elements.append((tag, start, pos))
    if elements[0][0] == 0xA0:         # explicit version
        elements = elements[1:]
    tag, pos, end = elements[3]        # serial, signature, issuer, validity
    if tag != 0x30:
        raise ValueError('no validity in certificate')
    pos = _tlv(der, pos)[2]            # notBefore
    tag, start, stop = _tlv(der, pos)  # notAfter
    text = der[start:stop].decode('ascii')
    if tag == 0x17:                    # UTCTime, RFC 5280: YY < 50 is 20YY
        text = ('20' if int(text[:2]) < 50 else '19') + text
    return '%s-%s-%sT%s:%s:%sZ' % (text[0:4], text[4:6], text[6:8], text[8:10], text[10:12], text[12:14])
