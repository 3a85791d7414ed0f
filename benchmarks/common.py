"""Shared by the benchmarks: import paths, the on-disk certificate cache, timing, machine facts."""

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / '.cache' / 'collections')]

from tests.lib import pki  # noqa: E402

RESULTS = REPO / 'benchmarks' / 'results'
CERTS = RESULTS / 'certs'
# Bump when the cached certificates must be regenerated.
CACHE_VERSION = '1'


def quick() -> bool:
    return os.environ.get('BENCH_QUICK', '') not in ('', '0')


def cert_files(count: int) -> list[Path]:
    """The first `count` cached client certificates (EC, valid 10 years); generated once.

    00000.pem is the client the Exim benchmark connects with (its key: 00000.key).
    """
    CERTS.mkdir(parents=True, exist_ok=True)
    marker = CERTS / 'VERSION'
    if not marker.exists() or marker.read_text() != CACHE_VERSION:
        for old in CERTS.iterdir():
            old.unlink()
        marker.write_text(CACHE_VERSION)
    files = [CERTS / f'{i:05d}.pem' for i in range(count)]
    missing = [f for f in files if not f.exists()]
    if missing:
        start = time.perf_counter()
        for path in missing:
            cred = pki.client_cert(f'bench-{path.stem}', kind='ec', days=3650)
            if path.stem == '00000':
                (CERTS / '00000.key').write_text(cred.key_pem)
            path.write_text(cred.cert_pem)
        print(f'  (generated {len(missing)} certificates in {time.perf_counter() - start:.1f} s,'
              f' cached in {CERTS.relative_to(REPO)})', flush=True)
    return files


def client_entries(files: list[Path]) -> list[dict]:
    return [{'name': f'laptop-{f.stem}', 'certificate': f.read_text()} for f in files]


@contextmanager
def scratch(prefix: str):
    """A directory Exim (re-exec'd as Debian-exim) can traverse; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    try:
        yield root
    finally:
        subprocess.run(['rm', '-rf', str(root)], check=False)


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f'{name}.json'
    path.write_text(json.dumps(data, indent=2) + '\n')
    return path


def load(name: str) -> dict | None:
    path = RESULTS / f'{name}.json'
    return json.loads(path.read_text()) if path.exists() else None


def _first_line(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        return 'unknown'


def machine() -> dict:
    cpuinfo = Path('/proc/cpuinfo').read_text()
    model = re.search(r'^model name\s*:\s*(.*)$', cpuinfo, re.MULTILINE)
    mem_kb = int(re.search(r'^MemTotal:\s*(\d+)', Path('/proc/meminfo').read_text(), re.MULTILINE).group(1))
    os_name = re.search(r'^PRETTY_NAME="?(.*?)"?$', Path('/etc/os-release').read_text(), re.MULTILINE)
    return {
        'nproc': os.cpu_count(),
        'cpu': model.group(1) if model else platform.processor(),
        'ram_gib': round(mem_kb / 1024 / 1024, 1),
        'os': os_name.group(1) if os_name else platform.platform(),
        'exim': _first_line(['exim4', '--version']),
        'ansible_core': _first_line(['ansible-playbook', '--version']),
        'python': platform.python_version(),
        'loadavg': list(os.getloadavg()),
    }
