# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""certrelay.exim.fleet_ca: create the fleet's private CA on the controller, once
(docs: modules/fleet_ca.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.certrelay.exim.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import CA_DAYS, create

KEY, CERTIFICATE = 'ca.key', 'ca.crt'


def write_new(path, text, mode):
    """Create path with text; never replaces or follows anything there (O_EXCL, O_NOFOLLOW)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), mode)
    with os.fdopen(fd, 'w', encoding='ascii') as handle:
        # the mode exactly (os.open's is reduced by the umask), on the file opened, not on a name
        os.fchmod(handle.fileno(), mode)
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def next_steps(directory):
    key, cert = os.path.join(directory, KEY), os.path.join(directory, CERTIFICATE)
    return [
        'Encrypt the CA key now (it stays where it is, unreadable without the vault password): '
        'ansible-vault encrypt %s' % key,
        'Then set in the inventory (e.g. group_vars/all.yml next to it), for every fleet run: '
        'certrelay_ca_certificate: "{{ lookup(\'ansible.builtin.file\', \'%s\') }}" and '
        'certrelay_ca_privatekey: "{{ lookup(\'ansible.builtin.file\', \'%s\') }}" '
        '(the file lookup decrypts it on the controller; run with --ask-vault-pass or --vault-password-file).'
        % (cert, key),
        'Back up %s and the vault password: without them no laptop can be enrolled or revoked.' % key,
    ]


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = {
        'directory': {'type': 'path', 'required': True},
        'common_name': {'type': 'str', 'default': 'certrelay fleet CA'},
        'days': {'type': 'int', 'default': CA_DAYS},
    }

    def act(self, args, task_vars):
        directory = args['directory']
        key, cert = os.path.join(directory, KEY), os.path.join(directory, CERTIFICATE)
        present = [path for path in (key, cert) if os.path.lexists(path)]
        result = dict(changed=False, privatekey_path=key, certificate_path=cert, next_steps=next_steps(directory))
        if len(present) == 2:
            with open(cert, encoding='ascii', errors='replace') as handle:
                result['certificate'] = handle.read()
            result['msg'] = 'The fleet CA exists already (%s); nothing written.' % directory
            return result
        if present:
            return dict(result, failed=True,
                        msg='%s exists without %s: nothing written, so that the fleet CA is never replaced by '
                            'accident. Put the missing file back, or move the other away to start a new CA.'
                            % (present[0], cert if present[0] == key else key))
        result['changed'] = True
        if self._task.diff:
            result['diff'] = [{'before_header': '%s (absent)' % path, 'after_header': path, 'before': '',
                               'after': '(a new %s)\n' % what} for path, what in ((key, 'private key, mode 0600'),
                                                                                  (cert, 'CA certificate'))]
        if self._task.check_mode:
            result['msg'] = 'Would create the fleet CA in %s.' % directory
            return result
        certificate, private = create(args['common_name'], args['days'])
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            # the key first: a certificate without its key would be refused on the next run
            write_new(key, private, 0o600)
            write_new(cert, certificate, 0o644)
        except OSError as exc:
            return dict(result, changed=False, failed=True, msg='Could not create the fleet CA: %s' % to_native(exc))
        result.update(certificate=certificate, msg='Created the fleet CA in %s (key mode 0600).' % directory)
        return result
