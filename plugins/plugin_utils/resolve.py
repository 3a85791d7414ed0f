# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role variables read by name from a task's raw variables, each value resolved once.

A value that is exactly "{{ lookup('[ansible.builtin.]file', '<literal>') }}" (trusted as a
template) is read the way the file lookup with its defaults reads it (same search path, vault
support, right-strip, error) without compiling one Jinja template per certificate, which costs
about 1 ms each; anything else goes through the templar as usual. Reading by name also keeps a
private key out of the task's arguments.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import uuid

from ansible.errors import AnsibleError, AnsibleFileNotFound
from ansible.template import is_trusted_as_template

FILE_LOOKUP = re.compile(
    r"""\{\{\s*lookup\(\s*(['"])(?:ansible\.builtin\.)?file\1\s*,\s*(['"])([^'"{}%#\\]+)\2\s*\)\s*\}\}""")
# A name no directory holds: path_dwim_relative_stack then lists every path it tried.
PROBE = '.certrelay-probe-%s' % uuid.uuid4().hex


class Resolver(object):
    """Templates task variables the way a task would, a file lookup per entry at listing cost."""

    def __init__(self, templar, loader, task_vars):
        self._templar, self._loader, self._vars = templar, loader, task_vars
        self._listings = {}

    def variable(self, name, default=None):
        """The value of the variable name, templated (lists of dicts entry by entry)."""
        raw = self._vars.get(name, default)
        if isinstance(raw, str):
            return self.value(raw)
        if isinstance(raw, (list, tuple)):
            return [self.entry(item) for item in raw]
        return self._templar.template(raw)

    def entry(self, item):
        if not isinstance(item, dict):
            return self._templar.template(item)
        return dict((key, self.value(value)) for key, value in item.items())

    def value(self, value):
        if isinstance(value, str):
            if '{' not in value or not is_trusted_as_template(value):
                return value
            match = FILE_LOOKUP.fullmatch(value)
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
