"""The OpenSSL build of Exim (scripts/build-exim-openssl.sh) and what a RHEL-like host around it needs.

- `exim_binary()`: the build's binary; without it a test skips with the reason, except under CI=true,
  where a missing build is a failure (CI builds it in `make exim-openssl` before the integration stage).
- `rhel_exim_user()`: the user and group `exim` (RHEL's names; the build looks `exim` up when it
  starts) for the test session, removed afterwards and the account files' backups restored.
- `system_trusted_ca()`: a CA put into the directory OpenSSL's default verify paths read, taken out
  again afterwards, the directory left exactly as it was.
"""

import fcntl
import grp
import os
import pwd
import ssl
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.lib.ansible import REPO

PREFIX = Path(os.environ.get('EXIM_OPENSSL_PREFIX') or REPO / '.cache' / 'exim-openssl')
BINARY = PREFIX / 'bin' / 'exim'
RHEL_USER = 'exim'
# GECOS of the account made here: an `exim` user that does not carry it is someone else's, never removed.
_MARK = 'certrelay.exim test session'
_STATE = Path('/run/certrelay-exim-user')
_ACCOUNT_FILES = ('/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow')


def in_ci() -> bool:
    return os.environ.get('CI', '').lower() == 'true'


def exim_binary() -> str:
    """Path of the OpenSSL build; skips (fails under CI=true) when it is not built."""
    if os.access(BINARY, os.X_OK):
        return str(BINARY)
    reason = f'no OpenSSL build of Exim at {BINARY}: run `make exim-openssl` (scripts/build-exim-openssl.sh)'
    if in_ci():
        pytest.fail(reason + ' - CI=true: the build is part of make test', pytrace=False)
    pytest.skip(reason)


def _user():
    try:
        return pwd.getpwnam(RHEL_USER)
    except KeyError:
        return None


def _group_exists() -> bool:
    try:
        grp.getgrnam(RHEL_USER)
        return True
    except KeyError:
        return False


@contextmanager
def _locked():
    _STATE.mkdir(mode=0o700, exist_ok=True)
    with open(_STATE / 'lock', 'w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _live_sessions() -> list:
    alive = []
    for entry in _STATE.glob('session-*'):
        pid = int(entry.name.split('-', 1)[1])
        if Path(f'/proc/{pid}').exists():
            alive.append(pid)
        else:
            entry.unlink()
    return alive


@contextmanager
def rhel_exim_user():
    """The user and group `exim` exist for the block (shared by concurrent test sessions)."""
    if os.geteuid() != 0:
        pytest.skip('the RHEL names need the user exim, which only root can create')
    session = _STATE / f'session-{os.getpid()}'
    with _locked():
        existing = _user()
        if existing is not None and existing.pw_gecos != _MARK:
            ours = False   # a real exim account (a RHEL-like machine): used, never touched
        else:
            ours = True
            if existing is None:
                if not _live_sessions():
                    backups = _STATE / 'backups'
                    backups.mkdir(exist_ok=True)
                    for name in _ACCOUNT_FILES:
                        for path in (Path(name), Path(name + '-')):
                            if path.exists():
                                saved = backups / path.name
                                saved.write_bytes(path.read_bytes())
                                os.utime(saved, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
                if not _group_exists():
                    subprocess.run(['groupadd', '--system', RHEL_USER], check=True)
                subprocess.run(['useradd', '--system', '--gid', RHEL_USER, '--no-create-home',
                                '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin',
                                '--comment', _MARK, RHEL_USER], check=True)
            session.touch()
    try:
        yield RHEL_USER
    finally:
        if ours:
            with _locked():
                session.unlink(missing_ok=True)
                user = _user()
                if not _live_sessions() and user is not None and user.pw_gecos == _MARK:
                    subprocess.run(['userdel', RHEL_USER], check=False)
                    if _group_exists():
                        subprocess.run(['groupdel', RHEL_USER], check=False)
                    _restore_account_files()


def _restore_account_files():
    """useradd/userdel also rewrite the files' `-` backups: put those back as they were, when the
    account file itself is back to its old bytes (nothing else changed it meanwhile)."""
    backups = _STATE / 'backups'
    for name in _ACCOUNT_FILES:
        main, backup = Path(name), Path(name + '-')
        saved_main, saved_backup = backups / main.name, backups / backup.name
        if saved_main.exists() and saved_backup.exists() and backup.exists() \
                and main.read_bytes() == saved_main.read_bytes():
            st = backup.stat()
            with open(backup, 'r+b') as handle:  # in place: same inode, mode and owner
                handle.write(saved_backup.read_bytes())
                handle.truncate()
            os.utime(backup, ns=(st.st_atime_ns, saved_backup.stat().st_mtime_ns))
    for saved in backups.glob('*'):
        saved.unlink()


def default_verify_dir() -> Path:
    """The directory OpenSSL's default verify paths read (X509_get_default_cert_dir), resolved.

    The Exim build links the same libssl as Python's ssl module; Exim clears the environment, so
    SSL_CERT_DIR cannot redirect it and only this directory (or the default file) makes a CA system-trusted.
    """
    return Path(ssl.get_default_verify_paths().openssl_capath).resolve()


def _store_listing(directory: Path) -> dict:
    listing = {}
    for entry in directory.iterdir():
        st = entry.lstat()
        listing[entry.name] = os.readlink(entry) if entry.is_symlink() else (st.st_size, st.st_mtime_ns)
    return listing


def subject_hash(pem_path: Path) -> str:
    return subprocess.run(['openssl', 'x509', '-noout', '-subject_hash', '-in', str(pem_path)],
                          check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def system_trusted_ca(ca_pem: str):
    """ca_pem trusted through OpenSSL's default verify directory for the block; afterwards the
    directory holds exactly what it held before (checked)."""
    if os.geteuid() != 0:
        pytest.skip('making a CA system-trusted needs root')
    directory = default_verify_dir()
    before = _store_listing(directory)
    fd, name = tempfile.mkstemp(prefix='certrelay-test-ca-', suffix='.pem', dir=directory)
    with os.fdopen(fd, 'w') as handle:
        handle.write(ca_pem)
    os.chmod(name, 0o644)
    digest = subject_hash(Path(name))
    index = 0
    while (directory / f'{digest}.{index}').exists() or (directory / f'{digest}.{index}').is_symlink():
        index += 1
    link = directory / f'{digest}.{index}'
    try:
        os.symlink(os.path.basename(name), link)
        yield directory
    finally:
        link.unlink(missing_ok=True)
        Path(name).unlink(missing_ok=True)
        after = _store_listing(directory)
        assert after == before, f'{directory} was not restored: {set(after) ^ set(before)}'
