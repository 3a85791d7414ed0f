# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cert_fingerprint
short_description: Certificate fingerprint exactly as Exim prints it
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Returns the fingerprint of an X.509 certificate over its DER encoding, by default in the form
    Exim's C(${sha256:$tls_in_peercert}) prints it, upper-case hex without separators.
  - Exim's C(inlist) compares case-sensitively and splits lists on C(:), so a lower-case or
    colon-separated fingerprint in an allowlist silently never matches. Use the default O(format=exim)
    for Exim configuration.
  - Accepts PEM text (with text before the block, CRLF line endings, surrounding whitespace) or DER
    bytes. For a bundle the first certificate (the leaf) is used. A list of certificates gives a list
    of fingerprints.
  - Fails with a clear message for an empty input, text without a certificate, a private key (its
    content is never echoed) and a truncated or corrupt PEM block.
requirements:
  - cryptography (on the controller)
options:
  _input:
    description: A certificate as PEM text or DER bytes, or a list of them.
    type: raw
    required: true
  algorithm:
    description: Digest algorithm; Exim offers the same three for certificates.
    type: str
    default: sha256
    choices: [sha256, sha1, md5]
  format:
    description:
      - C(exim) upper-case hex, no separators (Exim's C(${sha256:...}) form).
      - C(colon) upper-case hex pairs separated by colons (OpenSSL and Postfix form).
      - C(hex) lower-case hex, no separators.
    type: str
    default: exim
    choices: [exim, colon, hex]
"""

EXAMPLES = r"""
- name: Allow a laptop's certificate on the relay
  ansible.builtin.set_fact:
    relay_fingerprint: "{{ lookup('ansible.builtin.file', 'laptop.pem') | certrelay.exim.cert_fingerprint }}"

- name: SHA-1, colon separated, as openssl x509 -fingerprint -sha1 prints it
  ansible.builtin.debug:
    msg: "{{ laptop_pem | certrelay.exim.cert_fingerprint('sha1', format='colon') }}"

- name: Every fingerprint of a list, in one call
  ansible.builtin.set_fact:
    relay_from_certs: "{{ client_pems | certrelay.exim.cert_fingerprint | join(' : ') }}"
"""

RETURN = r"""
_value:
  description:
    - The fingerprint, or a list of fingerprints when the input is a list.
    - For SHA-256 in O(format=exim) 64 characters of C([0-9A-F]).
  type: raw
  sample: 36A727B95BDF46EE44F1A1B7164C65EB7013B1D5EA17776B0203E13CE69A787D
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    fingerprint,
    load_certificate,
)


def cert_fingerprint(data, algorithm='sha256', format='exim'):  # noqa: A002 - documented option name
    try:
        if isinstance(data, (list, tuple)):
            return [
                fingerprint(load_certificate(item, 'item %d of the list' % index), algorithm, format)
                for index, item in enumerate(data)
            ]
        return fingerprint(load_certificate(data, 'the input of cert_fingerprint'), algorithm, format)
    except CertificateError as exc:
        raise AnsibleFilterError('cert_fingerprint: %s' % to_native(exc)) from None


class FilterModule(object):
    def filters(self):
        return {'cert_fingerprint': cert_fingerprint}
