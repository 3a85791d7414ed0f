"""certrelay.exim.directories, run in-process on real directories."""

import grp
import os

import pytest

from ansible_collections.certrelay.exim.plugins.modules import directories
from tests.lib.module import run_module

GROUP = 'daemon'


def run(entries, check=False):
    return run_module(directories.main, {'directories': entries}, check)


def mode(path):
    return path.stat().st_mode & 0o7777


def test_creates_missing_directories_and_parents_whatever_the_umask(tmp_path):
    target = tmp_path / 'a' / 'b' / 'tls'
    old = os.umask(0o077)
    try:
        result = run([{'path': str(target), 'owner': 'root', 'group': GROUP, 'mode': '0750'}])
    finally:
        os.umask(old)
    assert result['changed'] and result['created'] == [str(target)] and result['updated'] == []
    assert mode(target) == 0o750 and grp.getgrgid(target.stat().st_gid).gr_name == GROUP
    assert mode(tmp_path / 'a') == mode(tmp_path / 'a' / 'b') == 0o755


def test_second_run_changes_nothing(tmp_path):
    entries = [{'path': str(tmp_path / 'x'), 'mode': '0700'}, {'path': str(tmp_path / 'x' / 'y'), 'mode': '0755'}]
    assert run(entries)['changed']
    again = run(entries)
    assert not again['changed'] and again['created'] == again['updated'] == []


def test_attribute_drift_is_fixed(tmp_path):
    target = tmp_path / 'spool'
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    result = run([{'path': str(target), 'group': GROUP, 'mode': '0750'}])
    assert result['changed'] and result['updated'] == [str(target)]
    assert mode(target) == 0o750 and grp.getgrgid(target.stat().st_gid).gr_name == GROUP
    assert str(target) in result['diff']['after']


def test_check_mode_reports_and_creates_nothing(tmp_path):
    existing = tmp_path / 'old'
    existing.mkdir()
    existing.chmod(0o777)
    result = run([{'path': str(tmp_path / 'new')}, {'path': str(existing), 'mode': '0755'}], check=True)
    assert result['changed'] and result['created'] == [str(tmp_path / 'new')] and result['updated'] == [str(existing)]
    assert not (tmp_path / 'new').exists() and mode(existing) == 0o777


@pytest.mark.parametrize('make, message', [
    (lambda p: p.write_text('x'), 'exists and is not a directory'),
    (lambda p: p.symlink_to('/nonexistent'), 'exists and is not a directory'),
])
def test_a_non_directory_fails_before_anything_is_created(tmp_path, make, message):
    first, bad = tmp_path / 'first', tmp_path / 'bad'
    make(bad)
    result = run([{'path': str(first)}, {'path': str(bad)}])
    assert result['failed'] and message in result['msg'] and str(bad) in result['msg']
    assert not first.exists()


def test_relative_paths_are_refused(tmp_path):
    result = run([{'path': 'relative/dir'}])
    assert result['failed'] and 'not an absolute path' in result['msg']


def test_a_symlinked_directory_stands_for_its_target(tmp_path):
    real = tmp_path / 'volume' / 'spool'
    real.mkdir(parents=True)
    real.chmod(0o700)
    link = tmp_path / 'spool'
    link.symlink_to(real)
    entry = [{'path': str(link), 'group': GROUP, 'mode': '0750'}]
    result = run(entry)
    assert result['changed'] and result['updated'] == [str(link)]
    assert mode(real) == 0o750 and grp.getgrgid(real.stat().st_gid).gr_name == GROUP
    assert link.is_symlink()
    assert not run(entry)['changed']


def test_a_file_in_the_way_of_a_parent_is_a_clean_failure(tmp_path):
    (tmp_path / 'file').write_text('x')
    result = run([{'path': str(tmp_path / 'file' / 'sub')}])
    assert result['failed'] and str(tmp_path / 'file' / 'sub') in result['msg']


def test_one_path_with_two_owners_or_modes_fails_before_anything_is_created(tmp_path):
    first, base = tmp_path / 'first', tmp_path / 'base'
    result = run([{'path': str(first)},
                  {'path': str(base), 'owner': 'root', 'group': GROUP, 'mode': '0755', 'label': 'base directory'},
                  {'path': str(base) + '/', 'owner': 'root', 'group': GROUP, 'mode': '0750', 'label': 'mailbox directory'}])
    assert result['failed'], result
    assert (f'{base} is wanted as base directory (root:{GROUP} 0755) and as mailbox directory (root:{GROUP} 0750)'
            in result['msg']), result['msg']
    assert not first.exists() and not base.exists()


def test_one_path_listed_twice_alike_is_created_once_and_converges(tmp_path):
    entries = [{'path': str(tmp_path / 'd'), 'mode': '0750'}, {'path': str(tmp_path / 'd') + '/', 'mode': '750'}]
    result = run(entries)
    assert result['changed'] and result['created'] == [str(tmp_path / 'd')]
    assert not run(entries)['changed']


def test_entries_for_one_path_add_up(tmp_path):
    target = tmp_path / 'd'
    result = run([{'path': str(target), 'group': GROUP}, {'path': str(target), 'mode': '0750'}])
    assert result['created'] == [str(target)]
    assert mode(target) == 0o750 and grp.getgrgid(target.stat().st_gid).gr_name == GROUP
