# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ports a laptop tries on its relay, in order, each with its protocol.

Standard library only. Exim's smtp transport has one protocol (smtps or smtp) and cannot expand it,
so each port gets a transport of its own. The router takes the first whose port answers a
probe at routing time (${readsocket}: an SMTP banner for smtp, a connection answered by
anything but a banner for smtps); the last port is taken unprobed, so a network that blocks every port leaves the message
queued for the last one. The probe only chooses the port: the transport still requires TLS, the
pinned certificate and the hostname check, so an impostor that answers the probe gets nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

PROTOCOLS = ('smtps', 'smtp')
IMPLICIT_TLS_PORT = 465
# Seconds a probe waits for the banner: a network that drops the port costs this much per message.
PROBE_TIMEOUT = 3


# RFC 1123 labels; the name goes into the route and into ${readsocket}, so nothing else may pass.
_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOSTNAME = re.compile(r'%s(?:\.%s)*\.?' % (_LABEL, _LABEL))


def host_problem(host):
    """Why host cannot be the smarthost (a DNS name or an IP address), or None."""
    text = host if isinstance(host, str) else ''
    try:
        ipaddress.ip_address(text[1:-1] if text.startswith('[') and text.endswith(']') else text)
        return None
    except ValueError:
        pass
    if len(text) <= 253 and _HOSTNAME.fullmatch(text):
        return None
    return 'exim_client_smarthost must be a host name or an IP address (got %r)' % (host,)


def default_protocol(port):
    """smtps for 465 (implicit TLS, RFC 8314), smtp (STARTTLS) for every other port."""
    return 'smtps' if int(port) == IMPLICIT_TLS_PORT else 'smtp'


def _port(value):
    if isinstance(value, bool):
        raise ValueError
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError
    return port


def attempts(ports, port, protocol):
    """([{'port', 'protocol'}], [problem]): ports (ints or {port, protocol} dicts) in order, or
    [port with protocol] when ports is empty; a port without protocol gets default_protocol()."""
    problems, found = [], []
    items = ports if ports else [{'port': port, 'protocol': protocol}]
    if not isinstance(items, list):
        return [], ['exim_client_smarthost_ports must be a list of ports or {port, protocol} items']
    for index, item in enumerate(items):
        entry = item if isinstance(item, dict) else {'port': item}
        name = 'exim_client_smarthost_ports[%d]' % index if ports else 'exim_client_smarthost_port'
        try:
            number = _port(entry.get('port'))
        except (TypeError, ValueError):
            problems.append('%s: the port must be a number from 1 to 65535 (got %r)' % (name, entry.get('port')))
            continue
        chosen = entry.get('protocol') or default_protocol(number)
        if chosen not in PROTOCOLS:
            problems.append('%s: the protocol must be smtps (TLS on connect) or smtp (STARTTLS), got %r'
                            % (name, chosen))
            continue
        unknown = sorted(set(entry) - {'port', 'protocol'})
        if unknown:
            problems.append('%s: unknown keys %s (only port and protocol)' % (name, ', '.join(unknown)))
            continue
        if any(seen['port'] == number for seen in found):
            problems.append('%s: port %d is listed twice' % (name, number))
            continue
        found.append({'port': number, 'protocol': chosen})
    return found, problems


def _socket(host, port):
    address = host.strip('[]')
    return 'inet:[%s]:%d' % (address, port) if ':' in address else 'inet:%s:%d' % (address, port)


def probe(host, port, protocol):
    """An Exim condition, true when host:port answers as a server of the protocol would.

    smtp: an SMTP banner (QUIT ends the session cleanly). smtps: a connection whose answer is not
    an SMTP banner - a TLS server waits for a ClientHello and, when the probe shuts its side down,
    closes with a TLS alert (GnuTLS) or nothing; a plain-text server greets; a blocked port fails,
    which the fail string makes look like a greeting. Exim 4.96 crashes in ${readsocket} with
    tls=yes, so the probe makes no handshake, and the relay logs a "non-properly terminated" TLS
    error for it. Used in the router's transport option, not as a router condition: a failed
    readsocket leaves a lookup defer behind, which makes a router condition defer the message
    instead of passing it on."""
    socket = _socket(host, port)
    banner = '{\\N^220[ -]\\N}'
    if protocol == 'smtps':
        return '!match{${readsocket{%s}{}{%ds}{ }{220 unreachable}}}%s' % (socket, PROBE_TIMEOUT, banner)
    return 'match{${readsocket{%s}{QUIT\\r\\n}{%ds}{ }{}}}%s' % (socket, PROBE_TIMEOUT, banner)


def routes(host, ports, port, protocol):
    """{'attempts': [{port, protocol, transport}], 'transport': the router's transport option}.

    One port: its transport, remote_smtp_smarthost. Several: remote_smtp_smarthost_<port> each,
    and an expansion that takes the first port whose probe answers, the last one unprobed."""
    found, problems = attempts(ports, port, protocol)
    problems = ([host_problem(host)] if host_problem(host) else []) + problems
    if problems:
        raise ValueError('; '.join(problems))
    name = 'remote_smtp_smarthost'
    for entry in found:
        entry['transport'] = '%s_%d' % (name, entry['port']) if len(found) > 1 else name
    choice = found[-1]['transport']
    for entry in reversed(found[:-1]):
        choice = '${if %s{%s}{%s}}' % (probe(host, entry['port'], entry['protocol']), entry['transport'], choice)
    return {'attempts': found, 'transport': choice}
