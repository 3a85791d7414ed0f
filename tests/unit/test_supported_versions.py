"""The ansible-core releases meta/runtime.yml supports are the ones the tests run on.

.venv (requirements-dev.txt) holds the one supported minor release and runs sanity, unit,
integration and Molecule on it. 2.18 is not supported: ansible-test's import test fails on the
client_certs action (2.19's template trust API) and the roles' messages are written for 2.19's
templating (2.18 templates a passing assert's fail_msg and chokes on it). 2.20 needs Python 3.12.
Widening the range means a venv per supported release for sanity and unit tests and the newest
one in .venv for everything.
"""

import re
from pathlib import Path

import yaml
from ansible.module_utils.compat.version import LooseVersion
from ansible.release import __version__

ROOT = Path(__file__).resolve().parents[2]


def supported():
    spec = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text())['requires_ansible']
    bounds = re.fullmatch(r'>=2\.(\d+)\.0,<2\.(\d+)\.0', spec)
    assert bounds, f'requires_ansible {spec!r}: give both bounds (>=2.X.0,<2.Y.0), the newest one tested'
    return int(bounds.group(1)), int(bounds.group(2)) - 1


def test_the_dev_venv_pins_every_supported_release():
    oldest, newest = supported()
    assert oldest == newest, 'more than one supported release: each needs a venv of its own running sanity and unit tests'
    pin = re.search(r'^ansible-core>=2\.(\d+),<2\.(\d+)$', (ROOT / 'requirements-dev.txt').read_text(), re.MULTILINE)
    assert pin and (int(pin.group(1)), int(pin.group(2))) == (newest, newest + 1)


def test_the_running_release_is_supported():
    oldest, newest = supported()
    assert oldest <= LooseVersion(__version__).version[1] <= newest, __version__
