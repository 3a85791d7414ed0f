#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: relay_state
short_description: Change everything an Exim relay trusts in one atomic, locked, crash-safe step
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Keeps the relay's trust state as complete generations in O(state_directory) behind one
    C(current) symlink; Exim reads C(<state_directory>/current/...). A generation holds the server
    certificate and key (C(server.crt), C(server.key)), the trust directory C(trust/) with one
    C(<name>.pem) per client certificate and their hash links, the allowlist (C(allowlist), an Exim
    C(lsearch) file, one fingerprint and client name per line; C(allowlist.db), its C(exim_dbmbuild) index, in
    C(dbm) mode), the allowlist macros C(allowlist.conf) for an C(.include) (C(CERTRELAY_ALLOWED),
    C(CERTRELAY_CLIENT_NAME)) and, when given, the RCPT and DATA ACL files C(acl_check_rcpt),
    C(acl_check_data), the client CA certificates C(trust/ca+<fingerprint prefix>.pem), their CRLs
    C(crl.pem) and the C(tls:cert) event ACL C(acl_tls_cert).
  - A change builds a new generation beside the current one (unchanged files are hard links, so it
    costs little time and space), validates it with C(exim -bV) and an ACL probe against the
    configuration, and publishes it by renaming a new symlink over C(current). A run killed at any
    instant leaves the complete old or the complete new state; nothing temporary is ever created in
    a directory Exim reads. Leftovers of interrupted runs, and anything in the current generation the
    module did not put there, are removed (and reported).
  - When the new generation cannot be written (disk full, a failed validation), a generation without
    the certificates this run removes is published instead, then the module fails; a revoked client
    never stays trusted because something else went wrong.
  - Holds an exclusive lock (C(<state_directory>/.lock)) for the whole transition; a second run waits
    at most O(lock_timeout) seconds and then fails, naming the holder.
  - With O(config_file) and O(config), also installs the Exim configuration (validated together with
    the new generation) right after the switch.
  - Does not reload Exim; use M(certrelay.exim.exim_reload) afterwards.
options:
  state_directory:
    description: Directory of the generations; must exist. Exim reads C(<state_directory>/current/...).
    type: path
    required: true
  group:
    description: Group of every file and directory (Exim's group); the owner is root.
    type: str
    required: true
  server_certificate:
    description: The relay's certificate (PEM), written to C(server.crt) (mode 0644). Required unless O(revoke_only).
    type: str
  server_privatekey:
    description:
      - The relay's unencrypted private key (PEM), written to C(server.key) (mode 0640). Never logged.
        Required unless O(revoke_only).
    type: str
  revoke_only:
    description:
      - Only take out of the current generation every certificate not named in O(keep); everything
        else (server certificate and key, allowlist mode, ACL, the kept certificates as they are now)
        stays. For a run whose input cannot be applied - it must still never leave a certificate it
        removes trusted. O(certificates) is not used then.
    type: bool
    default: false
  keep:
    description: With O(revoke_only), the names of the certificates that stay trusted.
    type: list
    elements: str
    default: []
  certificates:
    description: The client certificates the trust directory holds, exactly.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name (letters, digits, C(.), C(_), C(@), C(-), not starting with C(.)); file C(trust/<name>.pem).
        type: str
        required: true
      certificate:
        description: The certificate as PEM text; required unless O(certificates[].state=absent).
        type: str
      state:
        description: C(absent) entries are not trusted (a revocation).
        type: str
        default: present
        choices: [present, absent]
  ca_certificates:
    description:
      - Client CA certificates (PEM, one certificate each), kept in the trust directory as
        C(ca+<first 16 hex digits of the SHA-256 fingerprint>.pem) (a name no client certificate can
        have) with their hash links; part of the same generation as everything else.
    type: list
    elements: str
    default: []
  crl:
    description:
      - PEM text of the client CAs' certificate revocation lists (C(X509 CRL) blocks), written to
        C(crl.pem) for Exim's C(tls_crl); empty for none (no file).
      - The module checks only the PEM form; the signatures and dates are checked on the controller
        (M(certrelay.exim.validate_tls)).
    type: str
    default: ''
  certificates_var:
    description:
      - The name of a variable holding the registered result of M(certrelay.exim.validate_tls) (with
        its C(client_certs) option) or M(certrelay.exim.client_certs); its C(entries) are the
        O(certificates). Handled on the controller, which reads the result as
        it is instead of templating thousands of entries once more, and passes it on as O(certificates_json).
      - Mutually exclusive with O(certificates) and O(certificates_json).
    type: str
  certificates_json:
    description:
      - The O(certificates) as one JSON text (a list of objects with the same keys), checked by the
        module itself; for thousands of clients much cheaper to pass and check than as many options.
      - Mutually exclusive with O(certificates).
    type: str
  allowlist:
    description: How C(allowlist.conf) and O(acl) test membership (see the server role).
    type: str
    default: macro
    choices: [macro, file, dbm]
  rehash:
    description:
      - How the hash links OpenSSL builds of Exim need are made in a new generation (OpenSSL finds
        a certificate in a trust directory only through a link named by its subject hash; GnuTLS
        reads every file and ignores the links).
      - C(auto) asks O(exim) (C(exim -bV)) which TLS library it was built with. For a GnuTLS build,
        which reads every file of the trust directory and ignores links, it writes none. For an
        OpenSSL build, or one it cannot tell, it uses C(openssl rehash) when available, else
        C(c_rehash); with neither tool it fails for an OpenSSL build (no client certificate would
        verify) and warns when the library cannot be told. A run that only removes certificates
        after another failure never fails for this (without links an OpenSSL build trusts nobody,
        which is safe). When the binary changes to an OpenSSL build, the next run adds the links.
      - C(openssl) and C(c_rehash) make the links whatever the build.
      - Certificates that share a subject and have no authority key identifier are warned about,
        since an OpenSSL build verifies only one of them.
    type: str
    default: auto
    choices: [auto, openssl, c_rehash, none]
  acl:
    description:
      - Text of an RCPT ACL file (Debian layout, named by C(MAIN_ACL_CHECK_RCPT)), written to
        C(acl_check_rcpt). Every C(CERTRELAY_ALLOWED) in it is replaced by the allowlist condition
        (Exim reads the file at run time, where configuration macros do not exist), every
        C(CERTRELAY_CLIENT_NAME) by an expansion giving the allowlist name of the peer's certificate.
    type: str
  data_acl:
    description:
      - Text of a DATA ACL file (Debian layout, named by C(MAIN_ACL_CHECK_DATA)), written to
        C(acl_check_data), with the same replacements as O(acl).
    type: str
  cert_acl:
    description:
      - Text of the ACL Exim's C(tls:cert) event runs (called by name from C(event_action)), written to
        C(acl_tls_cert), with the same replacements as O(acl).
    type: str
  cert_acl_template:
    description: A template rendered on the controller as the O(cert_acl), like O(acl_template); mutually exclusive with O(cert_acl).
    type: str
  acl_template:
    description:
      - A template (searched like the C(src) of M(ansible.builtin.template), in the role's
        C(templates/) first) rendered on the controller with the task's variables as the O(acl).
      - Mutually exclusive with O(acl).
    type: str
  data_acl_template:
    description: A template rendered on the controller as the O(data_acl), like O(acl_template); mutually exclusive with O(data_acl).
    type: str
  config_file:
    description: The Exim configuration file to install O(config) at, or to validate with when O(config) is not given.
    type: path
  config:
    description: Content of O(config_file), installed right after the switch when it differs.
    type: str
  config_template:
    description:
      - A template rendered on the controller with the task's variables as the O(config), like O(acl_template).
      - Mutually exclusive with O(config).
    type: str
  exim:
    description: The Exim binary used to validate a new generation and, with O(rehash=auto), asked for its TLS library.
    type: path
    default: exim
  validate:
    description: Validate a new generation with O(config_file) (C(exim -bV) and an ACL probe) before the switch.
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for another run's lock before failing.
    type: int
    default: 300
  legacy_paths:
    description:
      - Files or directories of an earlier layout, removed (without following links) once the
        configuration in place (O(config) after it is installed, else O(config_file)) no longer names them.
    type: list
    elements: path
    default: []
  holder:
    description: Who holds the lock, as another run waiting for it reports it.
    type: str
    default: certrelay.exim.relay_state
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - certrelay.exim.attributes
notes:
  - The configuration refers to C(<state_directory>/current/...); while a new generation is validated
    that prefix is replaced by the new generation's directory in a copy of the configuration.
  - An action plugin resolves O(certificates_var), O(config_template), O(acl_template),
    O(data_acl_template) and O(cert_acl_template) on the controller before the module runs on the host.
  - The diff is a summary (one line per added, removed or updated certificate), never whole files.
"""

EXAMPLES = r"""
- name: Trust exactly these laptops, with this server certificate
  certrelay.exim.relay_state:
    state_directory: /etc/exim4/certrelay/state
    group: Debian-exim
    server_certificate: "{{ lookup('ansible.builtin.file', 'relay.crt') }}"
    server_privatekey: "{{ lookup('ansible.builtin.unvault', 'relay.key') }}"
    certificates:
      - name: laptop-a
        certificate: "{{ lookup('ansible.builtin.file', 'laptop-a.pem') }}"
    allowlist: dbm
    config_file: /etc/exim4/certrelay/exim.conf
    config_template: exim.conf.j2
    exim: /usr/sbin/exim4

- name: Check a long client list once, then trust it without templating it again
  certrelay.exim.client_certs:
    var: exim_server_client_certs
  register: client_check

- name: Trust the checked list
  certrelay.exim.relay_state:
    state_directory: /etc/exim4/certrelay/state
    group: Debian-exim
    server_certificate: "{{ lookup('ansible.builtin.file', 'relay.crt') }}"
    server_privatekey: "{{ lookup('ansible.builtin.unvault', 'relay.key') }}"
    certificates_var: client_check
    config_file: /etc/exim4/certrelay/exim.conf
    config_template: exim.conf.j2
"""

RETURN = r"""
tls_library:
  description:
    - The TLS library O(exim) was built with as C(exim -bV) reports it (C(openssl) or C(gnutls)), asked
      only with O(rehash=auto); empty when not asked or the binary cannot tell.
  returned: success
  type: str
  sample: openssl
generation:
  description: The directory C(current) names after the run (in check mode, before it).
  returned: always
  type: str
added:
  description: Names of client certificates newly trusted.
  returned: always
  type: list
  elements: str
updated:
  description: Names whose certificate changed.
  returned: always
  type: list
  elements: str
removed:
  description: Names no longer trusted.
  returned: always
  type: list
  elements: str
fingerprints:
  description:
    - Name to SHA-256 fingerprint in Exim's form of the client certificates this run newly trusts
      or replaces (RV(added) and RV(updated)); the fingerprints of all of them are in the C(allowlist)
      file of the generation (not the whole list, which at fleet scale only costs time to return).
  returned: always
  type: dict
trusted:
  description: How many client certificates the generation trusts.
  returned: always
  type: int
config_changed:
  description: Whether O(config_file) was (or in check mode would be) replaced.
  returned: always
  type: bool
removed_leftovers:
  description: Entries of the state directory left by interrupted runs, removed.
  returned: always
  type: list
  elements: str
removed_legacy:
  description: Entries of O(legacy_paths) removed (or in check mode to be removed).
  returned: always
  type: list
  elements: str
unmanaged:
  description: Entries of the current generation the module did not put there (replaced by a clean generation).
  returned: always
  type: list
  elements: str
"""

import contextlib
import json
import os
import re
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.certrelay.exim.plugins.module_utils import exim as eximlib
from ansible_collections.certrelay.exim.plugins.module_utils import generations as gen
from ansible_collections.certrelay.exim.plugins.module_utils.entries import NAME, shared_certificates
from ansible_collections.certrelay.exim.plugins.module_utils.files import file_args, read_bytes, write_atomic
from ansible_collections.certrelay.exim.plugins.module_utils.pem import (
    CertificateError,
    der_to_pem,
    fingerprint_der,
    pem_certificate_ders,
    pem_private_key_label,
)

# openssl rehash: <8 hex>.<n> (certs) and .r<n> (CRLs); Debian's c_rehash adds a 32-hex md5 form.
HASH_LINK = re.compile(r'([0-9a-f]{8}|[0-9a-f]{32})\.r?[0-9]+')
TRUST = 'trust'
DBM = 'allowlist.db'
SUFFIX = '.pem'
# Every top-level file a generation can hold (which ones depends on the options).
# The hash links the rehash tool made in a generation, one "link target" per line: any other link
# in its trust directory was not made by this module.
LINKS = 'hashlinks'
CRL = 'crl.pem'
CERT_ACL = 'acl_tls_cert'
OWN_FILES = ('server.crt', 'server.key', 'allowlist', 'allowlist.conf', 'acl_check_rcpt', 'acl_check_data', DBM, LINKS,
             CRL, CERT_ACL)
# A client CA in the trust directory: "+" is not allowed in client names, so no client file is one.
CA_FILE = re.compile(TRUST + r'/ca\+[0-9A-F]{16}\.pem')
CRL_BLOCK = re.compile(r'-----BEGIN X509 CRL-----\r?\n[A-Za-z0-9+/=\r\n]+-----END X509 CRL-----')
ALLOWLIST_LINE = re.compile(r'([0-9A-F]{64}): (\S+)')


def certificates_from_json(module, text):
    """certificates_json as the list the certificates option would give (defaults applied)."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        module.fail_json(msg='certificates_json is not JSON: %s' % exc)
    if not isinstance(items, list):
        module.fail_json(msg='certificates_json must be a JSON list of objects')
    certificates = []
    for index, item in enumerate(items):
        where = 'certificates_json[%d]' % index
        if not isinstance(item, dict) or set(item) - {'name', 'certificate', 'state'}:
            module.fail_json(msg='%s must be an object with the keys name, certificate and state' % where)
        entry = dict(name=item.get('name'), certificate=item.get('certificate'), state=item.get('state') or 'present')
        if not isinstance(entry['name'], str) or not (entry['certificate'] is None or isinstance(entry['certificate'], str)):
            module.fail_json(msg='%s: name (required) and certificate must be strings' % where)
        if entry['state'] not in ('present', 'absent'):
            module.fail_json(msg='%s: state must be present or absent' % where)
        certificates.append(entry)
    return certificates


def wanted_certificates(module, certificates):
    """name -> canonical PEM bytes and name -> fingerprint of the present entries."""
    pems, fingerprints, seen = {}, {}, set()
    for index, item in enumerate(certificates):
        name = item['name']
        where = 'certificates[%d] (%s)' % (index, name)
        if not NAME.fullmatch(name or ''):
            module.fail_json(msg='%s: invalid name; use letters, digits, ".", "_", "@", "-" '
                                 'and do not start with "."' % where)
        if name in seen:
            module.fail_json(msg='%s: duplicate name' % where)
        seen.add(name)
        if item['state'] == 'absent':
            continue
        if not item['certificate']:
            module.fail_json(msg='%s: certificate is required for state=present' % where)
        try:
            der = pem_certificate_ders(item['certificate'], where)[0]
        except CertificateError as exc:
            module.fail_json(msg=to_native(exc))
        pems[name] = to_bytes(der_to_pem(der))
        fingerprints[name] = fingerprint_der(der)
    shared = shared_certificates(sorted(fingerprints.items()))
    if shared:
        module.fail_json(msg='the same certificate is listed under several names: %s' % '; '.join(shared))
    return pems, fingerprints


def wanted_cas(module, texts, fingerprints):
    """trust-relative path -> canonical PEM bytes of the client CAs; one certificate per item, none
    that is also a client certificate (fingerprints) - the controller refuses both with more words."""
    cas = {}
    listed = set(fingerprints.values())
    for index, text in enumerate(texts):
        where = 'ca_certificates[%d]' % index
        try:
            ders = pem_certificate_ders(text, where)
        except CertificateError as exc:
            module.fail_json(msg=to_native(exc))
        if len(ders) != 1:
            module.fail_json(msg='%s holds %d certificates: give each CA certificate as its own item' % (where, len(ders)))
        fingerprint = fingerprint_der(ders[0])
        if fingerprint in listed:
            module.fail_json(msg='%s is also listed as a client certificate' % where)
        cas['%s/ca+%s%s' % (TRUST, fingerprint[:16], SUFFIX)] = to_bytes(der_to_pem(ders[0]))
    return cas


def wanted_crl(module, text):
    """The CRL file's bytes (None for no CRL): nothing but X509 CRL PEM blocks."""
    text = (text or '').strip()
    if not text:
        return None
    blocks = CRL_BLOCK.findall(text)
    if not blocks or CRL_BLOCK.sub('', text).strip():
        module.fail_json(msg='crl must hold only PEM "X509 CRL" blocks')
    return to_bytes('\n'.join(block.replace('\r\n', '\n') for block in blocks) + '\n')


def previous_cas(generation):
    """The client CA files of a generation, as they are."""
    trust = os.path.join(generation, TRUST)
    found = {}
    for entry in (os.listdir(trust) if os.path.isdir(trust) else []):
        rel = '%s/%s' % (TRUST, entry)
        path = os.path.join(trust, entry)
        if CA_FILE.fullmatch(rel) and not os.path.islink(path):
            found[rel] = read_bytes(path)
    return found


def current_certificates(generation, pems=None, fingerprints=None):
    """name -> (PEM bytes, fingerprint) of the certificates this module put in a generation.

    Its own allowlist is the manifest: a file in trust/ it does not list, or whose fingerprint
    differs from the listed one, was not written by this module. A file byte-equal to the wanted
    PEM of that name (pems, fingerprints: already decoded) is not decoded again.
    """
    pems, fingerprints = pems or {}, fingerprints or {}
    found = {}
    listed = read_bytes(os.path.join(generation, 'allowlist')) if generation else None
    for line in (listed or b'').decode('ascii', 'replace').splitlines():
        match = ALLOWLIST_LINE.fullmatch(line)
        if not match:
            continue
        fingerprint, name = match.groups()
        if not NAME.fullmatch(name):
            continue
        path = os.path.join(generation, TRUST, name + SUFFIX)
        content = read_bytes(path) if stat.S_ISREG(os.lstat(path).st_mode if os.path.lexists(path) else 0) else None
        if content is not None and pems.get(name) == content:
            if fingerprints[name] == fingerprint:
                found[name] = (content, fingerprint)
            continue
        try:
            der = pem_certificate_ders(content.decode('ascii'), path)[0]
        except (CertificateError, UnicodeDecodeError, AttributeError):
            continue
        if fingerprint_der(der) == fingerprint:
            found[name] = (content, fingerprint)
    return found


class Plan(object):
    """Every file a generation must hold, and how to check and build the derived ones."""

    def __init__(self, module, params, pems, fingerprints, gid, server, acl, mode, data_acl=None, cas=None, crl=None,
                 cert_acl=None):
        """server: (certificate, key) bytes; acl, data_acl, cert_acl: the RCPT, DATA and tls:cert ACL
        texts with their CERTRELAY_* tokens, or None; cas: trust-relative path -> PEM bytes of the
        client CAs; crl: the CRL file's bytes or None."""
        self.module, self.params, self.pems, self.fingerprints = module, params, pems, fingerprints
        public = dict(mode=0o644, uid=0, gid=gid)
        lsearch, dbm = live_paths(params)
        self.files = {
            'server.crt': gen.Wanted(server[0], **public),
            'server.key': gen.Wanted(server[1], 0o640, 0, gid),
            'allowlist': gen.Wanted(eximlib.lsearch_allowlist(fingerprints), **public),
            'allowlist.conf': gen.Wanted(eximlib.allowlist_macros(mode, fingerprints, lsearch, dbm), **public),
        }
        for rel, text in (('acl_check_rcpt', acl), ('acl_check_data', data_acl), (CERT_ACL, cert_acl)):
            if text is not None:
                self.files[rel] = gen.Wanted(to_bytes(eximlib.substitute(text, mode, fingerprints, lsearch, dbm)), **public)
        for name, pem in pems.items():
            self.files['%s/%s%s' % (TRUST, name, SUFFIX)] = gen.Wanted(pem, **public)
        self.cas = cas or {}
        for rel, pem in self.cas.items():
            self.files[rel] = gen.Wanted(pem, **public)
        if crl is not None:
            self.files[CRL] = gen.Wanted(crl, **public)
        self.dbm = mode == 'dbm'
        self.gid = gid
        self.tls_library = ''
        self.rehash = self.rehash_command()  # looked up (and warned about) once

    @classmethod
    def requested(cls, module, params, pems, fingerprints, gid, anchors):
        """anchors: (client CA files, CRL bytes) as wanted_cas() and wanted_crl() give them."""
        server = tuple(to_bytes(params[key].strip() + '\n') for key in ('server_certificate', 'server_privatekey'))
        return cls(module, params, pems, fingerprints, gid, server, params['acl'], params['allowlist'],
                   params['data_acl'], anchors[0], anchors[1], params['cert_acl'])

    @classmethod
    def without(cls, module, params, previous, certificates, removed, gid):
        """The previous generation as it is, less the removed certificates: its server certificate
        and key, allowlist mode and ACL are kept (the requested ones may be what failed)."""
        keep = dict((name, item) for name, item in certificates.items() if name not in removed)
        old_fingerprints = dict((name, item[1]) for name, item in certificates.items())
        header = (read_bytes(os.path.join(previous, 'allowlist.conf')) or b'').decode('ascii', 'replace')
        match = re.search(r'\((macro|file|dbm) mode\)', header)
        mode = match.group(1) if match else params['allowlist']
        acls = []
        for rel in ('acl_check_rcpt', 'acl_check_data', CERT_ACL):
            text = read_bytes(os.path.join(previous, rel))
            acls.append(None if text is None else eximlib.tokenize(text.decode('utf-8', 'replace'), mode, old_fingerprints,
                                                                   *live_paths(params)))
        server = tuple(read_bytes(os.path.join(previous, name)) or b'' for name in ('server.crt', 'server.key'))
        # the client CAs and their CRL as they are: a CRL that revokes something must stay
        return cls(module, params, dict((n, i[0]) for n, i in keep.items()),
                   dict((n, i[1]) for n, i in keep.items()), gid, server, acls[0], mode, acls[1],
                   previous_cas(previous), read_bytes(os.path.join(previous, CRL)), acls[2])

    def differences(self, generation, previous_certificates):
        """(relpaths that differ, are missing or are no longer wanted; entries the module did not
        put there) of an existing generation whose certificates (current_certificates) are previous_certificates."""
        if generation is None:
            return sorted(self.files), []
        found = gen.walk(generation)
        # the certificates' content was read (and checked) by current_certificates already
        known = dict(('%s/%s%s' % (TRUST, name, SUFFIX), item[0]) for name, item in previous_certificates.items())
        differ = [rel for rel, wanted in sorted(self.files.items())
                  if not gen.same_file(os.path.join(generation, rel), wanted, known.get(rel))]
        ours = set(OWN_FILES) | set(known) | set(rel for rel in found if CA_FILE.fullmatch(rel))
        made = set(tuple(line.split(' ', 1)) for line in
                   (read_bytes(os.path.join(generation, LINKS)) or b'').decode('ascii', 'replace').splitlines())
        unexpected = []
        links = {}
        for rel, st in sorted(found.items()):
            if rel in self.files or rel == TRUST and stat.S_ISDIR(st.st_mode):
                continue
            if rel == LINKS and stat.S_ISREG(st.st_mode):
                continue
            if rel == DBM and self.dbm and stat.S_ISREG(st.st_mode) \
                    and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, self.gid, 0o644):
                continue
            if rel in ours and not stat.S_ISLNK(st.st_mode):
                differ.append(rel)  # written by this module, no longer wanted
                continue
            head, tail = os.path.split(rel)
            if head == TRUST and stat.S_ISLNK(st.st_mode) and HASH_LINK.fullmatch(tail) \
                    and (tail, os.readlink(os.path.join(generation, rel))) in made:
                target = os.readlink(os.path.join(generation, rel))
                if '%s/%s' % (TRUST, target) in self.files:
                    links.setdefault(target, []).append(tail)
                    continue
                if '%s/%s' % (TRUST, target) in ours:
                    continue  # the link of a certificate this run removes
            unexpected.append(rel)
        if self.dbm and DBM not in found:
            differ.append(DBM)
        anchors = set(name + SUFFIX for name in self.pems) | set(os.path.basename(rel) for rel in self.cas)
        if self.rehash is not None and set(links) != anchors:
            differ.append('%s/ (hash links)' % TRUST)
        return differ, unexpected

    def rehash_command(self):
        how = self.params['rehash']
        if how == 'none':
            return None
        openssl, c_rehash = self.module.get_bin_path('openssl'), self.module.get_bin_path('c_rehash')
        if how == 'auto':
            self.tls_library = eximlib.tls_library(self.module, self.params['exim']) or ''
        # GnuTLS reads every file of the trust directory and never looks at links: making them
        # costs about a second per 10,000 certificates at every change. Should the host move to
        # an OpenSSL build, its first run finds the links missing and builds a generation with them.
        if self.tls_library == 'gnutls':
            return None
        if how in ('auto', 'openssl') and openssl:
            return [openssl, 'rehash']
        if how in ('auto', 'c_rehash') and c_rehash:
            return [c_rehash]
        if how != 'auto':
            self.module.fail_json(msg='rehash=%s requested but the tool is not installed' % how)
        # An OpenSSL build without tools was refused by require_rehash_tool() unless this run only
        # removes certificates: no links then, and an OpenSSL build trusts nobody, which is safe.
        if not self.tls_library:
            self.module.warn('neither "openssl rehash" nor "c_rehash" found: no hash links written '
                             '(Exim built with OpenSSL needs them; GnuTLS builds do not)')
        return None

    def build(self, previous, differ):
        """A published-ready Builder with every file, link and index of this plan; what is not in
        differ (from differences()) is hard-linked from the previous generation."""
        builder = gen.Builder(self.params['state_directory'], 0o750, 0, self.gid, previous=previous,
                              reuse=set(self.files) - set(differ))
        try:
            builder.mkdir(TRUST)
            for rel in sorted(self.files):
                builder.write(rel, self.files[rel])
            how = self.rehash
            if how is not None and (self.pems or self.cas):
                trust = os.path.join(builder.path, TRUST)
                rc, out, err = self.module.run_command(how + [trust])
                if rc != 0:
                    raise gen.StateError('%s failed: %s' % (' '.join(how), (err or out).strip()))
                made = sorted('%s %s\n' % (entry, os.readlink(os.path.join(trust, entry)))
                              for entry in os.listdir(trust) if os.path.islink(os.path.join(trust, entry)))
                builder.write(LINKS, gen.Wanted(''.join(made).encode('ascii'), 0o644, 0, self.gid))
                self.warn_shared_subjects(trust, [line.split() for line in made])
            if self.dbm:
                self.build_dbm(builder, previous)
        except BaseException:
            builder.discard()
            raise
        return builder

    def warn_shared_subjects(self, trust, links):
        """OpenSSL picks a trust anchor by subject: of certificates sharing one without an authority
        key identifier only the first verifies. Links <hash>.1 and up mark shared subjects (rare),
        so only those certificates are looked at."""
        if self.tls_library == 'gnutls' or self.params['rehash'] == 'c_rehash':
            return
        shared = set(link[0].split('.')[0] for link in links if HASH_LINK.fullmatch(link[0]) and not link[0].endswith('.0'))
        if not shared:
            return
        openssl = self.module.get_bin_path('openssl')
        lacking = []
        for name, target in links:
            if name.split('.')[0] in shared and openssl:
                rc, out, err = self.module.run_command([openssl, 'x509', '-noout', '-ext', 'authorityKeyIdentifier',
                                                        '-in', os.path.join(trust, target)])
                if 'Authority Key Identifier' not in out:
                    lacking.append(target[:-len(SUFFIX)])
        if lacking:
            self.module.warn('client certificates with the same subject as another and no authority key identifier: '
                             '%s; an Exim built with OpenSSL verifies only one certificate of a subject then (give '
                             'them distinct subjects or key identifiers, as openssl req -x509 does)' % ', '.join(sorted(lacking)))

    def build_dbm(self, builder, previous):
        wanted = self.files['allowlist']
        old = os.path.join(previous, DBM) if previous else None
        if old and gen.same_file(os.path.join(previous, 'allowlist'), wanted) and os.path.isfile(old) \
                and not os.path.islink(old):
            os.link(old, os.path.join(builder.path, DBM), follow_symlinks=False)
            return
        dbmbuild = self.module.get_bin_path('exim_dbmbuild', opt_dirs=['/usr/sbin', '/usr/local/sbin'])
        if not dbmbuild:
            raise gen.StateError('exim_dbmbuild (installed with Exim) is needed for allowlist=dbm')
        target = os.path.join(builder.path, DBM)
        rc, out, err = self.module.run_command([dbmbuild, '-nolc', os.path.join(builder.path, 'allowlist'), target])
        if rc != 0:
            raise gen.StateError('exim_dbmbuild failed: %s' % (err or out).strip())
        if not os.path.isfile(target) or os.path.getsize(target) == 0:
            # An Exim built with ndbm writes <name>.dir and <name>.pag instead of <name>.
            raise gen.StateError('exim_dbmbuild wrote no single DBM file (an ndbm build of Exim?): use '
                                 'an lsearch allowlist on this host')
        os.chown(target, 0, self.gid)
        os.chmod(target, 0o644)


def validate(module, params, generation, config_text):
    """Check the configuration against a generation (the new one, before anything is switched)."""
    if not params['validate'] or config_text is None:
        return
    state = params['state_directory']
    text = config_text.replace(os.path.join(state, gen.CURRENT) + '/', generation + '/')
    fd, candidate = tempfile.mkstemp(prefix='.candidate-', suffix='.conf', dir=state)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(candidate, 0o644)
        problem = eximlib.validate_config(module, params['exim'], candidate)
    finally:
        os.unlink(candidate)
    if problem:
        raise gen.StateError('the new Exim configuration and relay state failed to validate, nothing was '
                             'switched: %s' % problem)


def revoke_only(module, params, previous, certificates, removed, gid):
    """Publish the current generation without the removed certificates (after another failure, or
    for input that cannot be applied), validated with the configuration in place; certificates:
    current_certificates() of previous."""
    plan = Plan.without(module, params, previous, certificates, removed, gid)
    builder = plan.build(previous, plan.differences(previous, certificates)[0])
    try:
        validate(module, params, builder.path, live_config(params))
        return builder.publish()
    except BaseException:
        builder.discard()
        raise


def publish(module, params, plan, previous, certificates, differ, removed, gid):
    """Build, validate and switch to the plan's generation; on failure still publish the removals."""
    try:
        builder = plan.build(previous, differ)
        try:
            validate(module, params, builder.path, params['config'] if params['config'] is not None
                     else live_config(params))
            published = builder.publish()
        except BaseException:
            builder.discard()
            raise
    except (gen.StateError, OSError) as exc:
        problem = exc if isinstance(exc, gen.StateError) else gen.worded(exc, params['state_directory'])
        if not (removed and previous):
            raise problem from None
        try:
            revoke_only(module, params, previous, certificates, set(removed), gid)
        except (gen.StateError, OSError) as again:
            untrust_in_place(previous, removed)
            raise gen.StateError('%s; a generation without the certificates this run removes (%s) could not be '
                                 'written either (%s): their files were deleted from the current trust directory '
                                 'instead, so Exim no longer verifies them' % (problem, ', '.join(removed), again)) from None
        gen.remove_entry(previous)
        raise gen.StateError('%s; the certificates this run removes (%s) are no longer trusted, nothing else '
                             'changed' % (problem, ', '.join(removed))) from None
    if previous:
        gen.remove_entry(previous)
    return published


def untrust_in_place(generation, names):
    """Last resort when nothing can be written: delete the certificates and their hash links from
    the current trust directory (only removes trust: those clients fail verification)."""
    trust = os.path.join(generation, TRUST)
    files = set(name + SUFFIX for name in names)
    for entry in os.listdir(trust):
        path = os.path.join(trust, entry)
        if entry in files or (os.path.islink(path) and os.readlink(path) in files):
            os.unlink(path)


def live_paths(params):
    """The allowlist files as Exim reads them (through the current link)."""
    live = os.path.join(params['state_directory'], gen.CURRENT)
    return os.path.join(live, 'allowlist'), os.path.join(live, DBM)


def live_config(params):
    """The configuration in place, as text, or None when there is none."""
    if params['config_file'] and os.path.isfile(params['config_file']):
        return read_bytes(params['config_file']).decode('utf-8', 'replace')
    return None


def require_rehash_tool(module, params):
    """Fail before anything is touched when rehash=auto, O(exim) is an OpenSSL build and no tool
    can write the hash links it needs (no client certificate would verify)."""
    if params['rehash'] != 'auto' or module.get_bin_path('openssl') or module.get_bin_path('c_rehash'):
        return
    if eximlib.tls_library(module, params['exim']) == 'openssl':
        module.fail_json(msg='%s is built with OpenSSL, which finds a client certificate in the trust directory '
                             'only through its hash link, and neither "openssl rehash" nor "c_rehash" is '
                             'installed: install openssl; nothing was changed' % params['exim'])


def resolve_group(module, group):
    import grp
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        module.fail_json(msg='group %s does not exist on this host' % group)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_directory=dict(type='path', required=True),
            group=dict(type='str', required=True),
            server_certificate=dict(type='str'),
            server_privatekey=dict(type='str', no_log=True),
            revoke_only=dict(type='bool', default=False),
            keep=dict(type='list', elements='str', default=[]),
            certificates=dict(type='list', elements='dict', default=[], no_log=False, options=dict(
                name=dict(type='str', required=True),
                certificate=dict(type='str'),
                state=dict(type='str', default='present', choices=['present', 'absent']),
            )),
            allowlist=dict(type='str', default='macro', choices=['macro', 'file', 'dbm']),
            rehash=dict(type='str', default='auto', choices=['auto', 'openssl', 'c_rehash', 'none']),
            acl=dict(type='str'),
            data_acl=dict(type='str'),
            cert_acl=dict(type='str'),
            ca_certificates=dict(type='list', elements='str', default=[]),
            crl=dict(type='str', default=''),
            config_file=dict(type='path'),
            config=dict(type='str'),
            # Resolved by the action plugin; accepted here so that the documentation is the module's.
            certificates_var=dict(type='str'),
            certificates_json=dict(type='str'),
            acl_template=dict(type='str'),
            data_acl_template=dict(type='str'),
            cert_acl_template=dict(type='str'),
            config_template=dict(type='str'),
            exim=dict(type='path', default='exim'),
            validate=dict(type='bool', default=True),
            lock_timeout=dict(type='int', default=300),
            legacy_paths=dict(type='list', elements='path', default=[]),
            holder=dict(type='str', default='certrelay.exim.relay_state'),
        ),
        required_by=dict(config=['config_file'], config_template=['config_file']),
        mutually_exclusive=[('certificates', 'certificates_var', 'certificates_json'), ('acl', 'acl_template'),
                            ('data_acl', 'data_acl_template'), ('cert_acl', 'cert_acl_template'),
                            ('config', 'config_template')],
        required_if=[('revoke_only', False, ['server_certificate', 'server_privatekey'])],
        supports_check_mode=True,
    )
    params = module.params
    state = params['state_directory'] = os.path.abspath(params['state_directory'])
    st = os.lstat(state) if os.path.lexists(state) else None
    # In check mode the directory may be one an earlier task would have created.
    if (st is None and not module.check_mode and not params['revoke_only']) \
            or (st is not None and not stat.S_ISDIR(st.st_mode)):
        module.fail_json(msg='%s must be an existing directory (not a symlink)' % state)
    if st is not None and (st.st_uid != 0 or st.st_mode & 0o022):
        module.fail_json(msg='%s must belong to root and be writable by nobody else (it decides what Exim '
                             'trusts): owner uid %d, mode %04o' % (state, st.st_uid, stat.S_IMODE(st.st_mode)))
    if params['certificates_json'] is not None:
        params['certificates'] = certificates_from_json(module, params.pop('certificates_json'))
    gid = resolve_group(module, params['group'])
    if params['revoke_only']:
        module.exit_json(**revocations(module, params, gid))
    try:
        pem_certificate_ders(params['server_certificate'], 'server_certificate')
        pem_private_key_label(params['server_privatekey'], 'server_privatekey')
    except CertificateError as exc:
        module.fail_json(msg=to_native(exc))
    pems, fingerprints = wanted_certificates(module, params['certificates'])
    anchors = (wanted_cas(module, params['ca_certificates'], fingerprints), wanted_crl(module, params['crl']))
    require_rehash_tool(module, params)
    # Not the whole list again in the result: megabytes of certificates at fleet scale.
    invocation = dict(module_args=dict(params, server_privatekey='********', certificates=[
        dict(name=item['name'], state=item['state']) for item in params['certificates']]))
    if module.check_mode:
        module.exit_json(invocation=invocation, **transition(module, params, pems, fingerprints, anchors, gid, check=True))
    try:
        with gen.Lock(state, params['lock_timeout'], params['holder']):
            result = transition(module, params, pems, fingerprints, anchors, gid, check=False)
    except gen.StateError as exc:
        module.fail_json(msg=str(exc), invocation=invocation)
    module.exit_json(invocation=invocation, **result)


def revocations(module, params, gid):
    """revoke_only: the current generation less every certificate not listed as present."""
    state = params['state_directory']
    listed = set(params['keep'])
    result = dict(changed=False, generation='', added=[], updated=[], removed=[], fingerprints={}, trusted=0,
                  config_changed=False, removed_legacy=[], removed_leftovers=[], unmanaged=[])
    if not os.path.isdir(state):
        return result
    lock = contextlib.nullcontext() if module.check_mode else gen.Lock(state, params['lock_timeout'], params['holder'])
    try:
        with lock:
            previous = gen.current_generation(state)
            certificates = current_certificates(previous)
            removed = sorted(name for name in certificates if name not in listed)
            result.update(generation=previous or '', removed=removed, changed=bool(removed),
                          trusted=len(certificates) - len(removed))
            if removed and not module.check_mode:
                result['generation'] = revoke_only(module, params, previous, certificates, set(removed), gid)
                gen.remove_entry(previous)
    except (gen.StateError, OSError) as exc:
        module.fail_json(msg='the certificates this run removes could not be taken out: %s' % exc, **result)
    return result


def transition(module, params, pems, fingerprints, anchors, gid, check):
    state = params['state_directory']
    previous = gen.current_generation(state)
    old = current_certificates(previous, pems, fingerprints)
    added = sorted(name for name in pems if name not in old)
    removed = sorted(name for name in old if name not in pems)
    updated = sorted(name for name in pems if name in old and old[name][0] != pems[name])
    plan = Plan.requested(module, params, pems, fingerprints, gid, anchors)
    if plan.tls_library == 'openssl' and anchors[1] is not None and pems:
        # Exim's OpenSSL code checks a CRL for every certificate of a chain once tls_crl is set
        module.warn('%s is built with OpenSSL, which with a CRL verifies only certificates whose issuer has one: '
                    'any of the %d client certificates that is self-signed is refused ("unable to get certificate '
                    'CRL"); only certificates issued by a client CA verify' % (params['exim'], len(pems)))
    differ, unexpected = plan.differences(previous, old)
    config_changed = params['config'] is not None and read_bytes(params['config_file']) != to_bytes(params['config'])
    leftovers = gen.leftovers(state) if os.path.isdir(state) else []
    referenced = params['config'] if params['config'] is not None else (live_config(params) or '')
    legacy = [path for path in params['legacy_paths'] if os.path.lexists(path) and path not in referenced]
    result = dict(changed=bool(differ or unexpected or config_changed or legacy), generation=previous or '',
                  removed_legacy=legacy, tls_library=plan.tls_library,
                  added=added, updated=updated, removed=removed, trusted=len(fingerprints),
                  fingerprints=dict((name, fingerprints[name]) for name in added + updated),
                  config_changed=config_changed, removed_leftovers=leftovers, unmanaged=unexpected)
    if result['changed'] or leftovers:
        result['diff'] = [dict(
            before_header='%s (trusted certificates)' % state, after_header='%s (trusted certificates)' % state,
            before=''.join('%s.pem %s\n' % (n, old[n][1]) for n in sorted(updated + removed)),
            # other files by name only: server.key is one of them
            after=''.join('%s.pem %s\n' % (n, fingerprints[n]) for n in sorted(added + updated))
            + ''.join('(replaced) %s\n' % rel for rel in differ if not rel.startswith(TRUST + '/') or CA_FILE.fullmatch(rel))
            + ''.join('(removed, not managed) %s\n' % rel for rel in unexpected),
        )]
        if config_changed:
            result['diff'].append(dict(before_header=params['config_file'], after_header=params['config_file'],
                                       before=(read_bytes(params['config_file']) or b'').decode('utf-8', 'replace'),
                                       after=params['config']))
    link = os.path.join(state, gen.CURRENT)
    if os.path.lexists(link) and not os.path.islink(link):
        # something else than our link where Exim looks: replaced by a clean generation
        unexpected.append(gen.CURRENT)
        result['changed'] = True
    if unexpected:
        module.warn('%s held entries certrelay.exim did not put there, which Exim could trust: %s; '
                    'a clean generation replaces it' % (previous, ', '.join(unexpected[:10])))
    if check:
        return result
    for entry in leftovers:
        gen.remove_entry(os.path.join(state, entry))
    if gen.CURRENT in unexpected:
        gen.remove_entry(link)
    if differ or unexpected:
        result['generation'] = publish(module, params, plan, previous, old, differ, removed, gid)
    elif config_changed:
        validate(module, params, previous, params['config'])
    if config_changed:
        try:
            write_atomic(module, params['config_file'], to_bytes(params['config']), file_args('root', 'root', '0644'))
        except OSError as exc:
            raise gen.worded(exc, params['config_file']) from None
    for path in legacy:
        gen.remove_entry(path)
    return result


if __name__ == '__main__':
    main()
