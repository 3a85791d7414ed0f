#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: relay_log
short_description: What a relay's Exim logs say about its clients and the certificates it refused
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - >-
    Reads the relay's main logs (current and rotated, gzip-compressed or not) once, on the relay,
    and returns per client the messages relayed (by the C(certrelay: client) line the server role's
    DATA ACL writes with the message's id, counted when Exim's C(<=) line for that id follows) and
    per refused certificate (C(verified certificate not in the allowlist) or C(untrusted client
    certificate)) its fingerprint, DN as logged, count, first and last time seen.
  - With O(state_directory), also every client the relay trusts now (from the allowlist of the
    current generation) with its certificate's expiry, and refused certificates that have been
    allowlisted since are left out.
  - Reads only; changes nothing.
options:
  logs:
    description: Log files or glob patterns (C(/var/log/exim4/mainlog*)); files that do not exist are skipped.
    type: list
    elements: path
    required: true
  days:
    description: The report window - C(messages) counts the messages of the last O(days) days.
    type: int
    default: 7
  state_directory:
    description: The relay state directory of M(certrelay.exim.relay_state) (C(<state_directory>/current)).
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - certrelay.exim.attributes
notes:
  - Log times are the log's own (Exim writes local time); the window is computed in the relay's local time.
  - A DN is returned exactly as logged, escaped by the role's ACL (C(\\ooo) octal for quotes,
    backslashes, control and 8-bit bytes) and cut at 256 bytes (C(dn_truncated)).
"""

EXAMPLES = r"""
- name: Read the relay's logs
  certrelay.exim.relay_log:
    logs: [/var/log/exim4/mainlog, /var/log/exim4/mainlog.*]
    days: 30
    state_directory: /etc/exim4/certrelay/state
  register: relay_log
"""

RETURN = r"""
clients:
  description:
    - One entry per client, sorted by name - C(name), C(fingerprints) seen in the logs, C(messages) (in
      the window), C(messages_total) (in the logs read), C(last_seen) (log time or null), C(rate_limited)
      (deferrals by the rate limit), C(trusted) (in the current allowlist), C(fingerprint),
      C(not_after) (C(YYYY-MM-DDTHH:MM:SSZ)) and C(expires_in_days) of the certificate trusted now
      (null when not trusted).
  returned: always
  type: list
  elements: dict
refused:
  description:
    - C(verified) (chains to the trust directory, not allowlisted - typically a laptop waiting for enrolment)
      and C(untrusted) (does not verify), each a list sorted by last time seen, newest first, of
      C(fingerprint), C(dn), C(dn_truncated), C(count), C(first_seen), C(last_seen), C(hosts) (up to 20).
  returned: always
  type: dict
report:
  description: The same as text, one line per entry - C(clients), C(verified), C(untrusted) (lists of strings).
  returned: always
  type: dict
files:
  description: The log files read.
  returned: always
  type: list
  elements: str
lines:
  description: Number of log lines read.
  returned: always
  type: int
since:
  description: Start of the window, in the log's time format.
  returned: always
  type: str
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.module_utils import relay_log
from ansible_collections.certrelay.exim.plugins.module_utils.files import read_bytes
from ansible_collections.certrelay.exim.plugins.module_utils.pem import CertificateError, pem_certificate_ders


def trusted_now(state_directory):
    """name -> (fingerprint, notAfter or None) of the current generation's allowlist."""
    current = os.path.join(state_directory, 'current')
    listed = (read_bytes(os.path.join(current, 'allowlist')) or b'').decode('ascii', 'replace')
    found = {}
    for line in listed.splitlines():
        fingerprint, name = line.partition(': ')[::2]
        if line.startswith('#') or not name:
            continue
        expiry = None
        pem = read_bytes(os.path.join(current, 'trust', name + '.pem'))
        try:
            expiry = relay_log.not_after(pem_certificate_ders(pem.decode('ascii'), name)[0]) if pem else None
        except (CertificateError, ValueError, IndexError, UnicodeDecodeError):
            pass
        found[name] = (fingerprint, expiry)
    return found


def days_left(not_after, now):
    if not not_after:
        return None
    end = datetime.datetime.strptime(not_after, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    return int((end - now).total_seconds() // 86400)


def client_lines(clients, days):
    lines = []
    for entry in clients:
        if entry['trusted']:
            expiry = 'certificate expires %s (%s days)' % (entry['not_after'] or 'unknown', entry['expires_in_days'])
        else:
            expiry = 'no longer trusted'
        lines.append('%s: %d message(s) in the last %d days, last seen %s, %s%s' % (
            entry['name'], entry['messages'], days, entry['last_seen'] or 'never', expiry,
            ', rate-limited %d time(s)' % entry['rate_limited'] if entry['rate_limited'] else ''))
    return lines


def refused_lines(entries):
    return ['%s DN="%s"%s: %d time(s), first %s, last %s, from %s' % (
        e['fingerprint'], e['dn'], ' (truncated)' if e['dn_truncated'] else '', e['count'], e['first_seen'],
        e['last_seen'], ' '.join(e['hosts'])) for e in entries]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            logs=dict(type='list', elements='path', required=True),
            days=dict(type='int', default=7),
            state_directory=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['days'] < 1:
        module.fail_json(msg='days must be a whole number of days, at least 1 (got %d)' % params['days'])
    since = relay_log.window_start(params['days'])
    try:
        summary, files = relay_log.summarize(params['logs'], since)
    except (OSError, EOFError) as exc:
        module.fail_json(msg='cannot read the relay logs: %s' % to_native(exc))
    trusted = trusted_now(params['state_directory']) if params['state_directory'] else {}
    clients = summary.clients
    for name, (fingerprint, expiry) in trusted.items():
        entry = clients.setdefault(name, relay_log.client_entry(name))
        entry.update(fingerprint=fingerprint, not_after=expiry)
    now = datetime.datetime.now(datetime.timezone.utc)
    for entry in clients.values():
        entry.setdefault('fingerprint', None)
        entry.setdefault('not_after', None)
        entry['trusted'] = entry['name'] in trusted
        entry['expires_in_days'] = days_left(entry['not_after'], now)
    allowlisted = set(item[0] for item in trusted.values())
    refused = dict(verified=[], untrusted=[])
    for entry in sorted(summary.refused.values(), key=lambda e: e['last_seen'], reverse=True):
        if entry['fingerprint'] not in allowlisted:
            refused[entry['kind']].append(dict((k, v) for k, v in entry.items() if k != 'kind'))
    listed = [clients[name] for name in sorted(clients)]
    module.exit_json(changed=False, clients=listed, refused=refused, files=files, lines=summary.lines, since=since,
                     report=dict(clients=client_lines(listed, params['days']),
                                 verified=refused_lines(refused['verified']),
                                 untrusted=refused_lines(refused['untrusted'])))


if __name__ == '__main__':
    main()
