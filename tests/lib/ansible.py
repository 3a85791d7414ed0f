"""Run ansible-playbook against localhost the way a user would, for tests."""

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / '.cache' / 'collections'


@dataclass
class PlaybookResult:
    returncode: int
    stdout: str
    stderr: str

    def recap(self, host: str = 'localhost') -> dict:
        match = re.search(rf'^{re.escape(host)}\s*:\s*(.*)$', self.stdout, re.MULTILINE)
        if not match:
            return {}
        return {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', match.group(1))}

    @property
    def changed(self) -> int:
        return self.recap().get('changed', -1)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def ansible_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(COLLECTIONS))
    env.setdefault('ANSIBLE_HOME', str(REPO / '.cache' / 'ansible'))
    env.setdefault('ANSIBLE_NOCOLOR', '1')
    env.setdefault('ANSIBLE_FORCE_COLOR', '0')
    env.setdefault('ANSIBLE_RETRY_FILES_ENABLED', '0')
    env.setdefault('ANSIBLE_DEPRECATION_WARNINGS', '0')
    env.update(extra)
    return env


def _playbook_command(playbook, extra_vars, args, check, diff, inventory, vars_file):
    bindir = Path(sys.executable).parent
    playbook_bin = bindir / 'ansible-playbook'
    cmd = [str(playbook_bin) if playbook_bin.exists() else 'ansible-playbook', str(playbook)]
    if inventory is None:
        cmd += ['-i', 'localhost,', '-c', 'local',
                '-e', f'ansible_python_interpreter={sys.executable}']
    else:
        cmd += ['-i', str(inventory)]
    with open(vars_file, 'w') as handle:
        json.dump(extra_vars or {}, handle)
    cmd += ['-e', f'@{vars_file}']
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    return cmd + list(args)


def run_playbook(playbook: str | Path, extra_vars: dict | None = None, *args: str,
                 check: bool = False, diff: bool = False, inventory: str | Path | None = None,
                 timeout: int = 600, env: dict | None = None) -> PlaybookResult:
    """ansible-playbook on localhost (connection local, the test's own Python)."""
    fd, vars_file = tempfile.mkstemp(suffix='.json')
    os.close(fd)
    try:
        cmd = _playbook_command(playbook, extra_vars, args, check, diff, inventory, vars_file)
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout,
                              env=ansible_env(**(env or {})), cwd=REPO)
    finally:
        os.unlink(vars_file)
    return PlaybookResult(proc.returncode, proc.stdout, proc.stderr)


def start_playbook(playbook: str | Path, extra_vars: dict | None, vars_file: Path) -> subprocess.Popen:
    """ansible-playbook on localhost in the background (for tests that kill it); output discarded."""
    cmd = _playbook_command(playbook, extra_vars, (), False, False, None, vars_file)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=ansible_env(), cwd=REPO)


def role_playbook(directory: Path, role: str, extra_tasks: str = '', gather_facts: bool = True) -> Path:
    """A one-play playbook applying certrelay.exim.<role> to localhost.

    gather_facts=False saves ~2 s per run for roles that gather the few facts they need.
    """
    path = Path(directory) / f'apply-{role}.yml'
    path.write_text(
        '- name: Apply certrelay.exim.%s\n'
        '  hosts: all\n'
        '  gather_facts: %s\n'
        '  roles:\n'
        '    - role: certrelay.exim.%s\n%s' % (role, 'true' if gather_facts else 'false', role, extra_tasks)
    )
    return path


def tree_snapshot(*roots: Path) -> dict:
    """Path -> (mode, uid, gid, bytes or link target) for everything below roots."""
    snapshot = {}
    for root in roots:
        root = Path(root)
        if not root.exists():
            snapshot[str(root)] = None
            continue
        for path in [root, *sorted(root.rglob('*'))]:
            st = path.lstat()
            if path.is_symlink():
                content = ('link', os.readlink(path))
            elif path.is_file():
                content = path.read_bytes()
            else:
                content = 'dir'
            snapshot[str(path)] = (st.st_mode, st.st_uid, st.st_gid, content)
    return snapshot
