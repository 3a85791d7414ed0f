# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the modules tell Exim and ask of it: allowlist files and conditions, validation, reloads.

Standard library only (runs on targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import tempfile
import time

# Exim's own form of the peer certificate's fingerprint (upper-case hex, no colons).
PEER_FINGERPRINT = '${sha256:$tls_in_peercert}'
# The word the role's ACL text uses for "this certificate is allowlisted"; the standalone layout
# defines it as a macro (allowlist.conf), the Debian layout's ACL file gets the condition itself.
ALLOWED_TOKEN = 'CERTRELAY_ALLOWED'
# Likewise for "the allowlist name of this certificate" (empty when it is not listed).
NAME_TOKEN = 'CERTRELAY_CLIENT_NAME'
# A fake SMTP session (-bh) from a TEST-NET address without TLS must be refused with this: it
# catches ACL expansion errors that -bV cannot see.
PROBE_REPLY = '550 relay not permitted'
PROBE_SESSION = ('EHLO probe.invalid\r\nMAIL FROM:<probe@probe.invalid>\r\n'
                 'RCPT TO:<probe@relay-probe.invalid>\r\nQUIT\r\n')


def lsearch_allowlist(fingerprints):
    """The allowlist as an Exim lsearch file: one `FINGERPRINT: name` line per name, sorted."""
    lines = ['# Written by certrelay.exim; Exim lsearch: fingerprint: client name']
    lines += ['%s: %s' % (fingerprints[name], name) for name in sorted(fingerprints)]
    return ('\n'.join(lines) + '\n').encode('ascii')


def _lookup(mode, lsearch_path, dbm_path):
    kind, path = ('dbm', dbm_path) if mode == 'dbm' else ('lsearch', lsearch_path)
    return '${lookup{%s}%s{%s}' % (PEER_FINGERPRINT, kind, path)


def _names(fingerprints):
    """`FINGERPRINT=name` pairs for ${extract}: names never hold spaces or "=" (entries.NAME)."""
    return ' '.join('%s=%s' % (fingerprints[name], name) for name in sorted(fingerprints))


def allowed_condition(mode, fingerprints, lsearch_path, dbm_path):
    """An Exim expansion that is true for an allowlisted peer certificate, for any mode."""
    if mode == 'macro':
        listed = ' : '.join(fingerprints[name] for name in sorted(fingerprints))
        return '${if inlist{%s}{%s}}' % (PEER_FINGERPRINT, listed)
    return _lookup(mode, lsearch_path, dbm_path) + '{true}{false}}'


def client_name(mode, fingerprints, lsearch_path, dbm_path):
    """An Exim expansion giving the allowlist name of the peer certificate, empty when unlisted.

    The lsearch file (and its dbm index) already maps fingerprint to name; macro mode has no file,
    so the pairs are in the expansion itself."""
    if mode == 'macro':
        return '${extract{%s}{%s}}' % (PEER_FINGERPRINT, _names(fingerprints))
    return _lookup(mode, lsearch_path, dbm_path) + '}'


def substitute(text, mode, fingerprints, lsearch_path, dbm_path):
    """An ACL file's text with the allowlist tokens replaced by their expansions."""
    paths = (lsearch_path, dbm_path)
    return (text.replace(ALLOWED_TOKEN, allowed_condition(mode, fingerprints, *paths))
            .replace(NAME_TOKEN, client_name(mode, fingerprints, *paths)))


def tokenize(text, mode, fingerprints, lsearch_path, dbm_path):
    """The inverse of substitute() for the same allowlist."""
    paths = (lsearch_path, dbm_path)
    return (text.replace(allowed_condition(mode, fingerprints, *paths), ALLOWED_TOKEN)
            .replace(client_name(mode, fingerprints, *paths), NAME_TOKEN))


def allowlist_macros(mode, fingerprints, lsearch_path, dbm_path):
    """Main-section macros for an `.include`: RELAY_FROM_CERTS(_FILE), CERTRELAY_ALLOWED and
    CERTRELAY_CLIENT_NAME."""
    lines = ['# Written by certrelay.exim: the clients allowed to relay (%s mode).' % mode]
    if mode == 'macro':
        names = sorted(fingerprints)
        if names:
            lines.append('RELAY_FROM_CERTS = \\')
            lines += ['  %s%s' % (fingerprints[name], ' : \\' if i < len(names) - 1 else '')
                      for i, name in enumerate(names)]
        else:
            lines.append('RELAY_FROM_CERTS =')
        # one pair a line, as above: a fleet's worth on one line would be unreadable
        lines.append('RELAY_CLIENT_NAMES =%s' % (' \\' if names else ''))
        lines += ['  %s=%s%s' % (fingerprints[name], name, ' \\' if i < len(names) - 1 else '')
                  for i, name in enumerate(names)]
        lines.append('%s = ${if inlist{%s}{RELAY_FROM_CERTS}}' % (ALLOWED_TOKEN, PEER_FINGERPRINT))
        lines.append('%s = ${extract{%s}{RELAY_CLIENT_NAMES}}' % (NAME_TOKEN, PEER_FINGERPRINT))
    else:
        kind = 'dbm' if mode == 'dbm' else 'lsearch'
        lines.append('RELAY_FROM_CERTS_FILE = %s' % (dbm_path if mode == 'dbm' else lsearch_path))
        lines.append('%s = ${lookup{%s}%s{RELAY_FROM_CERTS_FILE}{true}{false}}' % (ALLOWED_TOKEN, PEER_FINGERPRINT, kind))
        lines.append('%s = ${lookup{%s}%s{RELAY_FROM_CERTS_FILE}}' % (NAME_TOKEN, PEER_FINGERPRINT, kind))
    return ('\n'.join(lines) + '\n').encode('ascii')


# `exim -bV` names the TLS library it was built with on this line, e.g. "Support for: ... OpenSSL ...".
SUPPORT_LINE = re.compile(r'^Support for:(.*)$', re.MULTILINE)
TLS_LIBRARIES = {'OpenSSL': 'openssl', 'GnuTLS': 'gnutls'}


def tls_library(module, exim):
    """'openssl' or 'gnutls': the TLS library the Exim binary exim was built with, None when
    the binary cannot tell (missing, not runnable, built without TLS).

    An empty configuration (-C /dev/null): the binary's own compiled-in one may not exist yet.
    """
    path = exim if os.path.isabs(exim) else module.get_bin_path(exim)
    if not path or not os.access(path, os.X_OK):
        return None
    rc, out, err = module.run_command([path, '-C', os.devnull, '-bV'])
    match = SUPPORT_LINE.search(out or '')
    words = match.group(1).split() if match else []
    for word, library in TLS_LIBRARIES.items():
        if word in words:
            return library
    return None


def validate_config(module, exim, config, probe=True):
    """None when `exim -C config -bV` passes and (probe) the relay probe is refused, else the reason."""
    rc, out, err = module.run_command([exim, '-C', config, '-bV'])
    if rc != 0:
        return 'exim -bV failed: %s' % (err or out).strip()
    if not probe:
        return None
    rc, out, err = module.run_command([exim, '-C', config, '-bh', '192.0.2.1'], data=PROBE_SESSION,
                                      binary_data=True)
    if PROBE_REPLY not in out + err:
        return ('ACL probe: RCPT from 192.0.2.1 without a certificate was not refused: %s'
                % (out + err).strip()[-2000:])
    return None


def process_start(pid):
    """Start time of a process in seconds since the epoch, or None when it does not run."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        with open('/proc/stat') as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith('btime '))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return boot + int(fields[19]) / float(os.sysconf('SC_CLK_TCK'))


def exim_pid(pid_file):
    """The pid in an Exim pid file when that process runs and is an Exim daemon (-bd), else None:
    a stale file's number may belong to another process by now."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().split()[0])
        with open('/proc/%d/comm' % pid) as handle:
            comm = handle.read().strip()
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            args = handle.read().split(b'\0')
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm.startswith('exim') and any(arg.startswith(b'-bd') for arg in args) else None


def newest_change(paths):
    """The latest change time (ctime or mtime, links not followed) of the paths that exist."""
    newest = 0.0
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        newest = max(newest, st.st_mtime, st.st_ctime)
    return newest


def stamp_time(path):
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def write_stamp(path):
    """A new file renamed over path: never written through a link planted there."""
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + '-', dir=os.path.dirname(path))
    with os.fdopen(fd, 'w') as handle:
        handle.write('%s\n' % time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)
