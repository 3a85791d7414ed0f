# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: key_matches_cert
short_description: Whether a private key belongs to a certificate, checked on the controller
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Compares the public half of an unencrypted PEM private key with the public key of a certificate.
  - Meant for validating input before anything is deployed, so that a key and certificate that do
    not belong together fail at once with a clear message instead of as a TLS error on the host.
  - Fails with a clear message when the key is not an unencrypted PEM private key or the certificate
    is not a certificate. The key's content is never part of any message; still use C(no_log) on the
    task that evaluates it.
requirements:
  - cryptography (on the controller)
options:
  _input:
    description: The private key, PEM text (PKCS#8, PKCS#1 or SEC1), unencrypted.
    type: str
    required: true
  certificate:
    description: The certificate, PEM text or DER bytes (the first one of a bundle is used).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse a laptop key that does not belong to the laptop certificate
  ansible.builtin.assert:
    that: laptop_key | certrelay.exim.key_matches_cert(laptop_pem)
    fail_msg: the private key does not belong to the certificate
  no_log: true
"""

RETURN = r"""
_value:
  description: True when the key is the private half of the certificate's public key.
  type: bool
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    key_matches_certificate,
    load_certificate,
    load_private_key,
)


def key_matches_cert(key, certificate):
    try:
        cert = load_certificate(certificate, 'the certificate given to key_matches_cert')
        private_key = load_private_key(key, 'the input of key_matches_cert')
        return key_matches_certificate(private_key, cert)
    except CertificateError as exc:
        # from None: the chained exception adds nothing and could carry library detail about the key
        raise AnsibleFilterError('key_matches_cert: %s' % to_native(exc)) from None


class FilterModule(object):
    def filters(self):
        return {'key_matches_cert': key_matches_cert}
