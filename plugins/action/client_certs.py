# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve and check a list of named client certificates in one pass on the controller.

The variable is read by name from the task's raw variables, not templated as a whole: each entry
is resolved once. A value that is exactly "{{ lookup('[ansible.builtin.]file', '<literal>') }}"
(trusted as a template) is read the way the file lookup with its defaults reads it (same search
path, vault support, right-strip, error) without compiling one Jinja template per certificate,
which costs about 1 ms each; anything else goes through the templar as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import uuid

from ansible.errors import AnsibleActionFail, AnsibleError, AnsibleFileNotFound
from ansible.plugins.action import ActionBase
from ansible.template import is_trusted_as_template

from ansible_collections.certrelay.exim.plugins.module_utils.entries import check_entries

FILE_LOOKUP = re.compile(
    r"""^\{\{\s*lookup\(\s*(['"])(?:ansible\.builtin\.)?file\1\s*,\s*(['"])([^'"{}%#\\]+)\2\s*\)\s*\}\}$""")
# A name no directory holds: path_dwim_relative_stack then lists every path it tried.
PROBE = '.certrelay-probe-%s' % uuid.uuid4().hex


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        name = self._task.args.get('var')
        if not name or not isinstance(name, str):
            raise AnsibleActionFail('client_certs: var (the name of the variable to check) is required')
        self._listings, self._vars = {}, task_vars
        raw = task_vars.get(name, [])
        if isinstance(raw, str):  # the whole list is one template ("{{ fleet }}")
            raw = self._templar.template(raw)
        if not isinstance(raw, (list, tuple)):
            raise AnsibleActionFail('%s must be a list of {name, certificate, state} dicts' % name)
        # Returned as the task result (the role registers it), not as ansible_facts: facts of any
        # action but set_fact go to the fact cache, which is copied for every later task.
        result.update(check_entries([self._entry(item) for item in raw]))
        result['changed'] = False
        return result

    def _entry(self, item):
        if not isinstance(item, dict):
            return self._templar.template(item)
        return dict((key, self._value(value)) for key, value in item.items())

    def _value(self, value):
        if isinstance(value, str):
            if '{' not in value or not is_trusted_as_template(value):
                return value
            match = FILE_LOOKUP.match(value)
            if match:
                return self._read_file(match.group(3))
        return self._templar.template(value)

    def _listed(self, paths, term):
        """The path the file lookup would find for term, from directory listings made once per
        directory (a fleet keeps thousands of files in one); None where the loader must decide."""
        head, _sep, base = term.rpartition('/')
        if term.startswith(('/', '~')) or '..' in term or base in ('', 'files', '.'):
            return None
        candidates = self._listings.get(head)
        if candidates is None:
            try:
                self._loader.path_dwim_relative_stack(paths, 'files', (head + '/' if head else '') + PROBE,
                                                      is_role='role_path' in self._vars)
                return None
            except AnsibleFileNotFound as exc:
                searched = list(exc.paths or [])
            candidates = []
            for candidate in searched:
                directory = os.path.dirname(candidate)
                try:
                    candidates.append((directory, set(os.listdir(directory))))
                except OSError:
                    continue
            self._listings[head] = candidates
        for directory, names in candidates:
            if base in names:
                path = os.path.join(directory, base)
                return path if os.path.exists(path) else None
        return None

    def _read_file(self, term):
        # ansible.builtin.file with its defaults (lstrip false, rstrip true): the search path of
        # the task, vault-aware reading.
        paths = self._vars.get('ansible_search_path') or [self._loader.get_basedir()]
        try:
            path = self._listed(paths, term) or self._loader.path_dwim_relative_stack(
                paths, 'files', term, is_role='role_path' in self._vars)
            return self._loader.get_text_file_contents(path).rstrip()
        except AnsibleError as exc:
            raise AnsibleError('Unable to access the file %r.' % term) from exc
