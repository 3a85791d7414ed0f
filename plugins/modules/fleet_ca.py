#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin plugins/action/fleet_ca.py; this file
# documents it for ansible-doc.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_ca
short_description: Create the fleet's private CA on the controller, once
version_added: 0.2.0
author: certrelay.exim contributors (@certrelay)
description:
  - Runs on the controller. Creates, in O(directory), C(ca.key) (an EC P-256 key, mode C(0600),
    unencrypted so that C(ansible-vault encrypt) can take it over) and C(ca.crt) (a self-signed CA
    certificate - CA:TRUE with path length 0, keyCertSign and cRLSign). The key is written
    through a new file only (never over an existing one, never through a link).
  - When both files exist nothing is written and the certificate is returned. When only one exists
    the task fails and writes nothing, so that the fleet CA is never replaced by accident.
  - Returns the steps that follow (RV(next_steps)) - the C(ansible-vault) command and the
    inventory variables C(certrelay_ca_certificate) and C(certrelay_ca_privatekey). The key is
    never part of the result.
options:
  directory:
    description: Where the CA files go (made with mode C(0700) when missing).
    type: path
    required: true
  common_name:
    description: The CA certificate's subject common name.
    type: str
    default: certrelay fleet CA
  days:
    description: Validity of the CA certificate in days.
    type: int
    default: 3650
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - certrelay.exim.controller_action
attributes:
  check_mode:
    support: full
    details: Reports whether the CA would be created; writes nothing.
  diff_mode:
    support: partial
    details: Names the files that would be created, not their content.
seealso:
  - module: certrelay.exim.signed_credentials
"""

EXAMPLES = r"""
- name: Create the fleet CA beside the inventory
  certrelay.exim.fleet_ca:
    directory: "{{ inventory_dir }}/ca"
  register: ca
  delegate_to: localhost
  run_once: true

- name: Say what to do next
  ansible.builtin.debug:
    msg: "{{ ca.next_steps }}"
"""

RETURN = r"""
certificate:
  description: The CA certificate (PEM); absent in check mode when it would be created.
  returned: success
  type: str
certificate_path:
  description: The CA certificate file.
  returned: always
  type: str
privatekey_path:
  description: The CA key file.
  returned: always
  type: str
next_steps:
  description: What to do with the new CA - the ansible-vault command and the inventory variables.
  returned: always
  type: list
  elements: str
"""
