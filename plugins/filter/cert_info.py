# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cert_info
short_description: Facts about an X.509 certificate, for validating input before deploying it
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Parses a certificate (PEM text or DER bytes, first certificate of a bundle) and returns its
    subject, issuer, subject alternative names, validity, whether it has expired, whether it is
    self-signed, and its fingerprints in Exim's form.
  - A list of certificates gives a list of results, computed in one call.
  - Fails with a clear message for input that is not a certificate, including a private key given
    in place of a certificate (its content is never echoed).
requirements:
  - cryptography (on the controller)
options:
  _input:
    description: A certificate as PEM text or DER bytes, or a list of them.
    type: raw
    required: true
  host:
    description:
      - When given, the result has C(names_host) telling whether a TLS client connecting to this
        name or IP address accepts the certificate's names (IP addresses need an IP SAN; names a
        DNS SAN, or the common name when there is no DNS SAN).
    type: str
"""

EXAMPLES = r"""
- name: Refuse an expired client certificate before touching the relay
  ansible.builtin.assert:
    that: not (laptop_pem | certrelay.exim.cert_info).expired
    fail_msg: the laptop certificate has expired

- name: Check that the pinned relay certificate names the smarthost
  ansible.builtin.assert:
    that: (relay_pem | certrelay.exim.cert_info(host='relay.example.com')).names_host
"""

RETURN = r"""
_value:
  description: Facts about the certificate (a list of them for a list input).
  type: dict
  contains:
    subject:
      description: Subject in RFC 4514 form.
      type: str
      sample: CN=laptop-a.example.com
    issuer:
      description: Issuer in RFC 4514 form.
      type: str
    common_name:
      description: First common name of the subject, or null.
      type: str
    subject_alt_names:
      description: DNS names (C(dns)) and IP addresses (C(ip)) of the subjectAltName extension.
      type: dict
      sample: {"dns": ["relay.example.com"], "ip": ["127.0.0.1"]}
    serial_number:
      description: Serial number in upper-case hex.
      type: str
    not_before:
      description: Start of validity, UTC, ISO 8601.
      type: str
      sample: "2026-01-01T00:00:00Z"
    not_after:
      description: End of validity, UTC, ISO 8601.
      type: str
    expired:
      description: Whether O(_input) is past its end of validity now.
      type: bool
    not_yet_valid:
      description: Whether the validity has not started yet.
      type: bool
    days_left:
      description: Whole days until the end of validity (negative once expired).
      type: int
    self_signed:
      description: Whether subject equals issuer and the certificate's own key verifies its signature.
      type: bool
    public_key_type:
      description: C(RSA), C(EC), C(Ed25519) or C(Ed448).
      type: str
    public_key_size:
      description: Key size in bits.
      type: int
    fingerprint:
      description: SHA-256 fingerprint in Exim's form (upper-case hex, no colons).
      type: str
    fingerprints:
      description: C(sha256), C(sha1) and C(md5) fingerprints in Exim's form.
      type: dict
    names_host:
      description: Only when O(host) is given; see there.
      type: bool
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    certificate_info,
    load_certificate,
    names_host,
)


def _info(data, what, host):
    cert = load_certificate(data, what)
    info = certificate_info(cert)
    if host is not None:
        info['names_host'] = names_host(cert, host)
    return info


def cert_info(data, host=None):
    try:
        if isinstance(data, (list, tuple)):
            return [_info(item, 'item %d of the list' % index, host) for index, item in enumerate(data)]
        return _info(data, 'the input of cert_info', host)
    except CertificateError as exc:
        raise AnsibleFilterError('cert_info: %s' % to_native(exc)) from None


class FilterModule(object):
    def filters(self):
        return {'cert_info': cert_info}
