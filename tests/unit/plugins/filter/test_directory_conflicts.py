"""certrelay.exim.directory_conflicts: a directory list that cannot converge, named before it runs."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.directory_conflicts import directory_conflicts


def entry(path, owner='root', group='Debian-exim', mode='0755', label=None):
    return {'path': path, 'owner': owner, 'group': group, 'mode': mode, **({'label': label} if label else {})}


def test_distinct_and_nested_paths_are_fine():
    assert directory_conflicts([entry('/etc/x'), entry('/etc/x/spool', 'Debian-exim', mode='0750'),
                                entry('/etc/x/log', 'Debian-exim', mode='0750')]) == []


def test_the_same_wish_twice_is_fine_whatever_the_spelling():
    assert directory_conflicts([entry('/etc/x', mode='0750'), entry('/etc/x/', mode='750'),
                                entry('/etc//x', mode=0o750)]) == []


@pytest.mark.parametrize('other', [
    {'owner': 'Debian-exim'}, {'group': 'root'}, {'mode': '0750'},
])
def test_any_difference_is_named_with_both_labels(other):
    first = entry('/etc/x', label='exim_server_base_directory')
    second = {**entry('/etc/x/', label='the directory of exim_server_deliver_to_file'), **other}
    [message] = directory_conflicts([first, second])
    assert message.startswith('/etc/x is wanted as exim_server_base_directory (root:Debian-exim 0755) '
                              'and as the directory of exim_server_deliver_to_file ('), message


def test_unlabelled_entries_are_named_by_path():
    [message] = directory_conflicts([entry('/a'), entry('/a', owner=None, mode='0700')])
    assert message == '/a is wanted as /a (root:Debian-exim 0755) and as /a (-:Debian-exim 0700)'


def test_an_attribute_left_out_agrees_with_any_value():
    assert directory_conflicts([entry('/a'), {'path': '/a', 'mode': '0755'}, {'path': '/a'}]) == []


def test_not_a_list_of_dicts_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match='list of dicts'):
        directory_conflicts(['/etc/x'])
