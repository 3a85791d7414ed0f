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
  owner:
    description: Owner of both files.
    type: str
  group:
    description: Group of the key file (the certificate's is O(certificate_group)).
    type: str
  certificate_group:
    description: Group of the certificate file.
    type: str
  privatekey_mode:
    description: Mode of the key file.
    type: raw
    default: '0640'
  certificate_mode:
    description: Mode of the certificate file.
    type: raw
    default: '0644'
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
  description: Whether a new key and certificate were (or in check mode would be) generated.
  returned: always
  type: bool
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.certrelay.exim.plugins.module_utils.files import (
    TEMP_PREFIX,
    commit,
    discard,
    file_args,
    settle,
    unsafe_directory,
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
        ),
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
    with open(cert_path) as handle:
        certificate = handle.read()
    module.exit_json(changed=changed, generated=generated, certificate=certificate)


if __name__ == '__main__':
    main()
