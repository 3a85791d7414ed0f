"""The roles' argument specs state every per-OS default, so that `ansible-doc -t role` shows it.

A default read from vars/<os_family>.yml cannot be written as `default:` (one value for every OS);
its description must then give the value for each family the role supports, as C(value).
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ('Debian', 'RedHat')
# how defaults/main.yml reads a per-OS value (both roles the same way)
PER_OS = {role: r'__exim_%s_os\.(__exim_%s_\w+)' % (role, role) for role in ('server', 'client')}


def per_os_defaults(role):
    defaults = yaml.safe_load((ROOT / 'roles' / role / 'defaults' / 'main.yml').read_text())
    family_vars = {f: yaml.safe_load((ROOT / 'roles' / role / 'vars' / f'{f}.yml').read_text()) for f in FAMILIES}
    found = {}
    for option, value in defaults.items():
        for key in re.findall(PER_OS[role], str(value)):
            found.setdefault(option, []).append({f: family_vars[f][key] for f in FAMILIES})
    return found


def cases():
    for role in PER_OS:
        spec = yaml.safe_load((ROOT / 'roles' / role / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
        defaults = per_os_defaults(role)
        for entry_point, entry in spec.items():
            for option, doc in entry.get('options', {}).items():
                if option in defaults:
                    yield pytest.param(doc, defaults[option], id=f'{role}:{entry_point}:{option}')


def test_the_roles_have_per_os_defaults_at_all():
    assert len(list(cases())) >= 20


@pytest.mark.parametrize('doc, values', list(cases()))
def test_description_names_each_family_and_its_value(doc, values):
    text = ' '.join(doc['description']) if isinstance(doc['description'], list) else doc['description']
    assert 'default' not in doc, 'a per-OS default has no single value'
    for family in FAMILIES:
        assert family in text, f'{family} not named: {text}'
    for per_family in values:
        for family, value in per_family.items():
            for item in value if isinstance(value, list) else [value]:
                shown = f'C({item})' if item != '' else 'empty'
                assert shown in text, f'{family} default {shown} not in: {text}'
