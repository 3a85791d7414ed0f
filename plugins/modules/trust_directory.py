#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: trust_directory
short_description: Keep a dedicated certificate trust directory in sync with a list, in one round trip
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Writes one file C(<name>.pem) per listed certificate into a dedicated directory (for Exim's
    C(tls_verify_certificates)), writes only files whose content or attributes differ, removes
    C(*.pem) files of certificates no longer listed and their hash links, and re-indexes the
    directory (C(openssl rehash) or C(c_rehash)) only when something changed.
  - "Optionally writes an Exim lookup file (C(lsearch) format, one C(FINGERPRINT: name) line per
    certificate) so Exim can check the allowlist without a configuration change."
  - Costs one round trip for the whole list, however many certificates it holds; the target needs
    no C(cryptography) library (fingerprints are SHA-256 over the DER decoded from the PEM).
  - Give it certificates validated on the controller (for example with the
    P(certrelay.exim.cert_info#filter) filter); it refuses text that is not a PEM certificate.
  - Never point it at a shared or system CA directory; Exim built with GnuTLS trusts every file
    in the directory.
options:
  path:
    description: The trust directory; created (with O(directory_mode)) when missing.
    type: path
    required: true
  certificates:
    description:
      - The certificates the directory holds, exactly. For a PEM bundle only the first
        certificate is written.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - File name without C(.pem); letters, digits, C(.), C(_), C(@), C(-), not starting
            with C(.). Unique in the list.
        type: str
        required: true
      certificate:
        description: The certificate as PEM text; required unless O(certificates[].state=absent).
        type: str
      state:
        description:
          - C(absent) removes the file even when O(prune=false); such entries need no certificate.
        type: str
        default: present
        choices: [present, absent]
  owner:
    description: Owner of the certificate files.
    type: str
  group:
    description: Group of the certificate files.
    type: str
  mode:
    description: Mode of the certificate files (certificates are public).
    type: raw
    default: '0644'
  directory_mode:
    description: Mode of O(path) when the module creates it.
    type: raw
    default: '0755'
  prune:
    description:
      - Remove C(*.pem) files in O(path) that are not listed, and hash links pointing at them.
      - Other files are left alone and reported in RV(unmanaged).
    type: bool
    default: true
  rehash:
    description:
      - How to build the hash links OpenSSL builds of Exim need.
      - C(auto) uses C(openssl rehash) when available, else C(c_rehash), else warns.
      - Links are rebuilt only when a certificate changed or a certificate has no link.
    type: str
    default: auto
    choices: [auto, openssl, c_rehash, none]
  allowlist_file:
    description:
      - "When set, also maintain this Exim C(lsearch) file with one C(FINGERPRINT: name) line per
        certificate, sorted by name. Must be outside O(path)."
      - The same certificate under two names is then refused (the lookup key would be ambiguous).
    type: path
  allowlist_mode:
    description: Mode of O(allowlist_file) and O(allowlist_dbm).
    type: raw
    default: '0644'
  allowlist_dbm:
    description:
      - "When set (requires O(allowlist_file)), also keep this indexed DBM file built from
        O(allowlist_file) with Exim's C(exim_dbmbuild -nolc), for a lookup that does not grow with
        the number of certificates (C(${lookup{FP}dbm{FILE}})). Must be outside O(path)."
      - Built when the allowlist changes, when the DBM file is missing or older than O(allowlist_file)
        (the list changed while nothing used the index). The index is built from the new list before
        the list is replaced, into a temporary file that gets its owner and mode before it is renamed
        into place; a failed build changes neither file, so the next run tries again.
      - Needs C(exim_dbmbuild) (installed with Exim) when a build is due, except in check mode, and an
        Exim built with Berkeley DB, GDBM or TDB (Debian, RHEL); ndbm builds are refused.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - certrelay.exim.attributes
notes:
  - The diff is a summary (one line per added, removed or updated certificate), never whole files.
"""

EXAMPLES = r"""
- name: Trust exactly these laptops
  certrelay.exim.trust_directory:
    path: /etc/exim4/certrelay/trust
    certificates:
      - name: laptop-a
        certificate: "{{ lookup('ansible.builtin.file', 'laptop-a.pem') }}"
    group: Debian-exim
    allowlist_file: /etc/exim4/certrelay/relay-allowlist
  register: trust
  notify: Reload exim
"""

RETURN = r"""
added:
  description: Names of certificates written for the first time.
  returned: always
  type: list
  elements: str
updated:
  description: Names whose file content or attributes changed.
  returned: always
  type: list
  elements: str
removed:
  description: Names whose files were pruned.
  returned: always
  type: list
  elements: str
fingerprints:
  description: Name to SHA-256 fingerprint in Exim's form (upper-case hex, no colons).
  returned: always
  type: dict
  sample: {"laptop-a": "36A727B95BDF46EE44F1A1B7164C65EB7013B1D5EA17776B0203E13CE69A787D"}
rehashed:
  description: Whether the hash links were rebuilt.
  returned: always
  type: bool
allowlist_changed:
  description: Whether O(allowlist_file) was (or in check mode would be) rewritten.
  returned: always
  type: bool
allowlist_dbm_built:
  description: Whether O(allowlist_dbm) was (or in check mode would be) rebuilt.
  returned: always
  type: bool
unmanaged:
  description: Files in O(path) this module does not manage (Exim with GnuTLS trusts them too).
  returned: always
  type: list
  elements: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.certrelay.exim.plugins.module_utils.certificates import (
    CertificateError,
    der_to_pem,
    fingerprint_der,
    pem_certificate_ders,
)
from ansible_collections.certrelay.exim.plugins.module_utils.entries import NAME, shared_certificates
from ansible_collections.certrelay.exim.plugins.module_utils.files import (
    TEMP_PREFIX,
    attributes_differ,
    commit,
    differences,
    discard,
    file_args,
    prepare,
    settle,
    temp_path,
    write_atomic,
)

# openssl rehash: <8 hex>.<n> (certs) and .r<n> (CRLs); Debian's c_rehash adds a 32-hex md5 form.
HASH_LINK = re.compile(r'^([0-9a-f]{8}|[0-9a-f]{32})\.r?[0-9]+$')
SUFFIX = '.pem'


def wanted_files(module, certificates):
    """name -> canonical PEM bytes and name -> fingerprint for present entries; absent names."""
    wanted, fingerprints, absent, seen = {}, {}, set(), set()
    for index, item in enumerate(certificates):
        name = item['name']
        where = 'certificates[%d] (%s)' % (index, name)
        if not NAME.match(name or ''):
            module.fail_json(msg='%s: invalid name; use letters, digits, ".", "_", "@", "-" '
                                 'and do not start with "."' % where)
        if name in seen:
            module.fail_json(msg='%s: duplicate name' % where)
        seen.add(name)
        if item['state'] == 'absent':
            absent.add(name)
            continue
        if not item['certificate']:
            module.fail_json(msg='%s: certificate is required for state=present' % where)
        try:
            der = pem_certificate_ders(item['certificate'], where)[0]
        except CertificateError as exc:
            module.fail_json(msg=to_native(exc))
        wanted[name] = to_bytes(der_to_pem(der))
        fingerprints[name] = fingerprint_der(der)
    return wanted, fingerprints, absent


def scan(path):
    """Managed .pem names, hash links (name -> target) and other entries of the directory."""
    pems, links, others = {}, {}, []
    if not os.path.isdir(path):
        return pems, links, others
    for entry in sorted(os.listdir(path)):
        full = os.path.join(path, entry)
        if os.path.islink(full) and HASH_LINK.match(entry):
            links[entry] = os.readlink(full)
        elif entry.endswith(SUFFIX) and os.path.isfile(full) and not os.path.islink(full):
            pems[entry[:-len(SUFFIX)]] = full
        elif not entry.startswith(TEMP_PREFIX):
            others.append(entry)
    return pems, links, others


def rehash_command(module, how):
    if how == 'none':
        return None
    openssl = module.get_bin_path('openssl')
    c_rehash = module.get_bin_path('c_rehash')
    if how in ('auto', 'openssl') and openssl:
        return [openssl, 'rehash']
    if how in ('auto', 'c_rehash') and c_rehash:
        return [c_rehash]
    if how == 'auto':
        module.warn('neither "openssl rehash" nor "c_rehash" found: no hash links written '
                    '(Exim built with OpenSSL needs them; GnuTLS builds do not)')
        return None
    module.fail_json(msg='rehash=%s requested but the tool is not installed' % how)


def allowlist_content(fingerprints):
    lines = ['# Written by certrelay.exim.trust_directory; Exim lsearch: fingerprint: client name']
    lines += ['%s: %s' % (fingerprints[name], name) for name in sorted(fingerprints)]
    return to_bytes('\n'.join(lines) + '\n')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            certificates=dict(type='list', elements='dict', required=True, no_log=False, options=dict(
                name=dict(type='str', required=True),
                certificate=dict(type='str'),
                state=dict(type='str', default='present', choices=['present', 'absent']),
            )),
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='raw', default='0644'),
            directory_mode=dict(type='raw', default='0755'),
            prune=dict(type='bool', default=True),
            rehash=dict(type='str', default='auto', choices=['auto', 'openssl', 'c_rehash', 'none']),
            allowlist_file=dict(type='path'),
            allowlist_mode=dict(type='raw', default='0644'),
            allowlist_dbm=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = os.path.abspath(params['path'])
    allowlist = params['allowlist_file'] and os.path.abspath(params['allowlist_file'])
    dbm = params['allowlist_dbm'] and os.path.abspath(params['allowlist_dbm'])
    if dbm and not allowlist:
        module.fail_json(msg='allowlist_dbm is built from allowlist_file: give both')
    if dbm and dbm == allowlist:
        module.fail_json(msg='allowlist_dbm must be another file than allowlist_file (its source)')
    for option, value in (('allowlist_dbm', dbm), ('allowlist_file', allowlist)):
        if value and (value + '/').startswith(path.rstrip('/') + '/'):
            module.fail_json(msg='%s must be outside the trust directory %s: Exim with GnuTLS '
                                 'would try to load it as a certificate' % (option, path))
    if os.path.exists(path) and not os.path.isdir(path):
        module.fail_json(msg='%s exists and is not a directory' % path)

    wanted, fingerprints, absent = wanted_files(module, params['certificates'])
    # One line per certificate in the allowlist: the same certificate twice would be a duplicate key.
    shared = shared_certificates(sorted(fingerprints.items())) if allowlist else []
    if shared:
        module.fail_json(msg='the same certificate is listed under several names: %s' % '; '.join(shared))
    cert_args = file_args(params['owner'], params['group'], params['mode'])
    pems, links, others = scan(path)

    added, updated, rewritten = [], [], set()
    for name in sorted(wanted):
        if name not in pems:
            added.append(name)
            continue
        content_differs, attributes_change = differences(module, os.path.join(path, name + SUFFIX),
                                                         wanted[name], cert_args)
        if content_differs:
            rewritten.add(name)
        if content_differs or attributes_change:
            updated.append(name)
    removed = sorted(name for name in pems
                     if name in absent or (params['prune'] and name not in wanted))

    content_changed = bool(added or removed or rewritten)
    how = rehash_command(module, params['rehash'])
    linked = set(os.path.basename(target) for target in links.values())
    unlinked = [n for n in wanted if n + SUFFIX not in linked]
    rehash_needed = how is not None and bool(wanted) and (content_changed or bool(unlinked))
    dangling = [link for link, target in links.items()
                if os.path.basename(target)[:-len(SUFFIX)] in removed
                or not os.path.exists(os.path.join(path, target))]

    new_allowlist = allowlist_content(fingerprints) if allowlist else None
    allowlist_args = dict(cert_args, mode=params['allowlist_mode'])
    allowlist_content_changed, allowlist_attributes = (
        differences(module, allowlist, new_allowlist, allowlist_args) if allowlist else (False, False))
    allowlist_changed = allowlist_content_changed or allowlist_attributes
    # Also rebuilt when older than its source: the allowlist changed while the mode was not dbm.
    dbm_build = bool(dbm) and (allowlist_content_changed or not os.path.isfile(dbm)
                               or not os.path.isfile(allowlist)
                               or os.stat(dbm).st_mtime_ns < os.stat(allowlist).st_mtime_ns)
    dbm_attributes = bool(dbm) and not dbm_build and attributes_differ(module, dbm, allowlist_args)

    changed = bool(added or updated or removed or rehash_needed or dangling or allowlist_changed
                   or dbm_build or dbm_attributes
                   or not os.path.isdir(path))
    result = dict(changed=changed, added=added, updated=updated, removed=removed,
                  fingerprints=fingerprints, rehashed=False, allowlist_changed=allowlist_changed,
                  allowlist_dbm_built=dbm_build,
                  unmanaged=others)
    if changed:
        result['diff'] = dict(
            before_header='%s (certificates)' % path, after_header='%s (certificates)' % path,
            before=''.join('%s.pem\n' % n for n in sorted(updated + removed)),
            after=''.join('%s.pem %s\n' % (n, fingerprints[n]) for n in sorted(added + updated)),
        )
    if others:
        module.warn('%s holds files this module does not manage, which Exim may trust too: %s'
                    % (path, ', '.join(others[:10])))
    if module.check_mode or not changed:
        result['rehashed'] = rehash_needed
        module.exit_json(**result)

    if not os.path.isdir(path):
        os.makedirs(path)
        module.set_fs_attributes_if_different(dict(cert_args, path=path, mode=params['directory_mode']),
                                              False)
    for name in added + updated:
        dest = os.path.join(path, name + SUFFIX)
        if name in added or name in rewritten:
            write_atomic(module, dest, wanted[name], cert_args)
        else:
            module.set_fs_attributes_if_different(dict(cert_args, path=dest), False)
    for name in removed:
        os.unlink(os.path.join(path, name + SUFFIX))
    for link in dangling:
        os.unlink(os.path.join(path, link))
    if rehash_needed:
        rc, out, err = module.run_command(how + [path])
        if rc != 0:
            module.fail_json(msg='%s failed: %s' % (' '.join(how), err or out), **result)
        result['rehashed'] = True
    if allowlist:
        update_allowlist(module, result, allowlist, new_allowlist, allowlist_args,
                         dbm if dbm_build else None, allowlist_content_changed)
    if dbm_attributes:
        module.set_fs_attributes_if_different(dict(allowlist_args, path=dbm), False)
    module.exit_json(**result)


def update_allowlist(module, result, allowlist, content, args, dbm, content_changed):
    """Write the allowlist and (when dbm) its index; the index is built from the new content
    before the allowlist is replaced, so a failed build leaves the old allowlist and is retried by
    the next run instead of leaving a stale index behind an up-to-date list."""
    directory = os.path.dirname(allowlist)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    if not content_changed:
        module.set_fs_attributes_if_different(dict(args, path=allowlist), False)
        if dbm:
            build_dbm(module, result, allowlist, dbm, args)
        return
    tmp = prepare(module, allowlist, content, args)
    try:
        if dbm:
            build_dbm(module, result, tmp, dbm, args)
        commit(tmp, allowlist)
    finally:
        discard(tmp)


def build_dbm(module, result, source, dbm, args):
    """exim_dbmbuild source into a temporary file, give it its attributes, rename it onto dbm."""
    dbmbuild = module.get_bin_path('exim_dbmbuild', required=True, opt_dirs=['/usr/sbin', '/usr/local/sbin'])
    tmp = temp_path(dbm)
    try:
        rc, out, err = module.run_command([dbmbuild, '-nolc', source, tmp])
        if rc != 0:
            module.fail_json(msg='exim_dbmbuild failed (the allowlist was left as it was): %s'
                             % (err or out).strip(), **result)
        if os.path.getsize(tmp) == 0:
            # An Exim built with ndbm writes <name>.dir and <name>.pag instead of <name>.
            module.fail_json(msg='exim_dbmbuild wrote no single DBM file (an ndbm build of Exim?): use '
                                 'an lsearch allowlist on this host', **result)
        settle(module, tmp, dbm, args)
        commit(tmp, dbm)
    finally:
        for leftover in (tmp, tmp + '.dbmbuild_temp', tmp + '.dir', tmp + '.pag'):
            discard(leftover)


if __name__ == '__main__':
    main()
