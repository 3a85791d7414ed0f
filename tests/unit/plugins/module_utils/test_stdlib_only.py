"""module_utils runs on targets (Python's standard library and ansible's module_utils only)."""

import ast
import pathlib
import sys

import pytest

MODULE_UTILS = pathlib.Path(__file__).resolve().parents[4] / 'plugins' / 'module_utils'
ALLOWED_PREFIXES = ('ansible.module_utils.', 'ansible_collections.certrelay.exim.plugins.module_utils.')


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@pytest.mark.parametrize('path', sorted(MODULE_UTILS.glob('*.py')), ids=lambda p: p.name)
def test_module_utils_import_only_the_standard_library(path):
    foreign = [name for name in _imports(path)
               if name != '__future__' and name.split('.')[0] not in sys.stdlib_module_names
               and not name.startswith(ALLOWED_PREFIXES)]
    assert foreign == [], '%s imports %s, which a target may lack' % (path.name, ', '.join(foreign))
