# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cert_split
short_description: Split a PEM bundle into its certificates, one canonical PEM each
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Returns the certificates of PEM text (a bundle, e.g. a relay's old and new certificate pinned
    together during a rotation) as a list of PEM strings, in order, each in canonical form
    (64-column base64, one trailing newline).
  - Meant to be chained with P(certrelay.exim.cert_info#filter), which takes a list, so that every
    certificate of a bundle is checked in one call, not only the first one.
  - Text before, between and after the PEM blocks is ignored. A private key or any other PEM block
    that is not a certificate is refused with a clear message (its content is never echoed), as is
    input without any certificate.
  - Needs no Python library beyond the standard one; the certificates are not parsed here (use
    P(certrelay.exim.cert_info#filter) for that).
options:
  _input:
    description: PEM text, or a list of PEM texts (their certificates are concatenated in order).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Check every certificate of a pinned bundle in one call
  ansible.builtin.assert:
    that: item.names_host and not item.expired
    fail_msg: "{{ item.subject }} is expired or does not name relay.example.com"
  loop: "{{ pinned_bundle | certrelay.exim.cert_split | certrelay.exim.cert_info(host='relay.example.com') }}"
  loop_control:
    label: "{{ item.subject }}"

- name: How many certificates the bundle holds
  ansible.builtin.debug:
    msg: "{{ pinned_bundle | certrelay.exim.cert_split | length }}"
"""

RETURN = r"""
_value:
  description: One PEM certificate per certificate found, in the order of the input.
  type: list
  elements: str
  sample:
    - "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.module_utils.pem import (
    CertificateError,
    der_to_pem,
    pem_certificate_ders,
)


def cert_split(data):
    try:
        if isinstance(data, (list, tuple)):
            return [der_to_pem(der)
                    for index, item in enumerate(data)
                    for der in pem_certificate_ders(item, 'item %d of the list' % index)]
        return [der_to_pem(der) for der in pem_certificate_ders(data, 'the input of cert_split')]
    except CertificateError as exc:
        raise AnsibleFilterError('cert_split: %s' % to_native(exc)) from None


class FilterModule(object):
    def filters(self):
        return {'cert_split': cert_split}
