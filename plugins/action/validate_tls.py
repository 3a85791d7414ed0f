# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one validation of the collection's certificates and keys, on the controller.

Takes variable names, not values: a private key never becomes a task argument (and so never
appears in an argument dump at any verbosity), and a client list of thousands of file lookups is
resolved entry by entry at listing cost (plugin_utils/resolve.py). Every problem is worded without
quoting the input, so the result needs no no_log.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.ca_validation import check_client_ca
from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    require_cryptography,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.certrelay.exim.plugins.plugin_utils.entry_check import check_entries
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import AuthorityError, load_authority
from ansible_collections.certrelay.exim.plugins.plugin_utils.resolve import Resolver
from ansible_collections.certrelay.exim.plugins.plugin_utils.tls_validation import check_credential, check_pin

CREDENTIAL = dict(
    certificate=dict(type='str', required=True),
    privatekey=dict(type='str'),
    allow_expired=dict(type='bool', default=False),
    host=dict(type='str'),
)
PIN = dict(
    var=dict(type='str', required=True),
    host=dict(type='str', required=True),
    verify_hostname=dict(type='bool', default=True),
    allow_ca=dict(type='bool', default=False),
)
AUTHORITY = dict(
    certificate=dict(type='str', required=True),
    privatekey=dict(type='str', required=True),
    passphrase=dict(type='str', required=True),
)
CLIENT_CERTS = dict(
    var=dict(type='str', required=True),
    allow_expired=dict(type='bool', default=False),
    allow_empty=dict(type='bool', default=False),
    expired_option=dict(type='str', default='allow_expired'),
    empty_option=dict(type='str', default='allow_empty'),
)
CLIENT_CA = dict(
    certificates=dict(type='str', required=True),
    crl=dict(type='str', required=True),
    policy=dict(type='str', required=True),
    policy_option=dict(type='str', default='policy'),
)


def client_list_problems(name, check, spec, weak_option):
    """The server role's wording of check_entries' problems, every kind in one message."""
    problems = check['problems']
    parts = []

    def names(kind, text):
        if problems[kind]:
            parts.append(text % ', '.join(problems[kind]))

    names('invalid_names', 'invalid names (use letters, digits, . _ @ -, not starting with .): %s.')
    names('duplicate_names', 'names given more than once: %s.')
    names('no_certificate', 'no certificate given for: %s.')
    names('invalid_states', 'state must be present or absent for: %s.')
    parts += ["the certificate of client '%s' is unusable: %s." % (bad['name'], bad['reason'])
              for bad in problems['unusable']]
    parts += ["the certificate of client '%s' is weak: %s (set %s to accept it)." % (bad['name'], bad['reason'], weak_option)
              for bad in problems['weak']]
    if problems['duplicate_certificates']:
        parts.append('the same certificate is listed under several names: %s.' % '; '.join(problems['duplicate_certificates']))
    if problems['expired'] and not spec['allow_expired']:
        parts.append('expired certificates (set %s to accept them): %s.' % (spec['expired_option'], ', '.join(problems['expired'])))
    names('not_yet_valid', 'certificates not valid yet (Exim would refuse them): %s.')
    if not check['present'] and not spec['allow_empty'] and not spec.get('ca_policy'):
        parts.append('no client certificate is present: nobody could relay (set %s to allow this).' % spec['empty_option'])
    return ['%s is invalid: %s' % (name, ' '.join(parts))] if parts else []


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = dict(
        credentials=dict(type='list', elements='dict', default=[], options=CREDENTIAL),
        pin=dict(type='dict', options=PIN),
        client_certs=dict(type='dict', options=CLIENT_CERTS),
        authority=dict(type='dict', options=AUTHORITY),
        client_ca=dict(type='dict', options=CLIENT_CA),
        allow_weak=dict(type='bool', default=False),
        weak_option=dict(type='str', default='allow_weak'),
    )

    def act(self, args, task_vars):
        try:
            require_cryptography()
        except CertificateError as exc:
            return dict(failed=True, msg=to_native(exc))
        resolver = Resolver(self._templar, self._loader, task_vars)
        result, problems = dict(changed=False), []
        weak = dict(allow_weak=args['allow_weak'])
        present = []
        ca_spec = args['client_ca']
        if args['client_certs']:
            spec = args['client_certs']
            try:
                entries = resolver.variable(spec['var'], [])
            except AnsibleError as exc:
                return dict(failed=True, msg=to_native(exc))
            if not isinstance(entries, (list, tuple)):
                return dict(failed=True, msg='%s must be a list of {name, certificate, state} dicts' % spec['var'])
            check = check_entries(entries, allow_weak=args['allow_weak'])
            result.update(check)
            present = check['present']
            # under the ca policy the CA decides who relays: an empty client list is normal
            spec = dict(spec, ca_policy=bool(ca_spec) and ca_spec['policy'] == 'ca')
            problems += client_list_problems(spec['var'], check, spec, args['weak_option'])
        if ca_spec:
            try:
                cas, crl = resolver.variable(ca_spec['certificates'], []), resolver.variable(ca_spec['crl'], '')
            except AnsibleError as exc:
                return dict(failed=True, msg=to_native(exc))
            names = dict(certificates=ca_spec['certificates'], crl=ca_spec['crl'], policy=ca_spec['policy_option'],
                         client_certs=args['client_certs']['var'] if args['client_certs'] else 'the client list')
            result['client_ca'], found = check_client_ca(cas, crl, ca_spec['policy'], present, args['weak_option'],
                                                         names, allow_weak=args['allow_weak'])
            problems += found
        result['certificates'] = {}
        for credential in args['credentials']:
            certificate = resolver.variable(credential['certificate'])
            key = resolver.variable(credential['privatekey']) if credential['privatekey'] else None
            info, found = check_credential(certificate, key, credential['certificate'], credential['privatekey'],
                                           args['weak_option'], allow_expired=credential['allow_expired'],
                                           host=credential['host'], **weak)
            result['certificates'][credential['certificate']] = info
            problems += found
        if args['pin']:
            spec = args['pin']
            infos, found = check_pin(resolver.variable(spec['var']), spec['var'], spec['host'], args['weak_option'],
                                     verify_hostname=spec['verify_hostname'], allow_ca=spec['allow_ca'], **weak)
            result['pin'] = dict(certificates=infos, fingerprints=[info['fingerprint'] for info in infos])
            problems += found
        if args['authority']:
            spec = args['authority']
            try:
                load_authority(resolver.variable, (spec['certificate'], spec['privatekey'], spec['passphrase']),
                               required=False)
            except AuthorityError as exc:
                problems.append(to_native(exc))
        if problems:
            # The failed result keeps what a caller needs to act on bad input (the names listed).
            keep = dict((key, result[key]) for key in ('listed',) if key in result)
            return dict(keep, failed=True, changed=False, errors=problems, msg=' '.join(problems))
        return result
