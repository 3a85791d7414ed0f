"""tests/lib/hoststate.py: the before/after comparison that `make test` and the session fixture use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lib import hoststate

SCRIPT = Path(__file__).resolve().parents[1] / 'lib' / 'hoststate.py'


@pytest.fixture
def etc(tmp_path, monkeypatch):
    """A private stand-in for /etc/exim4 as an earlier run may have left it."""
    root = tmp_path / 'exim4'
    (root / 'certrelay' / 'state').mkdir(parents=True)
    (root / 'trusted_configs').write_text('/srv/earlier-run/exim.conf\n')
    (root / 'conf.d').mkdir()
    (root / 'conf.d' / 'macros').write_text('MAIN_TLS_ENABLE = yes\n')
    os.symlink('g-1', root / 'certrelay' / 'state' / 'current')
    monkeypatch.setenv('CERTRELAY_HOST_ROOTS', str(root))
    return root


def test_unchanged_host_has_no_differences_whatever_was_there_before(etc):
    assert hoststate.report(hoststate.snapshot(), hoststate.snapshot()) == ''


def test_every_kind_of_leak_is_named(etc):
    before = hoststate.snapshot()
    with (etc / 'trusted_configs').open('a') as f:
        f.write('/tmp/certrelay-server-x/exim.conf\n')
    (etc / 'certrelay-2525').mkdir()
    (etc / 'conf.d' / 'macros').chmod(0o600)
    (etc / 'certrelay' / 'state' / 'current').unlink()
    os.symlink('g-2', etc / 'certrelay' / 'state' / 'current')
    (etc / 'conf.d' / 'macros').write_text('changed\n')
    diffs = hoststate.differences(before, hoststate.snapshot())
    text = '\n'.join(diffs)
    assert len(diffs) == 4, text
    assert "trusted_configs: lines added ['/tmp/certrelay-server-x/exim.conf'], lines removed []" in text
    assert f'{etc}/certrelay-2525: created' in text
    assert f'{etc}/conf.d/macros: mode, sha256 changed' in text
    assert f'{etc}/certrelay/state/current: link changed' in text


def test_removing_what_an_earlier_run_left_is_a_difference_too(etc):
    before = hoststate.snapshot()
    (etc / 'trusted_configs').write_text('')
    (etc / 'certrelay' / 'state' / 'current').unlink()
    text = hoststate.report(before, hoststate.snapshot())
    assert "lines removed ['/srv/earlier-run/exim.conf']" in text
    assert 'current: removed' in text


def test_command_line_snapshot_then_check(etc, tmp_path):
    saved = tmp_path / 'before.json'
    run = [sys.executable, str(SCRIPT)]
    subprocess.run([*run, 'snapshot', str(saved)], check=True, capture_output=True)
    assert str(etc / 'trusted_configs') in json.loads(saved.read_text())
    assert subprocess.run([*run, 'check', str(saved)], capture_output=True, check=False).returncode == 0
    (etc / 'certrelay' / 'leftover').mkdir()
    leaked = subprocess.run([*run, 'check', str(saved)], capture_output=True, text=True, check=False)
    assert leaked.returncode == 1
    assert f'{etc}/certrelay/leftover: created' in leaked.stderr
