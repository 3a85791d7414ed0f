#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tls_credentials
short_description: Install a certificate and its private key together, in one round trip
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Writes a PEM certificate (optionally followed by its chain) and its private key to two files,
    each only when its content, owner, group or mode differs, through a temporary file that has
    its final owner and mode before it is renamed into place (a new key is never readable by
    others, not even for a moment).
  - Both files are replaced back to back in one module call, so during a rotation Exim, which reads
    both files for every TLS connection, sees a mismatched pair for microseconds instead of the
    seconds between two tasks.
  - The key is never logged, returned or shown in a diff, and never written through a symbolic link
    (a link at either path is replaced) or into a directory another user than root may write to
    (refused).
  - Checks the form only (the certificate text holds PEM certificates and no key, the key text one
    unencrypted PEM private key); that the key belongs to the certificate is checked on the
    controller, for example with the P(certrelay.exim.key_matches_cert#filter) filter. The target
    needs no C(cryptography) library.
options:
  certificate:
    description: PEM certificate, optionally followed by intermediate certificates.
    type: str
    required: true
  certificate_path:
    description: Where the certificate goes; its directory must exist (except in check mode).
    type: path
    required: true
  privatekey:
    description: Unencrypted PEM private key of the certificate.
    type: str
    required: true
  privatekey_path:
    description: Where the private key goes; its directory must exist (except in check mode).
    type: path
    required: true
  owner:
    description:
      - Owner of both files. When not given, a replaced file keeps its owner and a new one belongs to
        the user the module runs as (as with O(group) and O(certificate_group)).
    type: str
  group:
    description: Group of the key (the group Exim runs as, so it can read it), and of the certificate unless O(certificate_group) is given.
    type: str
  certificate_group:
    description: Group of the certificate file, when it differs from O(group).
    type: str
  certificate_mode:
    description: Mode of the certificate file.
    type: raw
    default: '0644'
  privatekey_mode:
    description:
      - Mode of the key file, an octal string of at most C(0640) (C(0600), C(0440) are fine). Symbolic
        modes, and modes granting group write, anything to others or special bits, are refused.
    type: raw
    default: '0640'
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - certrelay.exim.attributes
notes:
  - The text is written as given, stripped of surrounding white space and ended by one newline.
seealso:
  - module: certrelay.exim.relay_state
"""

EXAMPLES = r"""
- name: Deploy the relay's certificate and key
  certrelay.exim.tls_credentials:
    certificate: "{{ lookup('ansible.builtin.file', 'relay.crt') }}"
    certificate_path: /etc/exim4/certrelay/tls/server.crt
    privatekey: "{{ relay_key }}"
    privatekey_path: /etc/exim4/certrelay/tls/server.key
    owner: root
    group: Debian-exim
  notify: Reload exim
"""

RETURN = r"""
certificate_changed:
  description: Whether the certificate file was (or in check mode would be) written or its attributes changed.
  returned: always
  type: bool
privatekey_changed:
  description: Whether the key file was (or in check mode would be) written or its attributes changed.
  returned: always
  type: bool
fingerprint:
  description: SHA-256 fingerprint of the (first) certificate in Exim's form (upper-case hex, no colons).
  returned: always
  type: str
  sample: 36A727B95BDF46EE44F1A1B7164C65EB7013B1D5EA17776B0203E13CE69A787D
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.certrelay.exim.plugins.module_utils.files import (
    commit,
    differences,
    discard,
    file_args,
    prepare,
    unsafe_directory,
)
from ansible_collections.certrelay.exim.plugins.module_utils.pem import (
    CertificateError,
    fingerprint_der,
    pem_certificate_ders,
    pem_private_key_label,
)

# Owner read-write, group read: anything beyond (group write, others, setuid) is refused.
KEY_MODE_MAX = 0o640


def mode_bits(mode):
    """Numeric value of an octal mode; None for a symbolic one, which cannot be checked up front."""
    if isinstance(mode, int):
        return mode
    try:
        return int(str(mode), 8)
    except ValueError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificate=dict(type='str', required=True),
            certificate_path=dict(type='path', required=True),
            privatekey=dict(type='str', required=True, no_log=True),
            privatekey_path=dict(type='path', required=True, no_log=False),
            owner=dict(type='str'),
            group=dict(type='str'),
            certificate_group=dict(type='str'),
            certificate_mode=dict(type='raw', default='0644'),
            privatekey_mode=dict(type='raw', default='0640', no_log=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if 'PRIVATE KEY-----' in params['certificate']:
        # A key given as the certificate must not be echoed back in the invocation.
        module.no_log_values.add(params['certificate'])
    try:
        ders = pem_certificate_ders(params['certificate'], 'certificate')
        pem_private_key_label(params['privatekey'])
    except CertificateError as exc:
        module.fail_json(msg=to_native(exc))
    key_bits = mode_bits(params['privatekey_mode'])
    if key_bits is None or key_bits & ~KEY_MODE_MAX:
        module.fail_json(msg='privatekey_mode must be an octal mode of at most 0640 (such as 0640 or 0600; '
                             'quote it in YAML), got %s' % params['privatekey_mode'])
    for option in ('certificate_path', 'privatekey_path'):
        if os.path.isdir(params[option]):
            module.fail_json(msg='%s: %s is a directory' % (option, params[option]))
    # In check mode the directory may be one an earlier task would have created.
    for option in ('certificate_path', 'privatekey_path'):
        if not module.check_mode and not os.path.isdir(os.path.dirname(os.path.abspath(params[option]))):
            module.fail_json(msg='%s: the directory of %s does not exist' % (option, params[option]))
    if os.path.abspath(params['certificate_path']) == os.path.abspath(params['privatekey_path']):
        module.fail_json(msg='certificate_path and privatekey_path must be different files')
    key_directory = os.path.dirname(os.path.abspath(params['privatekey_path']))
    problem = unsafe_directory(key_directory) if os.path.isdir(key_directory) else None
    if problem:
        module.fail_json(msg='refusing to write the private key in %s: %s, so another user could read or replace '
                             'it; make every directory on its path root\'s and writable by root only'
                             % (key_directory, problem))

    files = [
        ('certificate', params['certificate_path'], to_bytes(params['certificate'].strip() + '\n'),
         file_args(params['owner'], params['certificate_group'] or params['group'], params['certificate_mode'])),
        ('privatekey', params['privatekey_path'], to_bytes(params['privatekey'].strip() + '\n'),
         file_args(params['owner'], params['group'], params['privatekey_mode'])),
    ]
    plan = dict((what, differences(module, path, content, args)) for what, path, content, args in files)
    result = dict(changed=False, fingerprint=fingerprint_der(ders[0]),
                  certificate_changed=any(plan['certificate']),
                  privatekey_changed=any(plan['privatekey']))
    result['changed'] = result['certificate_changed'] or result['privatekey_changed']
    if result['changed']:
        result['diff'] = dict(
            before=''.join('%s: %s\n' % (path, 'content' if plan[what][0] else 'attributes')
                           for what, path, _content, _args in files if any(plan[what])),
            after=''.join('%s: %s\n' % (path, ('new content' + (' (hidden)' if what == 'privatekey' else ''))
                                        if plan[what][0] else 'owner, group or mode set')
                          for what, path, _content, _args in files if any(plan[what])),
        )
    if module.check_mode or not result['changed']:
        module.exit_json(**result)

    # Both new files are complete, with their attributes, before the first rename: the renames
    # follow each other directly, and a failure before them leaves the old pair in place.
    staged = []
    try:
        for what, path, content, args in files:
            content_differs, attributes_change = plan[what]
            if content_differs:
                staged.append((prepare(module, path, content, args), path))
            elif attributes_change:
                module.set_fs_attributes_if_different(dict(args, path=path), False)
        for tmp, path in staged:
            commit(tmp, path)
    except OSError as exc:
        module.fail_json(msg='cannot write the credentials: %s' % to_native(exc), **result)
    finally:
        for tmp, _path in staged:
            discard(tmp)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
