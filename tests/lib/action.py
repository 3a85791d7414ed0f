"""Run an action plugin's run() in-process, as the controller would for one task."""

from unittest import mock

from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task


def run_action(action_class, args: dict, task_vars: dict, check: bool = False, diff: bool = False) -> dict:
    """The result dict of action_class for a task with args (no connection, no templating)."""
    task = Task()
    task.args = args
    task.check_mode = check
    task.diff = diff
    action = action_class(task=task, connection=mock.Mock(), play_context=PlayContext(), loader=mock.Mock(),
                          templar=mock.Mock(), shared_loader_obj=None)
    return action.run(task_vars=task_vars)
