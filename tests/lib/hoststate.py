"""What a test run may touch on the host, recorded before and compared after.

The tests work in private roots; the Debian paths below are shared with the host's own Exim (and
with earlier runs that may have left things there). A run must leave them as it found them, whatever
that was: the pytest session fixture (tests/conftest.py) and the last stage of `make test` both
compare a snapshot taken at their start with the state at their end.

    python3 tests/lib/hoststate.py snapshot FILE   # record (stdlib only: runs before .venv exists)
    python3 tests/lib/hoststate.py check FILE      # exit 1 and name every difference

CERTRELAY_HOST_ROOTS (':'-separated) replaces the default roots, for tests of this module.
"""

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

# Trees compared entry by entry: configuration (trusted_configs, the role's base directories, the
# Debian layout's macros), the services' settings (queue interval), NetworkManager's dispatcher hooks
# and the init scripts tests install for a managed service.
TREES = ('/etc/exim4', '/etc/exim', '/etc/default/exim4', '/etc/sysconfig/exim', '/etc/NetworkManager/dispatcher.d',
         '/etc/init.d')
# Spools: only the queued messages; hints databases and logs belong to the host's running Exim.
SPOOL_DIRS = ('/var/spool/exim4/input', '/var/spool/exim4/msglog', '/var/spool/exim/input', '/var/spool/exim/msglog')
UNIT_DIR = '/etc/systemd/system'
# Files whose lines are reported one by one (a line left there trusts a test's configuration).
LINE_FILES = ('trusted_configs',)


def _roots():
    custom = os.environ.get('CERTRELAY_HOST_ROOTS')
    if custom:
        return [r for r in custom.split(':') if r], [], None
    return list(TREES), list(SPOOL_DIRS), UNIT_DIR


def _entry(path: str) -> dict:
    st = os.lstat(path)
    entry = {'mode': '%04o' % stat.S_IMODE(st.st_mode), 'owner': '%d:%d' % (st.st_uid, st.st_gid)}
    if stat.S_ISLNK(st.st_mode):
        entry['link'] = os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        entry['type'] = 'dir'
    elif stat.S_ISREG(st.st_mode):
        with open(path, 'rb') as f:
            data = f.read()
        entry['sha256'] = hashlib.sha256(data).hexdigest()
        if os.path.basename(path) in LINE_FILES:
            entry['lines'] = data.decode(errors='replace').splitlines()
    else:
        entry['type'] = 'other'
    return entry


def _walk(root: str):
    if not os.path.lexists(root):
        return
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            yield os.path.join(dirpath, name)


def snapshot() -> dict:
    """Path -> attributes (mode, owner, content hash or link target) of everything watched."""
    trees, spools, unit_dir = _roots()
    state = {}
    for root in trees:
        for path in _walk(root):
            state[path] = _entry(path)
    for spool in spools:
        if os.path.isdir(spool):
            state[spool] = {'messages': sorted(os.listdir(spool))}
    if unit_dir and os.path.isdir(unit_dir):
        state[unit_dir] = {'exim units': sorted(n for n in os.listdir(unit_dir) if 'exim' in n)}
    return state


def differences(before: dict, after: dict) -> list:
    """One line per watched path that differs, saying how."""
    found = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if old is None:
            found.append('%s: created (%s)' % (path, _describe(new)))
        elif new is None:
            found.append('%s: removed (was %s)' % (path, _describe(old)))
        elif 'lines' in old and 'lines' in new:
            added = [line for line in new['lines'] if line not in old['lines']]
            gone = [line for line in old['lines'] if line not in new['lines']]
            found.append('%s: lines added %s, lines removed %s' % (path, added, gone))
        elif 'messages' in old:
            found.append('%s: messages added %s, removed %s' % (
                path, sorted(set(new['messages']) - set(old['messages'])), sorted(set(old['messages']) - set(new['messages']))))
        else:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            found.append('%s: %s changed (%s -> %s)' % (path, ', '.join(changed), _describe(old), _describe(new)))
    return found


def _describe(entry: dict) -> str:
    return ' '.join('%s=%s' % (k, v) for k, v in entry.items())


def report(before: dict, after: dict) -> str:
    diffs = differences(before, after)
    if not diffs:
        return ''
    return 'the test run left the host changed (%d difference(s)):\n  %s' % (len(diffs), '\n  '.join(diffs))


def main(argv) -> int:
    if len(argv) != 3 or argv[1] not in ('snapshot', 'check'):
        print('usage: hoststate.py snapshot|check FILE', file=sys.stderr)
        return 2
    target = Path(argv[2])
    if argv[1] == 'snapshot':
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(snapshot(), indent=1, sort_keys=True))
        print('hoststate: %d watched paths recorded in %s' % (len(json.loads(target.read_text())), target))
        return 0
    if not target.exists():
        print('hoststate: no snapshot %s (run "snapshot" first)' % target, file=sys.stderr)
        return 2
    text = report(json.loads(target.read_text()), snapshot())
    if text:
        print('hoststate: FAILED: ' + text, file=sys.stderr)
        return 1
    trees, spools, unit_dir = _roots()
    print('hoststate: the host is as it was (%s)' % ', '.join(trees + spools + ([unit_dir] if unit_dir else [])))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
