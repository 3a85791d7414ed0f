"""The fleet playbooks on one machine, for tests: relays and laptops as inventory hosts with the
local connection, standalone layout, loopback ports, a real Exim relay daemon (started by the
test) and real Exim clients (`exim -odi`).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from tests.lib import exim, pki
from tests.lib.ansible import REPO, run_playbook, tree_snapshot
from tests.lib.roles import loopback_relay_vars, standalone_laptop_vars

PLAYBOOKS = REPO / 'playbooks'
LAPTOPS = ('laptop-a', 'laptop-b')
RECIPIENT = 'dest@external.example.org'
REFUSED = '550 relay not permitted'
# What a laptop logs when the relay or the pin says no; a reload's "Connection refused" is not here.
TRUST_FAILURES = re.compile(r'certificate verification failed|relay not permitted|TLS error|\*\* ')


class Fleet:
    """One relay (relay1) and the laptops `laptops`; `all_vars` go to the inventory's group all."""

    def __init__(self, root: Path, laptops=LAPTOPS, **all_vars):
        self.root = root
        self.port = exim.free_port()
        self.relay_cred = pki.server_cert('relay')
        self.relay_vars = {}
        self.laptops = tuple(laptops)
        self.all_vars = dict(all_vars)
        self.counter = 0

    @property
    def inventory(self) -> Path:
        return self.root / 'inventory.yml'

    @property
    def fleet_dir(self) -> Path:
        return self.root / 'fleet'

    @property
    def relay(self) -> Path:
        return self.root / 'relay'

    def relay_allowlist(self) -> str:
        """The fingerprints the relay allows now (its current relay state generation)."""
        return (self.relay / 'etc' / 'state' / 'current' / 'allowlist').read_text()

    @property
    def relay_config(self) -> Path:
        return self.relay / 'exim.conf'

    @property
    def mailbox(self) -> Path:
        return self.relay / 'mail' / 'relayed'

    def laptop(self, name: str) -> Path:
        return self.root / name

    def write_inventory(self, **relay_vars):
        self.relay_vars.update(relay_vars)
        relay = {
            **loopback_relay_vars(self.relay, self.port, self.relay_cred),
            'certrelay_relay_address': '127.0.0.1',
            **self.relay_vars,
        }
        laptops = {name: standalone_laptop_vars(self.laptop(name), name) for name in self.laptops}
        inventory = {'all': {
            'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                     **self.all_vars},
            'children': {'relays': {'hosts': {'relay1': relay}}, 'laptops': {'hosts': laptops}},
        }}
        # JSON is YAML; the fleet directory defaults to fleet/ beside this file
        self.inventory.write_text(json.dumps(inventory, indent=1))

    def play(self, name: str, *args: str, check: bool = False, diff: bool = False, env: dict | None = None,
             **extra_vars):
        return run_playbook(PLAYBOOKS / f'{name}.yml', extra_vars, *args, check=check, diff=diff,
                            inventory=self.inventory, env={'ANSIBLE_PIPELINING': '1', **(env or {})})

    def send(self, laptop: str, tag: str) -> str:
        self.counter += 1
        subject = f'{tag}-{laptop}-{self.counter}'
        result = exim.submit(self.laptop(laptop) / 'exim.conf', RECIPIENT, subject,
                             f'{laptop}.example.com')
        assert result.returncode == 0, result.stderr
        return subject

    def relayed(self, subject: str, timeout: float = 10.0) -> bool:
        return exim.wait_for(lambda: exim.file_has(self.mailbox, rf'^Subject: {re.escape(subject)}$'),
                             timeout=timeout)

    def laptop_log(self, laptop: str) -> str:
        log = self.laptop(laptop) / 'log' / 'mainlog'
        return log.read_text(errors='replace') if log.exists() else ''

    def relay_log(self) -> str:
        log = self.relay / 'log' / 'mainlog'
        return log.read_text(errors='replace') if log.exists() else ''

    def laptop_cred(self, laptop: str) -> tuple[Path, Path]:
        tls = self.laptop(laptop) / 'tls'
        return tls / 'client.crt', tls / 'client.key'

    def fingerprint(self, pem_file: Path) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        return x509.load_pem_x509_certificate(pem_file.read_bytes()).fingerprint(hashes.SHA256()).hex().upper()

    def swaks_as(self, laptop: str, subject: str, cred: tuple[Path, Path] | None = None):
        cert, key = cred or self.laptop_cred(laptop)
        return exim.swaks(self.port, cert=cert, key=key, subject=subject)

    def flush_queues(self):
        """Deliver whatever a reload deferred (-qff ignores retry times)."""
        for laptop in self.laptops:
            subprocess.run([exim.EXIM, '-C', str(self.laptop(laptop) / 'exim.conf'), '-qff'],
                           check=False, capture_output=True, timeout=60)


def new_root(prefix: str) -> Path:
    """A fresh directory for a fleet; Exim re-execs as its own user for a -C config, so the tree must
    be traversable (mkdtemp makes it 0700)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root


def first_runs(fleet: Fleet):
    """`site` in check mode with --diff, then for real, as a new fleet's fixture starts: the results
    and whether the check run left the fleet's tree as it was go on the fleet."""
    before = tree_snapshot(fleet.root)
    fleet.check_run = fleet.play('site', check=True, diff=True)
    fleet.check_run_changed_nothing = tree_snapshot(fleet.root) == before
    fleet.first_run = fleet.play('site')
    assert_ok(fleet.first_run)


@contextmanager
def serving(fleet: Fleet):
    """The fleet's relay daemon for the block; the fleet's tree is removed after it (unless
    CERTRELAY_KEEP_TMP is set)."""
    try:
        with exim.daemon(fleet.relay_config, fleet.port):
            yield fleet
    finally:
        if not os.environ.get('CERTRELAY_KEEP_TMP'):
            subprocess.run(['rm', '-rf', str(fleet.root)], check=False)


def assert_ok(result):
    assert result.returncode == 0, result.output[-6000:]


class MailLoop:
    """Laptops keep sending during a playbook run: every message must get through, none refused."""

    def __init__(self, fleet: Fleet, tag: str, laptops=None):
        self.fleet, self.tag = fleet, tag
        self.laptops = tuple(laptops or fleet.laptops)
        self.subjects: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for laptop in self.laptops:
                # a reload's short gap must not turn into "retry time not reached" for the rest
                for hint in (self.fleet.laptop(laptop) / 'spool' / 'db').glob('retry*'):
                    hint.unlink(missing_ok=True)
                self.subjects.append(self.fleet.send(laptop, self.tag))
            self.stop.wait(0.2)

    def __enter__(self):
        self.logs_before = {laptop: len(self.fleet.laptop_log(laptop)) for laptop in self.laptops}
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)

    def check(self):
        for laptop in self.laptops:
            new_lines = self.fleet.laptop_log(laptop)[self.logs_before[laptop]:]
            refused = [line for line in new_lines.splitlines() if TRUST_FAILURES.search(line)]
            assert not refused, f'{laptop} was refused during the run:\n' + '\n'.join(refused)
        self.fleet.flush_queues()
        missing = [s for s in self.subjects if not self.fleet.relayed(s, timeout=5)]
        assert len(self.subjects) >= 10
        assert not missing, f'{len(missing)} of {len(self.subjects)} never relayed: {missing[:5]}'
