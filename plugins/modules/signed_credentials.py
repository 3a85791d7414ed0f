#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin plugins/action/signed_credentials.py (the signing on the
# controller) with certrelay.exim.generated_credentials (the key on the host); this file documents
# it for ansible-doc.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: signed_credentials
short_description: A key made on the host and its certificate signed by a CA on the controller
version_added: 0.2.0
author: certrelay.exim contributors (@certrelay)
description:
  - On the host, M(certrelay.exim.generated_credentials) makes the key unless it exists (EC P-256,
    with C(openssl)) and returns a certificate signing request for it together with the
    certificate in place. The key never leaves the host.
  - On the controller, the certificate in place is kept when the CA signed it for this key and
    O(common_name), it is still valid and (with O(keep_serials)) its serial is one of those; otherwise (none yet, self-signed, another CA, another
    key, expired, or O(renew=true)) the request is signed by the CA - subject C(CN=<common_name>),
    a DNS name of the same, client authentication only, not a CA - and installed on the host
    atomically.
  - With O(record_path) every certificate signed is first added to that record on the controller
    (its serial and end of validity), before it is sent to the host - so that the fleet can revoke
    it even when the host never reports it.
  - The CA certificate, key and passphrase are read from the variables named by
    O(ca_certificate_var), O(ca_privatekey_var) and O(ca_passphrase_var) - the CA key is never a task
    or module argument and never leaves the controller. A CA certificate that is not a CA, an
    expired one, a key that does not belong to it and a wrong passphrase are refused before the
    host is touched.
options:
  privatekey_path:
    description: The key file on the host.
    type: path
    required: true
  certificate_path:
    description: The certificate file on the host.
    type: path
    required: true
  common_name:
    description:
      - Subject common name and DNS subject alternative name of a new certificate.
      - Letters, digits and C(. _ @ -) (not starting with a dot), at most 64 characters; refused
        before the host is asked anything otherwise.
    type: str
    required: true
  days:
    description: Validity of a new certificate in days (never beyond the CA's own).
    type: int
    default: 365
  renew:
    description: Sign a new certificate even when the one in place could stay.
    type: bool
    default: false
  keep_serials:
    description:
      - Serials (hex) of the CA-signed certificates the host may keep; any other certificate in place
        is replaced. Unset, any valid one the CA signed for the key and O(common_name) stays.
    type: list
    elements: str
  record_path:
    description:
      - A file on the controller that every signed certificate is added to (one line, C(<serial hex>
        <notAfter>)) before it is sent to the host. Unset, nothing is recorded.
    type: path
  ca_certificate_var:
    description: The name of the variable that holds the CA certificate (PEM).
    type: str
    default: exim_client_signing_ca_certificate
  ca_privatekey_var:
    description: The name of the variable that holds the CA key (PEM, unencrypted or encrypted).
    type: str
    default: exim_client_signing_ca_privatekey
  ca_passphrase_var:
    description: The name of the variable that holds the passphrase of an encrypted CA key (unset or empty for none).
    type: str
    default: exim_client_signing_ca_passphrase
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - Reports what would change and signs nothing (a signed certificate is valid wherever it ends up);
        RV(would_sign) says a certificate would be signed, RV(certificate) is the one in place (empty
        when the key would be new).
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - certrelay.exim.credential_files
requirements:
  - cryptography on the controller
  - openssl on the host
seealso:
  - module: certrelay.exim.generated_credentials
"""

EXAMPLES = r"""
- name: A laptop key made on the laptop, its certificate signed by the fleet CA on the controller
  certrelay.exim.signed_credentials:
    privatekey_path: /etc/exim4/certrelay/client.key
    certificate_path: /etc/exim4/certrelay/client.crt
    common_name: laptop-7.example.com
    owner: root
    group: Debian-exim
    certificate_group: root
    ca_certificate_var: certrelay_ca_certificate
    ca_privatekey_var: certrelay_ca_privatekey
    ca_passphrase_var: certrelay_ca_passphrase
"""

RETURN = r"""
certificate:
  description: The certificate in place afterwards (PEM); empty in check mode when the key would be new.
  returned: always
  type: str
generated:
  description: Whether a new key was (or in check mode would be) generated.
  returned: always
  type: bool
signed:
  description: Whether a new certificate was signed and installed (never in check mode).
  returned: always
  type: bool
would_sign:
  description: In check mode, that a new certificate would be signed.
  returned: in check mode, when a certificate would be signed
  type: bool
serial:
  description: The serial number (upper-case hex) of a newly signed certificate.
  returned: when RV(signed) is true
  type: str
"""
