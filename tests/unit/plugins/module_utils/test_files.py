"""Directories only root controls: the check behind every write of key material."""

import os

import pytest

from ansible_collections.certrelay.exim.plugins.module_utils.files import unsafe_directory

NOBODY = 65534


@pytest.fixture
def root_dir(tmp_path):
    tmp_path.chmod(0o755)
    return tmp_path


def test_root_only_directories_are_safe(root_dir):
    assert unsafe_directory(str(root_dir)) is None
    assert unsafe_directory(str(root_dir / 'to' / 'be' / 'made')) is None


def test_sticky_tmp_is_fine_only_below_a_directory_of_root(root_dir):
    assert unsafe_directory('/tmp') == '/tmp is writable by others (mode 1777)'
    assert unsafe_directory('/tmp/certrelay-not-made-yet/tls') == '/tmp is writable by others (mode 1777)'


@pytest.mark.parametrize('mode, problem', [(0o777, 'is writable by others (mode 0777)'),
                                           (0o775, 'is writable by its group (mode 0775)')])
def test_writable_components_are_refused(root_dir, mode, problem):
    parent = root_dir / 'open'
    parent.mkdir()
    os.chown(parent, 0, NOBODY)
    parent.chmod(mode)
    assert unsafe_directory(str(parent / 'tls')) == '%s %s' % (parent, problem)


def test_group_root_may_write(root_dir):
    parent = root_dir / 'staff'
    parent.mkdir()
    parent.chmod(0o775)
    assert unsafe_directory(str(parent / 'tls')) is None


def test_a_component_of_another_user_is_refused(root_dir):
    theirs = root_dir / 'theirs'
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    assert unsafe_directory(str(theirs / 'tls')).endswith('theirs belongs to nobody, not root')


def test_a_link_into_a_directory_of_another_user_is_refused(root_dir):
    theirs = root_dir / 'theirs'
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    (root_dir / 'base').symlink_to(theirs)
    assert unsafe_directory(str(root_dir / 'base')) == '%s belongs to nobody, not root' % theirs


def test_a_link_in_a_directory_another_user_may_write_is_refused(root_dir):
    open_dir, safe = root_dir / 'open', root_dir / 'safe'
    open_dir.mkdir()
    safe.mkdir()
    open_dir.chmod(0o777)
    (open_dir / 'base').symlink_to(safe)
    assert unsafe_directory(str(open_dir / 'base')) == '%s is writable by others (mode 0777)' % open_dir
