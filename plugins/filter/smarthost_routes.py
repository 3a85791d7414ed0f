# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: smarthost_routes
short_description: The relay ports a laptop tries in order, each with its protocol and probe
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Takes the smarthost and gives the ports to try, in order, each with C(port), C(protocol)
    (C(smtps) - TLS on connect, or C(smtp) - STARTTLS; C(smtps) for 465 and C(smtp) for other ports
    unless given) and C(transport) (the name of its smtp transport), and the router's C(transport)
    option - with several ports an Exim expansion (C(${readsocket})) that takes the first port that
    answers - an SMTP banner for C(smtp), a connection held silent (a TLS server waiting for the
    handshake) for C(smtps) - and the last one unprobed.
  - Exim's smtp transport has one protocol, so the client role writes a transport per port; the
    probe only picks the port, the transport still requires TLS and the pinned certificate.
  - Fails naming every bad entry (port out of range, unknown protocol or key, a port twice).
options:
  _input:
    description: The smarthost as the client connects to it (DNS name or IP address).
    type: str
    required: true
  ports:
    description: Ports (numbers) or dicts with C(port) and C(protocol), in order; empty for O(port) alone.
    type: list
    elements: raw
    default: []
  port:
    description: The port used when O(ports) is empty.
    type: int
    default: 25
  protocol:
    description: The protocol of O(port); empty for the port's default.
    type: str
    default: ""
  problems:
    description: Give the list of problems (empty when all is well; the host name and every port are checked) instead of the routes.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Implicit TLS first, then STARTTLS on 587 and 25
  ansible.builtin.debug:
    msg: "{{ 'relay.example.com' | certrelay.exim.smarthost_routes(ports=[465, 587, 25]) }}"
"""

RETURN = r"""
_value:
  description:
    - C(attempts) (dicts with C(port), C(protocol), C(transport)) and C(transport) (the router's option).
    - With O(problems=true) the list of problems instead.
  type: raw
  sample: {"attempts": [{"port": 465, "protocol": "smtps", "transport": "remote_smtp_smarthost_465"}],
           "transport": "${if match{${readsocket{inet:relay.example.com:465}...}"}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.module_utils.smarthost import attempts, host_problem, routes


def smarthost_routes(host, ports=None, port=25, protocol='', problems=False):
    if problems:
        found = attempts(ports or [], port, protocol or None)[1]
        return ([host_problem(host)] if host_problem(host) else []) + found
    try:
        return routes(str(host), ports or [], port, protocol or None)
    except ValueError as exc:
        raise AnsibleFilterError('smarthost_routes: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'smarthost_routes': smarthost_routes}
