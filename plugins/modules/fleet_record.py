#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin plugins/action/fleet_record.py; this
# file documents it for ansible-doc.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_record
short_description: Write every change of a run to the fleet directory, in one call
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Runs on the controller, after the laptops of the run were configured. Takes the fleet as read by
    M(certrelay.exim.fleet) and, from the facts of the laptops of the run, records each laptop's
    certificate as C(<laptop>.pem) (it replaces an older one; a revoked laptop only with
    O(reenrol), which takes it off the revoked list), announces a next certificate as
    C(<laptop>.next.pem), drops an announcement the laptop now uses, and moves the certificates of
    the laptops being revoked to C(revoked/) (their announcements dropped).
  - In private-CA mode it also writes the CRL planned by M(certrelay.exim.fleet) to C(crl.pem), and
    leaves the certificates the CA issued out of RV(trusted).
  - Each file is written atomically (a temporary file in the same directory, then a rename); a
    revoked certificate is written under C(revoked/) before the original is removed. A file that is
    already as the run wants it (an earlier call of the same run wrote it) is no change.
  - Returns the fleet after the changes, in the form M(certrelay.exim.fleet) returns it (register it
    under the same name), plus RV(unpinned).
options:
  fleet:
    description: The registered result of M(certrelay.exim.fleet) (or of an earlier call of this one).
    type: dict
    required: true
  reenrol:
    description: Record laptops that are revoked, and take them off the revoked list.
    type: bool
    default: false
  certificate_var:
    description: The laptop fact holding its current certificate (set by the client role).
    type: str
    default: exim_client_certificate_pem
  next_certificate_var:
    description: The laptop fact holding its next certificate (client role, C(rotate) entry point).
    type: str
    default: exim_client_next_certificate_pem
  pinned_var:
    description: The laptop fact holding what it pins (set by the fleet playbooks' laptop play).
    type: str
    default: __certrelay_pinned
attributes:
  check_mode:
    support: full
    details: Plans the same changes, writes nothing and returns the fleet as it would be.
  diff_mode:
    support: full
    details: One diff per file written or removed (certificates only, never keys).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - certrelay.exim.controller_action
seealso:
  - module: certrelay.exim.fleet
"""

EXAMPLES = r"""
- name: Record the run's laptop certificates, announcements and revocations
  certrelay.exim.fleet_record:
    fleet: "{{ fleet }}"
  register: fleet
  run_once: true
  delegate_to: localhost

- name: Trust the whole fleet on the relay
  ansible.builtin.include_role:
    name: certrelay.exim.server
  vars:
    exim_server_client_certs: "{{ fleet.trusted }}"
"""

RETURN = r"""
trusted:
  description: What the relays trust after the changes (C(exim_server_client_certs)).
  returned: always
  type: list
  elements: dict
fingerprints:
  description: Entry name to its fingerprint in Exim's form, after the changes.
  returned: always
  type: dict
unpinned:
  description: For each relay with an announced certificate, the laptops that do not pin it yet.
  returned: always
  type: dict
  sample: {"relay1": ["laptop-b"]}
diff:
  description: The files written or removed (with C(--diff)).
  returned: changed and diff mode
  type: list
  elements: dict
"""
