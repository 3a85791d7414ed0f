# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the fleet playbooks derive from the inventory, computed once per run in Python.

`hostvars` is anything that maps a host name to a mapping of its variables (Ansible's hostvars
on the controller, plain dicts in tests). Each host's variables are fetched once: with Ansible's
hostvars every fetch merges that host's variables, which is what made the Jinja version slow.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    load_certificate,
    not_after_utc,
)

DEFAULT_PORT = 25
LAPTOP_VARS = ('certrelay_relay', 'exim_client_smarthost', 'exim_client_smarthost_port',
               'exim_client_smarthost_ports', 'exim_client_layout')
# The client role's default layout; only the standalone one can try several ports.
DEFAULT_LAYOUT = 'debian'


def host_vars(hostvars, host, names):
    """{name: value} of the variables of host that are defined, fetched in one go."""
    variables = hostvars[host]
    found = {}
    for name in names:
        try:
            found[name] = variables[name]
        except KeyError:
            pass
    return found


def relay_problems(relays, run_hosts):
    """A bad limit: no relays at all, or relays left out of the run."""
    if not relays:
        return ['The inventory has no group "relays".']
    missing = [name for name in relays if name not in set(run_hosts)]
    if missing:
        return ['The limit leaves out the relay(s) %s, which would keep trusting the old set of laptops. '
                "Keep every relay in the limit, e.g. -l 'relays,laptop-7'." % ', '.join(missing)]
    return []


def _trim(value):
    return (value or '').strip()


def relay_links(relays, hostvars):
    """{relay: how laptops reach and pin it}: address, port, current and announced certificate."""
    links = {}
    for relay in relays:
        found = host_vars(hostvars, relay, ('certrelay_relay_address', 'exim_server_primary_hostname',
                                            'exim_server_ports', 'exim_server_tls_on_connect_ports',
                                            'exim_server_tls_certificate', 'certrelay_relay_next_certificate'))
        address = found.get('certrelay_relay_address') or found.get('exim_server_primary_hostname') or relay
        ports = found.get('exim_server_ports') or [DEFAULT_PORT]
        links[relay] = {
            'address': address,
            'port': ports[0],
            'ports': laptop_ports(ports, found.get('exim_server_tls_on_connect_ports') or []),
            'current': _trim(found.get('exim_server_tls_certificate')),
            'next': _trim(found.get('certrelay_relay_next_certificate')),
        }
    return links


def laptop_ports(starttls, implicit):
    """The relay's ports in the order a laptop tries them (exim_client_smarthost_ports): implicit TLS
    first (nothing in clear text), then the STARTTLS ports with 25 last (the port guest networks
    block most); [] for a relay with one port, which the laptop then uses alone."""
    implicit = [int(port) for port in implicit]
    rest = [int(port) for port in starttls if int(port) not in implicit]
    ordered = [{'port': port, 'protocol': 'smtps'} for port in implicit]
    ordered += [{'port': port, 'protocol': 'smtp'} for port in sorted(rest, key=lambda port: port == DEFAULT_PORT)]
    return ordered if len(ordered) > 1 else []


def pins(link):
    """What a laptop pins: 'auto' (current, plus the announced successor while there is one) and
    'next' (only the successor, the last step of a relay rotation)."""
    auto = '\n'.join(pem for pem in (link['current'], link['next']) if pem)
    return {'auto': auto, 'next': link['next'] or auto}


def laptop_settings(laptops, relays, hostvars, links):
    """({laptop: settings for certrelay.exim.client}, [problem]) for the laptops of the run.

    An exim_client_smarthost, exim_client_smarthost_port or exim_client_smarthost_ports of the
    inventory wins over the value derived from the laptop's relay (laptop_ports(); the whole list
    for a standalone laptop, its first port for one of the debian layout).
    """
    settings, wrong = {}, []
    for laptop in laptops:
        found = host_vars(hostvars, laptop, LAPTOP_VARS)
        relay = found.get('certrelay_relay', relays[0] if relays else None)
        if relay not in links:
            wrong.append(laptop)
            continue
        link = links[relay]
        # a port of the laptop's own in the inventory means that port alone; Debian's smarthost
        # transport has one port, so a debian-layout laptop gets the first one it would try
        own_port = 'exim_client_smarthost_port' in found
        several = found.get('exim_client_layout', DEFAULT_LAYOUT) == 'standalone' and not own_port
        ports = found.get('exim_client_smarthost_ports', link['ports'] if several else [])
        first = link['ports'][0] if link['ports'] and not own_port else {'port': link['port'], 'protocol': None}
        settings[laptop] = {
            'relay': relay,
            'smarthost': found.get('exim_client_smarthost', link['address']),
            'smarthost_port': found.get('exim_client_smarthost_port', first['port']),
            'smarthost_ports': ports,
            'pins': pins(link),
        }
    problems = []
    if wrong:
        problems.append('certrelay_relay must name a host of the group "relays"; wrong for: %s' % ', '.join(wrong))
    return settings, problems


def revoke_names(value):
    """certrelay_revoke as a list: comma-separated text or a list, trimmed, duplicates dropped."""
    if not value:
        return []
    items = value.split(',') if isinstance(value, str) else value
    names = []
    for item in items:
        name = str(item).strip()
        if name and name not in names:
            names.append(name)
    return names


def revoke_problems(names, known):
    """A revocation must name laptops, and only known ones: a typo must not look like success."""
    if not names:
        return ['Name the laptops to revoke: -e certrelay_revoke=laptop-7,laptop-8.']
    unknown = [name for name in names if name not in set(known)]
    if unknown:
        return ['Unknown laptop(s): %s. Known: %s.' % (', '.join(unknown), ', '.join(known))]
    return []


def unpinned(relay, next_certificate, settings, pinned, revoked=()):
    """The laptops of relay that do not pin next_certificate yet (pinned: {laptop: what it pins}).

    Revoked laptops are left alone by the playbooks, so they are not waited for."""
    return [laptop for laptop, setting in sorted(settings.items())
            if setting['relay'] == relay and laptop not in revoked
            and next_certificate not in pinned.get(laptop, '')]


def expiring_certificates(laptop_expiry, links, days, now):
    """{'laptops': [...], 'relays': [...]} of the certificates that end within `days` days (or
    already have), soonest first, each {name, not_after, days_left}, and one warning per entry.

    laptop_expiry: enrolled laptop -> end of validity (announced successors do not count: they
    are the rotation already under way); links: relay_links(). A relay certificate that does not
    parse is left to the server role, which names the problem."""
    limit = now + datetime.timedelta(days=days)

    def entry(name, end):
        return {'name': name, 'not_after': end.strftime('%Y-%m-%dT%H:%M:%SZ'),
                'days_left': int((end - now).total_seconds() // 86400)}

    laptops = [entry(name, end) for name, end in laptop_expiry.items() if end <= limit]
    relays = []
    for relay, link in links.items():
        try:
            end = not_after_utc(load_certificate(link['current'], 'it')) if link['current'] else None
        except CertificateError:
            end = None
        if end is not None and end <= limit:
            relays.append(entry(relay, end))
    found = {'laptops': sorted(laptops, key=lambda e: (e['not_after'], e['name'])),
             'relays': sorted(relays, key=lambda e: (e['not_after'], e['name']))}
    warnings = ['the certificate of laptop %s %s %s (%s days): certrelay.exim.rotate -e certrelay_rotate=expiring '
                'renews it' % (e['name'], 'expires' if e['days_left'] >= 0 else 'expired', e['not_after'], e['days_left'])
                for e in found['laptops']]
    warnings += ['the certificate of relay %s %s %s (%s days): announce a new one (certrelay_relay_next_certificate) '
                 'and run certrelay.exim.rotate -e certrelay_rotate=relays'
                 % (e['name'], 'expires' if e['days_left'] >= 0 else 'expired', e['not_after'], e['days_left'])
                 for e in found['relays']]
    return found, warnings
