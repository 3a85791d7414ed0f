# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cert_entries
short_description: Check a list of named client certificates in one pass, for a fleet-sized allowlist
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Takes the list the server role takes (C(name), C(certificate), C(state)) and returns, in one
    Python pass, the list with C(state) defaulted, the facts the allowlist needs about every present
    certificate, and every problem found, by kind.
  - Never fails for bad entries. It names all of them at once, so that the caller can refuse the
    input with one message before anything changes. Jinja loops over thousands of entries would
    cost seconds, this costs milliseconds.
requirements:
  - cryptography (on the controller)
options:
  _input:
    description: List of dicts with C(name), C(certificate) (PEM text) and optionally C(state) (C(present) or C(absent)).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the fleet's certificates
  ansible.builtin.set_fact:
    fleet_check: "{{ fleet_certs | certrelay.exim.cert_entries }}"

- name: Refuse bad input before the relay changes
  ansible.builtin.assert:
    that: fleet_check.problems.values() | map('length') | sum == 0
    fail_msg: "{{ fleet_check.problems }}"

- name: The allowlist in Exim's form
  ansible.builtin.debug:
    msg: "{{ fleet_check.present | map(attribute='fingerprint') | join(' : ') }}"
"""

RETURN = r"""
_value:
  description: The checked list.
  type: dict
  contains:
    entries:
      description: The input entries, with C(state) set to C(present) where it was not given.
      type: list
      elements: dict
    present:
      description:
        - One dict per present entry whose certificate parses, in input order, with C(name),
          C(fingerprint) (SHA-256 in Exim's form), C(expired), C(not_after), C(subject) and C(signs) (key usage keyCertSign).
      type: list
      elements: dict
    problems:
      description: Lists, empty when the input is fine.
      type: dict
      contains:
        invalid_names:
          description: Names that are not letters, digits, C(.), C(_), C(@), C(-) (not starting with C(.)), matched whole (a trailing newline is invalid).
          type: list
        duplicate_names:
          description: Names given more than once.
          type: list
        no_certificate:
          description: Present entries without a certificate.
          type: list
        invalid_states:
          description: Entries whose state is neither C(present) nor C(absent).
          type: list
        unusable:
          description: C(name) and C(reason) for every certificate that does not parse (a private key, garbage, a truncated PEM) or is a bundle of several.
          type: list
        expired:
          description: Present entries whose certificate has expired.
          type: list
        not_yet_valid:
          description: Present entries whose certificate is not valid yet.
          type: list
        weak:
          description:
            - C(name) and C(reason) of weak certificates; always empty from this filter, which accepts
              them (M(certrelay.exim.validate_tls) refuses them).
          type: list
        duplicate_certificates:
          description: The same certificate under several names, as C(name1 = name2).
          type: list
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import CertificateError, require_cryptography
from ansible_collections.certrelay.exim.plugins.plugin_utils.entry_check import check_entries


def cert_entries(entries):
    if not isinstance(entries, (list, tuple)):
        raise AnsibleFilterError('cert_entries: expected a list of {name, certificate, state} dicts, got %s'
                                 % type(entries).__name__)
    try:
        require_cryptography()
    except CertificateError as exc:
        raise AnsibleFilterError('cert_entries: %s' % to_native(exc)) from None
    return check_entries(entries)


class FilterModule(object):
    def filters(self):
        return {'cert_entries': cert_entries}
