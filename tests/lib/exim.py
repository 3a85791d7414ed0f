"""Run real Exim daemons and real swaks sessions on loopback ports for tests."""

import os
import re
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

EXIM = shutil.which('exim4') or shutil.which('exim') or 'exim4'
SWAKS = shutil.which('swaks') or 'swaks'


_TEST_RELAY_MAIN = """\
primary_hostname = relay.example.com
spool_directory = {base}/spool
log_file_path = {base}/log/%slog
pid_file_path = {base}/exim.pid
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
keep_environment =
host_lookup =
acl_smtp_rcpt = acl_rcpt
tls_advertise_hosts = {advertise}
tls_certificate = {base}/relay.crt
tls_privatekey = {base}/relay.key
tls_verify_certificates = {base}/trust
tls_try_verify_hosts = *
"""


# Routers and transports of a hand-written test relay: every accepted message is appended to
# {base}/mail/relayed as {user} (format() both).
DELIVER_TO_FILE = """\
begin routers
all:
  driver = accept
  transport = to_file
begin transports
to_file:
  driver = appendfile
  file = {base}/mail/relayed
  user = {user}
"""


def minimal_relay_config(base: Path, port: int, rest: str, advertise: str = '*') -> str:
    """A hand-written relay for tests that is not the server role (impostors, probes).

    Main section: loopback port, TLS with base/relay.{crt,key}, client certificates tried against
    base/trust, RCPT ACL `acl_rcpt`; `rest` adds main options and the sections from `begin acl`.
    """
    return _TEST_RELAY_MAIN.format(base=base, port=port, advertise=advertise) + rest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_listening(port: int, host: str = '127.0.0.1', timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


def check_config(config: Path, *defines: str, binary: str = EXIM) -> subprocess.CompletedProcess:
    """`exim -C config -bV`: syntax check of a config file."""
    return subprocess.run([binary, '-C', str(config), *defines, '-bV'],
                          check=False, capture_output=True, text=True, timeout=30)


@contextmanager
def daemon(config: Path, port: int, *defines: str, stderr_path: Path | None = None, binary: str = EXIM):
    """A foreground Exim daemon (`-bdf`) for the duration of the block."""
    stderr = open(stderr_path or Path(config).with_suffix('.stderr'), 'ab')
    proc = subprocess.Popen([binary, '-C', str(config), *defines, '-bdf'],
                            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    try:
        if not wait_listening(port):
            proc.kill()
            raise RuntimeError(f'exim did not listen on {port}; see {stderr.name}')
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        stderr.close()


@dataclass
class SwaksResult:
    returncode: int
    transcript: str

    @property
    def rcpt_reply(self) -> str:
        """The server's answer to RCPT TO ('' when the session ended before it)."""
        lines = self.transcript.splitlines()
        for index, line in enumerate(lines):
            if re.match(r'^\s*(~>|->) RCPT TO', line):
                for reply in lines[index + 1:]:
                    match = re.match(r'^\s*<[~*-]*\s*(.*)$', reply)
                    if match:
                        return match.group(1).strip()
                return ''
        return ''

    @property
    def tls_started(self) -> bool:
        return '<~ ' in self.transcript or '~> ' in self.transcript


def swaks(port: int, *args: str, to: str = 'dest@external.example.org',
          sender: str = 'user@laptop.example.com', subject: str = 'certrelay test',
          server: str = '127.0.0.1', cert: Path | None = None, key: Path | None = None,
          tls: bool = True, timeout: int = 15) -> SwaksResult:
    cmd = [SWAKS, '-s', server, '-p', str(port), '-f', sender, '-t', to,
           '--h-Subject', subject, '--body', f'body of {subject}', '--timeout', str(timeout)]
    if tls:
        cmd.append('--tls')
    if cert:
        cmd += ['--tls-cert', str(cert), '--tls-key', str(key)]
    cmd += list(args)
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout * 4)
    return SwaksResult(proc.returncode, proc.stdout + proc.stderr)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def file_has(path: Path, pattern: str) -> bool:
    try:
        return re.search(pattern, Path(path).read_text(errors='replace'), re.MULTILINE) is not None
    except FileNotFoundError:
        return False


def submit(config: Path, recipient: str, subject: str, sender_domain: str = 'laptop.example.com',
           *defines: str, binary: str = EXIM) -> subprocess.CompletedProcess:
    """Hand a message to an Exim client config and deliver it at once (-odi)."""
    message = (f'From: user@{sender_domain}\nTo: {recipient}\nSubject: {subject}\n\n'
               f'body of {subject}\n')
    return subprocess.run([binary, '-C', str(config), *defines, '-odi', recipient],
                          input=message, check=False, capture_output=True, text=True, timeout=60)


def queue_count(config: Path, *defines: str, binary: str = EXIM) -> int:
    out = subprocess.run([binary, '-C', str(config), *defines, '-bpc'],
                         check=False, capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip() or 0)


def is_root() -> bool:
    return os.geteuid() == 0


EXIM_USER = 'Debian-exim'


def chown_exim(*paths: Path, user: str = EXIM_USER) -> None:
    """Spool and log directories must belong to the Exim user when Exim runs as root."""
    if not is_root():
        return
    for path in paths:
        shutil.chown(path, user, user)
        for child in Path(path).rglob('*'):
            shutil.chown(child, user, user)


def make_traversable(path: Path) -> Path:
    """Let the Exim user reach path: pytest's tmp root is 0700 root."""
    path = Path(path).resolve()
    for parent in [path, *path.parents]:
        if parent == Path('/'):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o011)
    return path
