"""Kill a whole process tree the way a crash would, for fault-injection tests."""

import os
import signal
from pathlib import Path


def tree(pid: int) -> list[int]:
    """pid and every descendant, found through /proc/<pid>/task/*/children.

    Ansible's workers call setsid, so a process group misses the modules they run; the parent links
    still hold.
    """
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:  # a process may exit during the walk
            for children in Path(f'/proc/{current}/task').glob('*/children'):
                todo += [int(child) for child in children.read_text().split()]
        except OSError:
            pass
    return found


def kill_tree(pid: int) -> None:
    """SIGSTOP every member (so none can react or fork), then SIGKILL every member."""
    members, stopped = tree(pid), set()
    # a process may fork between the walk and its stop: walk again until nothing new appears
    while set(members) - stopped:
        for member in members:
            if member not in stopped:
                try:
                    os.kill(member, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
                stopped.add(member)
        members = [m for p in list(stopped) for m in tree(p)]
    for member in stopped:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def running_module(root_pid: int, name: str) -> bool:
    """Whether a process below root_pid runs the module `name` (AnsiballZ_<name>.py)."""
    for member in tree(root_pid):
        try:
            if f'AnsiballZ_{name}'.encode() in Path(f'/proc/{member}/cmdline').read_bytes():
                return True
        except OSError:
            pass
    return False
