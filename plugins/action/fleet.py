# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""certrelay.exim.fleet: read the fleet directory and the inventory once (docs: modules/fleet.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleActionFail

from ansible_collections.certrelay.exim.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet import Fleet
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_inventory import (
    expiring_certificates,
    laptop_settings,
    relay_links,
    relay_problems,
    revoke_names,
    revoke_problems,
)


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = {
        'directory': {'type': 'path', 'required': True},
        'revoke': {'type': 'raw'},
        'expiry_warn_days': {'type': 'int', 'default': 30},
    }

    def act(self, args, task_vars):
        if args['expiry_warn_days'] < 0:
            raise AnsibleActionFail('certrelay_expiry_warn_days must be 0 or more days (got %d)' % args['expiry_warn_days'])
        data = read_fleet(args['directory'], args['revoke'], task_vars, args['expiry_warn_days'])
        warnings = data.pop('warnings')
        return dict(data, changed=False, **({'warnings': warnings} if warnings else {}))


def read_fleet(directory, revoke, task_vars, expiry_warn_days=30, now=None):
    """The fleet's data for the run, with every problem worded (empty when all is well)."""
    groups = task_vars.get('groups', {})
    relays = list(groups.get('relays', []))
    inventory_laptops = list(groups.get('laptops', []))
    run_hosts = set(task_vars.get('ansible_play_hosts_all', []))
    hostvars = task_vars.get('hostvars', {})

    fleet = Fleet.read(directory)
    problems = relay_problems(relays, run_hosts)
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
    data = fleet.to_data()
    data.update(problems=problems, relays=links, laptops=settings, revoking=revoking, expiring=expiring,
                warnings=warnings)
    return data
