#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: validate_tls
short_description: Check certificates, keys, pins and client certificate lists before anything on a host changes
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Runs on the controller (action plugin); the one validation the server role, the client role
    and the rotations share. Fails, naming every problem at once, when a certificate, key, pin or
    client list would be refused by Exim or would weaken the trust the collection sets up.
  - Takes the B(names) of variables, not their values, so a private key never becomes a task
    argument; messages never quote the input (only names, subjects, dates, sizes, PEM labels), so
    the task needs no C(no_log) and its failures stay readable.
  - Refuses, unless O(allow_weak) - RSA and DSA keys under 2048 bits and MD5 or SHA-1 signatures;
    always - certificates not valid yet, expired ones (except where allowed), a private key where
    a certificate belongs, a certificate+key PEM or a key of another type where a key belongs, a
    key that does not belong to its certificate, a bundle where one certificate is expected.
options:
  credentials:
    description: Certificates (leaf first, chain allowed) with the private key that belongs to them.
    type: list
    elements: dict
    default: []
    suboptions:
      certificate:
        description: Name of the variable holding the PEM certificate.
        type: str
        required: true
      privatekey:
        description: Name of the variable holding its unencrypted PEM private key.
        type: str
      allow_expired:
        description: Accept an expired certificate.
        type: bool
        default: false
      host:
        description: A name the certificate must carry (DNS SAN, IP SAN, or the CN without DNS SAN).
        type: str
  pin:
    description: A pinned relay certificate (a bundle during a rotation).
    type: dict
    suboptions:
      var:
        description: Name of the variable holding the PEM certificate or bundle.
        type: str
        required: true
      host:
        description: The name the client connects to; every pinned certificate must carry it.
        type: str
        required: true
      verify_hostname:
        description: Whether Exim checks the name (when false, a missing name is no problem).
        type: bool
        default: true
      allow_ca:
        description:
          - Accept a CA certificate in the pin (one that signs certificates, or issued another one of
            the bundle). Only where the transport also compares the relay's own fingerprint.
        type: bool
        default: false
  client_certs:
    description: A list of named client certificates (C(name), C(certificate), C(state)).
    type: dict
    suboptions:
      var:
        description: Name of the variable holding the list.
        type: str
        required: true
      allow_expired:
        description: Accept expired certificates.
        type: bool
        default: false
      allow_empty:
        description: Accept a list without any present certificate.
        type: bool
        default: false
      expired_option:
        description: The variable a message names to accept expired certificates.
        type: str
        default: allow_expired
      empty_option:
        description: The variable a message names to accept an empty list.
        type: str
        default: allow_empty
  authority:
    description:
      - A CA that signs certificates on the controller (certrelay.exim.signed_credentials), by the
        names of the variables that hold its certificate, key and passphrase. Refused - each problem
        naming its variable - when the certificate is not a CA certificate (CA:TRUE, keyCertSign,
        cRLSign) or has expired, the key is missing, damaged or does not belong to it, or the
        passphrase is missing or wrong. Nothing is checked while the certificate variable is empty.
    type: dict
    suboptions:
      certificate:
        description: Name of the variable holding the CA certificate (PEM).
        type: str
        required: true
      privatekey:
        description: Name of the variable holding the CA key (PEM).
        type: str
        required: true
      passphrase:
        description: Name of the variable holding the key's passphrase.
        type: str
        required: true
  client_ca:
    description:
      - The private-CA mode of a relay - its client CA certificates, their CRLs and the relay policy.
      - Refuses a CA certificate without basic constraints CA:TRUE and key usage keyCertSign, an
        expired or not yet valid one, a bundle where one CA certificate is expected; a CRL text that
        holds anything but X509 CRL blocks, a CRL not signed by one of the CAs, one past its
        nextUpdate, two CRLs of one CA, a CA without a CRL when CRLs are given (an OpenSSL build of
        Exim would refuse all its clients); a CA certificate in the O(client_certs) list; policy
        C(ca) without a CA. With policy C(ca) an empty O(client_certs) list is fine.
    type: dict
    suboptions:
      certificates:
        description: Name of the variable holding the list of PEM CA certificates.
        type: str
        required: true
      crl:
        description: Name of the variable holding the PEM CRLs (one per CA, or empty for none).
        type: str
        required: true
      policy:
        description: The relay policy, C(allowlist) or C(ca).
        type: str
        required: true
      policy_option:
        description: The variable a message names for the policy.
        type: str
        default: policy
  allow_weak:
    description: Accept short RSA/DSA keys and MD5/SHA-1 signatures.
    type: bool
    default: false
  weak_option:
    description: The variable a message names to accept weak certificates.
    type: str
    default: allow_weak
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - certrelay.exim.controller_action
  - certrelay.exim.controller_action.read_only
requirements:
  - cryptography (on the controller)
seealso:
  - module: certrelay.exim.client_certs
"""

EXAMPLES = r"""
- name: Check the relay's certificate, key and clients
  certrelay.exim.validate_tls:
    credentials:
      - certificate: exim_server_tls_certificate
        privatekey: exim_server_tls_privatekey
    client_certs:
      var: exim_server_client_certs
      expired_option: exim_server_allow_expired
    weak_option: exim_server_allow_weak
  register: checked

- name: Check a relay in private-CA mode
  certrelay.exim.validate_tls:
    client_certs:
      var: exim_server_client_certs
    client_ca:
      certificates: exim_server_client_ca_certificates
      crl: exim_server_client_crl
      policy: ca
      policy_option: exim_server_relay_policy
  register: checked

- name: Check a laptop's pin
  certrelay.exim.validate_tls:
    pin:
      var: exim_client_server_certificate
      host: relay.example.com
  register: checked
"""

RETURN = r"""
entries:
  description: With O(client_certs), the entries, each with its certificate resolved and C(state) defaulted.
  returned: success, with client_certs
  type: list
  elements: dict
present:
  description:
    - With O(client_certs), C(name), C(fingerprint) (Exim's form), C(expired), C(not_after), C(subject),
      C(signs) (key usage keyCertSign) of every present entry.
  returned: success, with client_certs
  type: list
  elements: dict
listed:
  description: With O(client_certs), the names of every entry whose state is present (also on failure).
  returned: with client_certs
  type: list
  elements: str
certificates:
  description: Variable name to facts of the leaf certificate (as the P(certrelay.exim.cert_info#filter) filter) of every O(credentials) entry.
  returned: success
  type: dict
pin:
  description: With O(pin), C(certificates) (facts of each) and C(fingerprints) (Exim's form, in order).
  returned: success, with pin
  type: dict
client_ca:
  description:
    - With O(client_ca), C(fingerprints) and C(subjects) of the CA certificates (Exim's form, in
      order) and C(crls), per CRL its C(issuer), the number of C(revoked) serials and C(next_update).
  returned: success, with client_ca
  type: dict
errors:
  description: Every problem, worded; C(msg) joins them.
  returned: failure
  type: list
  elements: str
"""
