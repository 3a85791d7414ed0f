#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: generated_credentials
short_description: A key and self-signed certificate made on the host, restricted and read back, in one round trip
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Unless O(certificate_path) and O(privatekey_path) are regular files, generates an EC P-256 key
    and a self-signed certificate with C(openssl req) on the host (the key never leaves it), into a
    fresh directory only root can open beside the destinations, then renamed into place key first,
    so that an interrupted run leaves no certificate without its key. A symbolic link at either
    path is replaced, never followed.
  - Refuses a directory of the key or certificate that another user than root could write to or
    that belongs to another user (on its real path or the path as given).
  - Sets owner, group and mode of both files, and returns the certificate - one module call where
    generating, two M(ansible.builtin.file) and an M(ansible.builtin.slurp) cost four.
  - With O(request=true) no certificate is made. The key is generated unless it exists, and a
    certificate signing request for it (C(openssl req -new)) is returned with the certificate
    found at O(certificate_path), for a CA on the controller to sign
    (M(certrelay.exim.signed_credentials) does both steps). With O(certificate) that signed
    certificate is installed, once C(openssl) confirms it belongs to the key.
options:
  privatekey_path:
    description: The key file.
    type: path
    required: true
  certificate_path:
    description: The certificate file; when it and the key exist as regular files nothing is generated.
    type: path
    required: true
  common_name:
    description: Subject common name of a new certificate; also its DNS subject alternative name.
    type: str
    required: true
  days:
    description: Validity of a new certificate in days.
    type: int
    default: 3650
  request:
    description:
      - Make only the key (unless it exists) and return RV(request), a certificate signing request
        for it with subject C(CN=<common_name>); nothing else changes.
    type: bool
    default: false
  certificate:
    description:
      - A certificate (PEM) for the existing key, written to O(certificate_path) atomically. Refused
        when the key is missing or the certificate does not belong to it.
    type: str
attributes:
  check_mode:
    support: full
    details: Reports what would be generated or changed; a certificate that does not exist yet is returned empty.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - certrelay.exim.credential_files
requirements:
  - openssl on the host
seealso:
  - module: certrelay.exim.tls_credentials
"""

EXAMPLES = r"""
- name: Generate the laptop's client key and certificate unless they exist
  certrelay.exim.generated_credentials:
    privatekey_path: /etc/exim4/certrelay/client.key
    certificate_path: /etc/exim4/certrelay/client.crt
    common_name: laptop-7.example.com
    owner: root
    group: Debian-exim
    certificate_group: root
  register: generated
"""

RETURN = r"""
certificate:
  description: The certificate (PEM), empty in check mode when it would be generated.
  returned: always
  type: str
generated:
  description: Whether a new key (and certificate) were (or in check mode would be) generated.
  returned: always
  type: bool
request:
  description: With O(request=true), a certificate signing request for the key (PEM); empty in check mode when the key would be new.
  returned: when O(request=true)
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certrelay.exim.plugins.module_utils.files import (
    TEMP_PREFIX,
    commit,
    differences,
    discard,
    file_args,
    settle,
    unsafe_directory,
    write_atomic,
)


def generate(module, key_path, cert_path, key_args, cert_args):
    """openssl req into a directory of its own; both files get their attributes, then the renames.

    openssl opens its output files by name: a fresh 0700 directory of root's (beside the targets,
    on their file system) is the only place where nobody can put a link or a file of theirs under
    that name first.
    """
    params = module.params
    private = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=os.path.dirname(key_path))
    key_tmp, cert_tmp = os.path.join(private, 'key'), os.path.join(private, 'certificate')
    try:
        module.run_command(
            ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
             '-sha256', '-days', str(params['days']), '-subj', '/CN=%s' % params['common_name'],
             '-addext', 'subjectAltName=DNS:%s' % params['common_name'],
             '-keyout', key_tmp, '-out', cert_tmp], check_rc=True)
        settle(module, key_tmp, key_path, key_args)
        settle(module, cert_tmp, cert_path, cert_args)
        # The certificate's existence marks a complete pair: the key goes first.
        commit(key_tmp, key_path)
        commit(cert_tmp, cert_path)
    finally:
        discard(key_tmp)
        discard(cert_tmp)
        os.rmdir(private)


def regular(path):
    """An existing regular file that is not a symbolic link (a planted link is never followed)."""
    return os.path.isfile(path) and not os.path.islink(path)


def generate_key(module, key_path, key_args):
    """A new EC P-256 key, made by openssl in a directory of root's (see generate), then renamed."""
    private = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=os.path.dirname(key_path))
    key_tmp = os.path.join(private, 'key')
    try:
        module.run_command(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
                            '-out', key_tmp], check_rc=True)
        settle(module, key_tmp, key_path, key_args)
        commit(key_tmp, key_path)
    finally:
        discard(key_tmp)
        os.rmdir(private)


def certificate_request(module, key_path, common_name):
    """A CSR for the key (openssl req -new writes it to standard output: no file involved)."""
    rc, out, err = module.run_command(['openssl', 'req', '-new', '-key', key_path, '-subj', '/CN=%s' % common_name])
    if rc != 0 or 'BEGIN CERTIFICATE REQUEST' not in out:
        module.fail_json(msg='openssl could not make a certificate request for the key %s: %s' % (key_path, err.strip()))
    return out.strip() + '\n'


def public_key(module, argv, data=None):
    rc, out, dummy = module.run_command(argv, data=data, binary_data=True)
    return out.strip() if rc == 0 else None


def install_certificate(module, key_path, cert_path, certificate, cert_args):
    """Write certificate (it must belong to the key) atomically; returns whether anything changed."""
    if not regular(key_path):
        module.fail_json(msg='no key at %s to install the certificate for: make it with request=true first' % key_path)
    text = certificate.strip() + '\n'
    theirs = public_key(module, ['openssl', 'x509', '-noout', '-pubkey'], data=text)
    ours = public_key(module, ['openssl', 'pkey', '-in', key_path, '-pubout'])
    if not theirs or theirs != ours:
        module.fail_json(msg='the certificate given for %s does not belong to the key %s' % (cert_path, key_path))
    content_differs, attributes_differ = differences(module, cert_path, text.encode('ascii'), cert_args)
    if os.path.islink(cert_path):
        content_differs = True
    if content_differs and not module.check_mode:
        write_atomic(module, cert_path, text.encode('ascii'), cert_args)
    elif attributes_differ:
        module.set_fs_attributes_if_different(dict(cert_args, path=cert_path), False)
    return content_differs or attributes_differ


def read_certificate(path):
    if not regular(path):
        return ''
    with open(path) as handle:
        return handle.read()


def requested(module, key_path, cert_path, key_args, cert_args):
    """request=true or certificate given: the key (made unless it exists) and its CSR, or the
    signed certificate installed."""
    params = module.params
    generated = not regular(key_path)
    if generated and params['certificate'] is not None:
        module.fail_json(msg='no key at %s to install the certificate for: make it with request=true first' % key_path)
    if generated and module.check_mode:
        module.exit_json(changed=True, generated=True, certificate='', request='')
    if generated:
        generate_key(module, key_path, key_args)
    changed = module.set_fs_attributes_if_different(dict(key_args, path=key_path), generated)
    if params['certificate'] is not None:
        changed = install_certificate(module, key_path, cert_path, params['certificate'], cert_args) or changed
        module.exit_json(changed=changed, generated=False, certificate=params['certificate'].strip() + '\n')
    module.exit_json(changed=changed, generated=generated, certificate=read_certificate(cert_path),
                     request=certificate_request(module, key_path, params['common_name']))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            privatekey_path=dict(type='path', required=True, no_log=False),
            certificate_path=dict(type='path', required=True),
            common_name=dict(type='str', required=True),
            days=dict(type='int', default=3650),
            owner=dict(type='str'),
            group=dict(type='str'),
            certificate_group=dict(type='str'),
            privatekey_mode=dict(type='raw', default='0640', no_log=False),
            certificate_mode=dict(type='raw', default='0644'),
            request=dict(type='bool', default=False),
            certificate=dict(type='str'),
        ),
        mutually_exclusive=[('request', 'certificate')],
        supports_check_mode=True,
    )
    params = module.params
    key_path, cert_path = params['privatekey_path'], params['certificate_path']
    key_args = file_args(params['owner'], params['group'], params['privatekey_mode'])
    cert_args = file_args(params['owner'], params['certificate_group'], params['certificate_mode'])
    for path in sorted({os.path.dirname(os.path.abspath(key_path)), os.path.dirname(os.path.abspath(cert_path))}):
        problem = unsafe_directory(path)
        if problem:
            module.fail_json(msg='refusing to generate a key in %s: %s, so another user could read or replace '
                                 'it; make every directory on its path root\'s and writable by root only'
                                 % (path, problem))
    if params['request'] or params['certificate'] is not None:
        requested(module, key_path, cert_path, key_args, cert_args)
    # A key or certificate that is a symbolic link (or missing) means a new pair, renamed over the
    # link: attributes are never set, and the certificate never read, through a link.
    generated = not (regular(cert_path) and regular(key_path))
    if generated and module.check_mode:
        module.exit_json(changed=True, generated=True, certificate='')
    if generated:
        generate(module, key_path, cert_path, key_args, cert_args)
    changed = generated
    for path, args in ((key_path, key_args), (cert_path, cert_args)):
        if regular(path):
            changed = module.set_fs_attributes_if_different(dict(args, path=path), changed)
    module.exit_json(changed=changed, generated=generated, certificate=read_certificate(cert_path))


if __name__ == '__main__':
    main()
