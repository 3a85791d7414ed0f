#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin plugins/action/fleet.py; this file
# documents it for ansible-doc.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet
short_description: Read the fleet directory and the inventory once, for the fleet playbooks
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Runs on the controller. Reads the fleet directory in one pass - enrolled C(<laptop>.pem),
    announced C(<laptop>.next.pem), revoked C(revoked/<laptop>.pem), the CRL C(crl.pem) - parses every trusted
    certificate and computes its fingerprint in Exim's form, once.
  - Derives from the inventory, for the laptops of the run only, what each one's client role needs
    (its relay, smarthost, port and the certificates to pin), and checks the limit.
  - Returns everything as plain data, with every problem worded (an unusable file is named with its
    reason, its content never shown), so that one C(register) serves the whole run and the next
    step, M(certrelay.exim.fleet_record), needs no second read.
  - Changes nothing; use it with C(run_once) and C(delegate_to=localhost).
options:
  directory:
    description: The fleet directory (missing - an empty fleet).
    type: path
    required: true
  revoke:
    description:
      - A revocation request (comma-separated text or a list of laptop names). When given (even
        empty), the names are checked against the inventory and the fleet directory and returned
        as RV(revoking).
    type: raw
  expiry_warn_days:
    description:
      - Enrolled laptop certificates and relay certificates (C(exim_server_tls_certificate)) that end
        within this many days are returned as RV(expiring), each with a warning.
    type: int
    default: 30
  crl_days:
    description: Private-CA mode - the validity (nextUpdate) in days of a CRL issued by this run.
    type: int
    default: 90
  crl_renew_days:
    description:
      - Private-CA mode - the CRL is re-issued when its nextUpdate is within this many days (or past).
        Must be less than O(crl_days).
    type: int
    default: 30
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - certrelay.exim.controller_action
  - certrelay.exim.controller_action.read_only
notes:
  - Reads the task variables C(groups) (C(relays), C(laptops)), C(ansible_play_hosts_all) and, per
    host of the run, C(certrelay_relay), C(exim_client_smarthost), C(exim_client_smarthost_port),
    C(exim_client_smarthost_ports) (laptops) and C(certrelay_relay_address),
    C(exim_server_primary_hostname), C(exim_server_ports), C(exim_server_tls_on_connect_ports),
    C(exim_server_tls_certificate), C(certrelay_relay_next_certificate) (relays). Each host's
    variables are fetched once.
  - Private-CA mode - when the task variable C(certrelay_ca_certificate) is set, it, C(certrelay_ca_privatekey)
    and C(certrelay_ca_passphrase) are read by name (the key is never a task argument) and checked (a CA
    certificate valid now, the key that belongs to it, the passphrase that opens it); a problem is
    returned in RV(problems). The fleet directory's C(crl.pem) is read, and the CRL for the run planned
    - a new one (CRL number one higher) when there is none, when a revoked CA-issued certificate
    (C(revoked/) or one revoked in this run) is not listed, or when its nextUpdate is within
    O(crl_renew_days). M(certrelay.exim.fleet_record) writes it.
seealso:
  - module: certrelay.exim.fleet_record
"""

EXAMPLES = r"""
- name: Read the fleet directory and the inventory
  certrelay.exim.fleet:
    directory: "{{ inventory_dir }}/fleet"
  register: fleet
  run_once: true
  delegate_to: localhost

- name: Refuse a bad limit or an unusable fleet file before any host changes
  ansible.builtin.assert:
    that: fleet.problems | length == 0
    fail_msg: "{{ fleet.problems | join(' ') }}"
  run_once: true
"""

RETURN = r"""
expiring:
  description:
    - C(laptops) (enrolled certificates) and C(relays) (their C(exim_server_tls_certificate)) that end
      within O(expiry_warn_days) days or have ended, soonest first, each C(name), C(not_after)
      (C(YYYY-MM-DDTHH:MM:SSZ)) and C(days_left) (negative once expired).
  returned: always
  type: dict
directory:
  description: The fleet directory.
  returned: always
  type: str
enrolled:
  description: Laptop name to its certificate (PEM) for every C(<laptop>.pem).
  returned: always
  type: dict
announced:
  description: Laptop name to its announced next certificate (C(<laptop>.next.pem)).
  returned: always
  type: dict
revoked:
  description: Laptop name to its revoked certificate (C(revoked/<laptop>.pem)).
  returned: always
  type: dict
fingerprints:
  description: Entry name (C(laptop), C(laptop.next)) to the SHA-256 fingerprint in Exim's form.
  returned: always
  type: dict
  sample: {"laptop-a": "36A727B95BDF46EE44F1A1B7164C65EB7013B1D5EA17776B0203E13CE69A787D"}
trusted:
  description:
    - What the relays trust one by one, as C(exim_server_client_certs) of the server role (in private-CA
      mode, only the certificates the CA did not issue).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "laptop-a", "certificate": "-----BEGIN CERTIFICATE-----..."}]
authority:
  description:
    - Private-CA mode - C(certificate) (the CA certificate, PEM), C(crl) (the CRL for the run, PEM) and
      C(crl_reason) (why it is new - C(new CRL), C(revokes serial(s) ...), C(renewed (nextUpdate ...)) - or
      null when the directory's stays). Null in fingerprint mode.
  returned: always
  type: dict
crl:
  description: The fleet directory's C(crl.pem) as it is (null when there is none or in fingerprint mode).
  returned: always
  type: str
issued:
  description:
    - Private-CA mode - the entries (C(laptop), C(laptop.next), C(revoked/laptop)) whose certificate the
      CA issued; they are left out of RV(trusted).
  returned: always
  type: list
  elements: str
problems:
  description: Every reason to stop the run, worded; empty when all is well.
  returned: always
  type: list
  elements: str
  sample: ["/srv/fleet/laptop-z.pem is not a usable certificate: it holds a private key ..."]
relays:
  description: Relay name to C(address), C(port), C(ports) (in the laptops' order), C(current) and C(next) (announced) certificate.
  returned: always
  type: dict
laptops:
  description:
    - Laptop of the run to C(relay), C(smarthost), C(smarthost_port), C(smarthost_ports) and C(pins)
      (C(auto) - the relay's current certificate plus its announced one; C(next) - only the announced one).
    - C(smarthost_ports) - the relay's ports in the order the laptop tries them, C(port) and
      C(protocol) each - C(exim_server_tls_on_connect_ports) as C(smtps) first, then
      C(exim_server_ports) with STARTTLS, 25 last; empty for a relay with one port or a laptop
      with its own C(exim_client_smarthost_port).
  returned: always
  type: dict
revoking:
  description: The checked names of O(revoke) (empty without it).
  returned: always
  type: list
  elements: str
"""
