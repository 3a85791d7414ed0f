# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""certrelay.exim.fleet: read the fleet directory and the inventory once (docs: modules/fleet.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet import CRL, Fleet
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import (
    CRL_DAYS,
    CRL_RENEW_DAYS,
    AuthorityError,
    fleet_authority,
    name_problem,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_inventory import (
    expiring_certificates,
    laptop_settings,
    relay_links,
    relay_problems,
    revoke_names,
    revoke_problems,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.resolve import Resolver


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = {
        'directory': {'type': 'path', 'required': True},
        'revoke': {'type': 'raw'},
        'expiry_warn_days': {'type': 'int', 'default': 30},
        'crl_days': {'type': 'int', 'default': CRL_DAYS},
        'crl_renew_days': {'type': 'int', 'default': CRL_RENEW_DAYS},
    }

    def act(self, args, task_vars):
        for name, option in (('expiry_warn_days', 'certrelay_expiry_warn_days'), ('crl_renew_days', 'certrelay_crl_renew_days')):
            if args[name] < 0:
                raise AnsibleActionFail('%s must be 0 or more days (got %d)' % (option, args[name]))
        if args['crl_days'] <= args['crl_renew_days']:
            raise AnsibleActionFail('certrelay_crl_days (%d) must be more than certrelay_crl_renew_days (%d), or every '
                                    'run would issue a new CRL' % (args['crl_days'], args['crl_renew_days']))
        problems = []
        try:
            authority = fleet_authority(Resolver(self._templar, self._loader, task_vars), task_vars)
        except (AuthorityError, AnsibleError) as exc:
            authority, problems = None, [to_native(exc)]
        data = read_fleet(args['directory'], args['revoke'], task_vars, args['expiry_warn_days'], authority=authority,
                          crl_days=args['crl_days'], crl_renew_days=args['crl_renew_days'])
        data['problems'] = problems + data['problems']
        warnings = data.pop('warnings')
        return dict(data, changed=False, **({'warnings': warnings} if warnings else {}))


def read_fleet(directory, revoke, task_vars, expiry_warn_days=30, now=None, authority=None, crl_days=CRL_DAYS,
               crl_renew_days=CRL_RENEW_DAYS):
    """The fleet's data for the run, with every problem worded (empty when all is well).

    authority (fleet_ca.Authority): private-CA mode; the CRL for the run is planned here, where
    the CA key is at hand, and written by fleet_record.
    """
    groups = task_vars.get('groups', {})
    relays = list(groups.get('relays', []))
    inventory_laptops = list(groups.get('laptops', []))
    run_hosts = set(task_vars.get('ansible_play_hosts_all', []))
    hostvars = task_vars.get('hostvars', {})

    fleet = Fleet.read(directory, authority)
    problems = relay_problems(relays, run_hosts)
    if CRL[:-len('.pem')] in inventory_laptops:
        problems.append('A laptop may not be named "crl": %s/%s is the fleet CRL. Rename it in the inventory.'
                        % (directory, CRL))
    links = relay_links(relays, hostvars)
    # Only the laptops of the run: a run limited to one laptop costs the same at any fleet size.
    settings, wrong_relay = laptop_settings([name for name in inventory_laptops if name in run_hosts],
                                            relays, hostvars, links)
    problems += wrong_relay + fleet.problems
    revoking = []
    if revoke is not None:
        revoking = revoke_names(revoke)
        problems += revoke_problems(revoking, fleet.known(inventory_laptops))
    expiring, warnings = expiring_certificates(
        dict((name, end) for name, end in fleet.not_after.items() if name in fleet.enrolled), links,
        expiry_warn_days, now or datetime.datetime.now(datetime.timezone.utc))
    if authority is not None:
        # The CA signs each laptop's certificate for its inventory name, which the relays log.
        problems += ['%s: %s' % (name, problem) for name, problem in
                     ((name, name_problem(name)) for name in settings) if problem]
        try:
            crl, reason = authority.plan_crl(fleet.crl, fleet.serials_to_revoke(revoking, now), crl_days,
                                             crl_renew_days, now)
            fleet.authority.update(crl=crl, crl_reason=reason, crl_days=crl_days, crl_renew_days=crl_renew_days)
        except AuthorityError as exc:
            problems.append('%s/%s: %s' % (directory, CRL, to_native(exc)))
    data = fleet.to_data()
    if authority is not None and data['relay_crl'] and data['trusted']:
        warnings.append('the fleet CRL revokes certificates while %s are still listed by fingerprint: relays built '
                        'with OpenSSL refuse those laptops as long as a CRL is set (no CRL for their own issuer); '
                        'move them to the CA (docs/fleet-ca.md)' % ', '.join(entry['name'] for entry in data['trusted']))
    data.update(problems=problems, relays=links, laptops=settings, revoking=revoking, expiring=expiring,
                warnings=warnings)
    return data
