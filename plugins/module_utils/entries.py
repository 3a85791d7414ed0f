# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Names of certificate entries ({name, certificate, state}): the rules the controller checks and the
relay_state module relies on (standard library only; the certificate checks are in
plugin_utils/entry_check.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Also a file name (<name>.pem) in the trust directory: no path separators, no leading dot.
# Matched whole (fullmatch): with '$', "laptop-a\\n" would pass as a second, identical-looking name.
NAME = re.compile(r'[A-Za-z0-9_@-][A-Za-z0-9._@-]*')
STATES = ('present', 'absent')


def names_seen_twice(names):
    seen, twice = set(), []
    for name in names:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    return twice


def shared_certificates(names_and_fingerprints):
    """'name1 = name2' for every certificate listed under several names, names in the order given."""
    by_fingerprint = {}
    for name, fingerprint in names_and_fingerprints:
        by_fingerprint.setdefault(fingerprint, []).append(name)
    return [' = '.join(names) for names in by_fingerprint.values() if len(names) > 1]
