"""README.md's table names every plugin, role entry point and playbook; the docs cite no issue numbers."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / 'README.md').read_text()
# the content table: the rows between the first header row and the first blank line after it
TABLE = README[README.index('| Content |'):].split('\n\n', 1)[0]


def table_names():
    """certrelay.exim.X and the short .Y forms after it in a row, with the row's kind."""
    names = []
    for row in TABLE.splitlines()[2:]:
        first = row.split('|')[1]
        names += [(n, first) for n in re.findall(r'`(?:certrelay\.exim)?\.(\w+)`', first)]
    return names


def contents():
    for kind in ('action', 'filter', 'modules'):
        for plugin in sorted((ROOT / 'plugins' / kind).glob('[!_]*.py')):
            yield kind, plugin.stem, None
    for specs in sorted(ROOT.glob('roles/*/meta/argument_specs.yml')):
        for entry_point in yaml.safe_load(specs.read_text())['argument_specs']:
            yield 'role', specs.parents[1].name, entry_point
    for playbook in sorted((ROOT / 'playbooks').glob('*.yml')):
        if isinstance(yaml.safe_load(playbook.read_text()), list):
            yield 'playbook', playbook.stem, None


@pytest.mark.parametrize('kind, name, entry_point', list(contents()))
def test_readme_table_lists(kind, name, entry_point):
    rows = [first for found, first in table_names() if found == name]
    assert rows, f'{kind} {name} is not in the README table'
    if entry_point and entry_point != 'main':
        assert any(f'`tasks_from: {entry_point}`' in row for row in rows), f'role {name} entry point {entry_point} is not in the table'


def test_docs_cite_no_issue_numbers():
    texts = [ROOT / 'README.md', *ROOT.glob('docs/**/*.md'), *ROOT.glob('roles/*/README.md'),
             *ROOT.glob('roles/*/meta/argument_specs.yml'), *ROOT.glob('plugins/**/*.py'), *ROOT.glob('changelogs/fragments/*.yml')]
    cited = [f'{p.relative_to(ROOT)}: {m.group(0)}' for p in texts
             for m in re.finditer(r'\b(issue|ticket|bug)s?[\s#-]*\d+|(?<![\w&])#\d{1,4}\b|\bthe issue\b', p.read_text(), re.IGNORECASE)]
    assert cited == []
