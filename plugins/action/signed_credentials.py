# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""certrelay.exim.signed_credentials: a key made on the host, its certificate signed by a CA on the
controller (docs: modules/signed_credentials.py).

Two calls of certrelay.exim.generated_credentials on the host: the first makes the key unless it
exists and returns a CSR with the certificate in place; the second, only when a new certificate
is needed, installs what the CA signed here. The key never leaves the host; the CA key is read by
variable name from the task's variables, so it is never a task or module argument.

Every certificate signed is added to the issued record (O(record_path), on the controller) before it
is sent to the host, so that one the host never reports can still be revoked. Check mode signs
nothing: a signed certificate is valid wherever it ends up, so it is only reported as to be signed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    load_certificate,
    not_after_utc,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet import record_issued
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import (
    CERTIFICATE_DAYS,
    AuthorityError,
    load_authority,
    name_problem,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.resolve import Resolver

MODULE = 'certrelay.exim.generated_credentials'
FILE_OPTIONS = ('privatekey_path', 'certificate_path', 'common_name', 'owner', 'group', 'certificate_group',
                'privatekey_mode', 'certificate_mode')
SPEC = dict(
    privatekey_path=dict(type='path', required=True),
    certificate_path=dict(type='path', required=True),
    common_name=dict(type='str', required=True),
    days=dict(type='int', default=CERTIFICATE_DAYS),
    owner=dict(type='str'),
    group=dict(type='str'),
    certificate_group=dict(type='str'),
    privatekey_mode=dict(type='raw', default='0640'),
    certificate_mode=dict(type='raw', default='0644'),
    renew=dict(type='bool', default=False),
    keep_serials=dict(type='list', elements='str'),
    record_path=dict(type='path'),
    ca_certificate_var=dict(type='str', default='exim_client_signing_ca_certificate'),
    ca_privatekey_var=dict(type='str', default='exim_client_signing_ca_privatekey'),
    ca_passphrase_var=dict(type='str', default='exim_client_signing_ca_passphrase'),
)


def keeps(authority, current, request, common_name, now, serials=None):
    """Whether the certificate in place can stay: issued by this CA for the key of the request,
    for common_name, valid now, and (serials given) one of those serials (hex)."""
    from cryptography import x509
    try:
        cert = load_certificate(current, 'the certificate in place')
        csr = x509.load_pem_x509_csr(request.strip().encode('ascii'))
    except (CertificateError, ValueError):
        return False
    names = [attr.value for attr in cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]
    return (authority.issued(cert) and public_der(cert) == public_der(csr) and names == [common_name]
            and not_after_utc(cert) > now
            and (serials is None or '%X' % cert.serial_number in set(s.upper() for s in serials)))


def public_der(item):
    from cryptography.hazmat.primitives import serialization
    return item.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=SPEC)
        names = (args['ca_certificate_var'], args['ca_privatekey_var'], args['ca_passphrase_var'])
        problem = name_problem(args['common_name'])
        if problem:
            return dict(result, failed=True, msg='common_name: %s' % problem)
        try:
            authority = load_authority(Resolver(self._templar, self._loader, task_vars).variable, names)
        except (AuthorityError, AnsibleError) as exc:
            return dict(result, failed=True, msg=to_native(exc))
        files = dict((key, args[key]) for key in FILE_OPTIONS if args[key] is not None)
        found = self._execute_module(module_name=MODULE, module_args=dict(files, request=True), task_vars=task_vars)
        if found.get('failed'):
            return dict(result, **found)
        result.update(changed=found['changed'], generated=found['generated'], signed=False,
                      certificate=found['certificate'])
        if not found['request']:
            # check mode, key still to be made: nothing to sign yet
            return result
        now = datetime.datetime.now(datetime.timezone.utc)
        if not args['renew'] and keeps(authority, found['certificate'], found['request'], args['common_name'], now,
                                       args['keep_serials']):
            return result
        if self._task.check_mode:
            return dict(result, changed=True, would_sign=True, msg='would sign a certificate for %s' % args['common_name'])
        try:
            signed = authority.sign(found['request'], args['common_name'], args['days'], now)
            cert = load_certificate(signed, 'it')
        except (AuthorityError, CertificateError) as exc:
            return dict(result, failed=True, msg=to_native(exc))
        if args['record_path']:
            try:
                record_issued(args['record_path'], cert.serial_number, not_after_utc(cert))
            except OSError as exc:
                return dict(result, failed=True, msg='signed, but not sent: cannot record it in %s: %s'
                            % (args['record_path'], to_native(exc.strerror or exc)))
        installed = self._execute_module(module_name=MODULE, module_args=dict(files, certificate=signed),
                                         task_vars=task_vars)
        if installed.get('failed'):
            return dict(result, **installed)
        result.update(changed=True, signed=True, certificate=signed + '\n', serial='%X' % cert.serial_number)
        return result
