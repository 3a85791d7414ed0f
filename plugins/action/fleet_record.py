# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""certrelay.exim.fleet_record: every fleet directory write of a run (docs: modules/fleet_record.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import CertificateError
from ansible_collections.certrelay.exim.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet import Fleet, apply, pending
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import AuthorityError, fleet_authority
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_inventory import host_vars, unpinned
from ansible_collections.certrelay.exim.plugins.plugin_utils.resolve import Resolver

# What certrelay.exim.fleet derived from the inventory for the run, passed on unchanged.
RUN_KEYS = ('problems', 'relays', 'laptops', 'revoking')


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = {
        'fleet': {'type': 'dict', 'required': True},
        'reenrol': {'type': 'bool', 'default': False},
        'certificate_var': {'type': 'str', 'default': 'exim_client_certificate_pem'},
        'next_certificate_var': {'type': 'str', 'default': 'exim_client_next_certificate_pem'},
        'pinned_var': {'type': 'str', 'default': '__certrelay_pinned'},
    }

    def act(self, args, task_vars):
        collected = collect(task_vars.get('hostvars', {}), args)
        ca = None
        if args['fleet'].get('authority'):
            # private-CA mode: the CRL is planned again with what the run recorded (the CA key is
            # read by variable name, as certrelay.exim.fleet reads it)
            try:
                ca = fleet_authority(Resolver(self._templar, self._loader, task_vars), task_vars)
            except (AuthorityError, AnsibleError) as exc:
                return dict(failed=True, msg='Not recorded in the fleet directory: %s' % to_native(exc))
        try:
            data, ops = record(args['fleet'], collected, args['reenrol'], ca)
        except CertificateError as exc:
            return dict(failed=True, msg='Not recorded in the fleet directory: %s' % to_native(exc))
        # An earlier play of the run may have recorded the same already (private-CA mode records
        # the laptops before the relays' last pass): what is on disk is no change.
        ops = pending(ops)
        if not self._task.check_mode:
            apply(ops)
        result = dict(data, changed=bool(ops))
        if self._task.diff and ops:
            result['diff'] = [op.diff() for op in ops]
        return result


def collect(hostvars, args):
    """{laptop: {'certificate', 'next', 'pinned'}} from the facts of the laptops of the run."""
    names = {'certificate': args['certificate_var'], 'next': args['next_certificate_var'],
             'pinned': args['pinned_var']}
    collected = {}
    for laptop in args['fleet'].get('laptops', {}):
        found = host_vars(hostvars, laptop, names.values())
        collected[laptop] = {key: found[var] for key, var in names.items() if found.get(var)}
    return collected


def record(data, collected, reenrol=False, ca=None):
    """(the fleet's data after this run's changes, the file operations that make them).

    ca: the fleet CA with its key (private-CA mode), to revoke what the recorded certificates replace.
    """
    fleet, ops = Fleet.from_data(data).plan(
        record={name: facts['certificate'] for name, facts in collected.items() if 'certificate' in facts},
        announce={name: facts['next'] for name, facts in collected.items() if 'next' in facts},
        revoke=data.get('revoking', ()),
        reenrol=reenrol,
        ca=ca,
        laptops=data.get('laptops', {}),
    )
    settings = data.get('laptops', {})
    pinned = {name: facts.get('pinned', '') for name, facts in collected.items()}
    # Only the fleet's own keys: a registered result also holds changed, diff and the like.
    new = dict((key, data[key]) for key in RUN_KEYS if key in data)
    new.update(fleet.to_data())
    # A relay switches to its announced certificate only once all of its laptops pin it.
    new['unpinned'] = {relay: unpinned(relay, link['next'], settings, pinned, fleet.revoked)
                       for relay, link in data.get('relays', {}).items() if link.get('next')}
    return new, ops
