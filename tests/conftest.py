"""Session-wide guard: a pytest run leaves the host's Exim paths as it found them.

The tests use private roots; this compares /etc/exim4, /etc/exim, the spools' queues and the Exim
units (tests/lib/hoststate.py) at the end of the session with their state at its start, whatever an
earlier run left there, and fails the session at teardown when they differ.
CERTRELAY_HOST_CHECK=0 turns it off (a developer running tests while something else changes /etc).
"""

import os

import pytest

from tests.lib import hoststate


@pytest.fixture(scope='session', autouse=True)
def host_left_as_found():
    if os.environ.get('CERTRELAY_HOST_CHECK', '1') == '0':
        yield
        return
    before = hoststate.snapshot()
    yield
    problem = hoststate.report(before, hoststate.snapshot())
    if problem:
        pytest.fail(problem, pytrace=False)
