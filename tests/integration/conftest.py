"""Fixtures shared by the server and client integration tests.

`relay_server` applies certrelay.exim.server in the standalone layout under a fresh directory
(loopback, free port, every accepted message appended to `mailbox`) and runs its Exim:

    def test_x(relay_server):
        relay = relay_server(clients=[alice], allowlist='macro')   # role applied, daemon running
        assert relay.swaks(alice).rcpt_reply.startswith('250')
        relay.apply(clients=[...])  # re-apply with other variables; relay.reload() sends SIGHUP

Module scoped, so a test module applies the role a few times instead of once per test.
"""

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.lib import exim, openssl, pki
from tests.lib.ansible import role_playbook, run_playbook
from tests.lib.roles import loopback_relay_vars, rhel_relay_vars


def client_entry(cred: pki.Credential, state: str = 'present') -> dict:
    """An exim_server_client_certs item for a test credential."""
    return {'name': cred.name, 'certificate': cred.cert_pem, 'state': state}


@dataclass
class RelayServer:
    root: Path
    port: int
    server: pki.Credential
    allowlist: str = 'macro'
    extra_vars: dict = field(default_factory=dict)
    clients: list = field(default_factory=list)
    proc: subprocess.Popen | None = None
    # False saves the setup round trip (~1 s) per run: the role gathers the few facts it needs
    gather_facts: bool = True
    # the Exim binary the role is given and the test runs; rhel: the role's RedHat variable set
    binary: str = exim.EXIM
    rhel: bool = False
    _daemon: object = None

    def _path(self, variable: str) -> Path:
        return Path(self.variables()[variable])

    @property
    def config(self) -> Path:
        return self._path('exim_server_config_file')

    @property
    def state_dir(self) -> Path:
        values = self.variables()
        return Path(values.get('exim_server_state_directory') or Path(values['exim_server_base_directory']) / 'state')

    @property
    def current(self) -> Path:
        """The generation Exim reads (certrelay.exim.relay_state)."""
        return self.state_dir / 'current'

    @property
    def trust_dir(self) -> Path:
        return self.current / 'trust'

    @property
    def allowlist_file(self) -> Path:
        return self.current / 'allowlist'

    @property
    def mainlog(self) -> Path:
        return self._path('exim_server_log_directory') / 'mainlog'

    @property
    def mailbox(self) -> Path:
        return self._path('exim_server_deliver_to_file')

    def variables(self, clients=None, **overrides) -> dict:
        entries = [c if isinstance(c, dict) else client_entry(c)
                   for c in (self.clients if clients is None else clients)]
        layout = (rhel_relay_vars(self.root, self.port, self.server, self.binary) if self.rhel
                  else loopback_relay_vars(self.root, self.port, self.server))
        if self.binary != exim.EXIM:
            layout['exim_server_binary'] = self.binary
        values = {
            **layout,
            'exim_server_allowlist': self.allowlist,
            'exim_server_client_certs': entries,
        }
        values.update(self.extra_vars)
        values.update(overrides)
        return values

    def apply(self, clients=None, check=False, diff=False, **overrides):
        """Run the role; the variables used become the fixture's state when it succeeds."""
        playbook = role_playbook(self.root, 'server', gather_facts=self.gather_facts)
        result = run_playbook(playbook, self.variables(clients, **overrides), check=check, diff=diff)
        if result.returncode == 0 and not check and clients is not None:
            self.clients = clients
        return result

    def start(self):
        self._daemon = exim.daemon(self.config, self.port, binary=self.binary)
        self.proc = self._daemon.__enter__()
        return self

    def stop(self):
        if self._daemon is not None:
            self._daemon.__exit__(None, None, None)
            self._daemon = self.proc = None

    def reload(self):
        """SIGHUP, as the role's handler would do with a service manager; wait until it listens."""
        self.proc.send_signal(signal.SIGHUP)
        exim.wait_for(lambda: 'SIGHUP received' in self.log_text(), timeout=5)
        assert exim.wait_listening(self.port)

    def log_text(self) -> str:
        return self.mainlog.read_text(errors='replace') if self.mainlog.exists() else ''

    def swaks(self, cred: pki.Credential | None = None, tls: bool = True, subject: str = 'certrelay test'):
        cert = key = None
        if cred is not None:
            cert, key = cred.write(self.root / 'client-creds')
        return exim.swaks(self.port, cert=cert, key=key, tls=tls, subject=subject)


@pytest.fixture(scope='module')
def relay_server():
    """Factory: relay_server(clients=[...], allowlist='macro'|'file', start=True, **role_vars)."""
    servers = []

    def make(clients, allowlist='macro', start=True, server=None, root=None, binary=exim.EXIM, rhel=False,
             **extra_vars):
        # Exim re-execs as its own user for -C configs not in TRUSTED_CONFIG_LIST: the tree
        # must be traversable by it (tempfile/pytest dirs are 0700).
        root = root or Path(tempfile.mkdtemp(prefix='certrelay-server-'))
        root.chmod(0o755)
        relay = RelayServer(root=root, port=exim.free_port(), server=server or pki.server_cert(),
                            allowlist=allowlist, extra_vars=extra_vars, binary=binary, rhel=rhel)
        servers.append(relay)
        result = relay.apply(clients)
        assert result.returncode == 0, result.output
        if start:
            relay.start()
        return relay

    yield make
    for relay in servers:
        relay.stop()
        if not os.environ.get('CERTRELAY_KEEP_TMP'):
            subprocess.run(['rm', '-rf', str(relay.root)], check=False)


@pytest.fixture(scope='session')
def openssl_exim():
    """The OpenSSL build of Exim (scripts/build-exim-openssl.sh) with its user exim for the session.

    Skips when the build is missing, except under CI=true (then it fails).
    """
    binary = openssl.exim_binary()
    with openssl.rhel_exim_user():
        yield binary
