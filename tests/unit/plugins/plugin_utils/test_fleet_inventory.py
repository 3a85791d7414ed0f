"""What the fleet playbooks derive from the inventory: limit, relays, laptop settings, revocations."""

from ansible_collections.certrelay.exim.plugins.plugin_utils import fleet_inventory as inv


class CountingHostvars(dict):
    """hostvars that counts how often a host's variables are fetched (each fetch merges them)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.fetched = []

    def __getitem__(self, host):
        self.fetched.append(host)
        return super().__getitem__(host)


RELAYS = {
    'relay1': {'certrelay_relay_address': '127.0.0.1', 'exim_server_ports': [2525, 587],
               'exim_server_tls_certificate': 'CURRENT-1\n', 'certrelay_relay_next_certificate': ' NEXT-1 '},
    'relay2': {'exim_server_primary_hostname': 'relay2.example.com', 'exim_server_tls_certificate': 'CURRENT-2'},
    'relay3': {},
}


def test_relay_problems_word_the_bad_limit():
    assert inv.relay_problems([], ['laptop-a']) == ['The inventory has no group "relays".']
    problem, = inv.relay_problems(['relay1', 'relay2'], ['relay2', 'laptop-a'])
    assert problem.startswith('The limit leaves out the relay(s) relay1, which would keep trusting')
    assert inv.relay_problems(['relay1'], ['relay1']) == []


def test_relay_links_follow_address_then_primary_hostname_then_name():
    links = inv.relay_links(list(RELAYS), RELAYS)
    assert [links[r]['address'] for r in RELAYS] == ['127.0.0.1', 'relay2.example.com', 'relay3']
    assert [links[r]['port'] for r in RELAYS] == [2525, 25, 25]
    assert links['relay1']['current'] == 'CURRENT-1' and links['relay1']['next'] == 'NEXT-1'


def test_pins_add_the_announced_certificate_and_fall_back_to_the_current_one():
    links = inv.relay_links(list(RELAYS), RELAYS)
    assert inv.pins(links['relay1']) == {'auto': 'CURRENT-1\nNEXT-1', 'next': 'NEXT-1'}
    assert inv.pins(links['relay2']) == {'auto': 'CURRENT-2', 'next': 'CURRENT-2'}


def test_laptop_settings_fetch_each_host_once_and_let_the_inventory_win():
    hostvars = CountingHostvars({
        **RELAYS,
        'a': {'exim_client_layout': 'standalone'},
        'b': {'certrelay_relay': 'relay2', 'exim_client_smarthost': 'mx.example.com',
              'exim_client_smarthost_port': 465},
        'c': {'certrelay_relay': 'nowhere'},
        'd': {'certrelay_relay': 'd'},
    })
    links = inv.relay_links(list(RELAYS), hostvars)
    hostvars.fetched.clear()
    settings, problems = inv.laptop_settings(['a', 'b', 'c', 'd'], list(RELAYS), hostvars, links)
    assert hostvars.fetched == ['a', 'b', 'c', 'd']
    assert settings['a'] == {'relay': 'relay1', 'smarthost': '127.0.0.1', 'smarthost_port': 2525,
                             'smarthost_ports': [{'port': 2525, 'protocol': 'smtp'}, {'port': 587, 'protocol': 'smtp'}],
                             'pins': {'auto': 'CURRENT-1\nNEXT-1', 'next': 'NEXT-1'}}
    assert settings['b']['relay'] == 'relay2'
    assert (settings['b']['smarthost'], settings['b']['smarthost_port']) == ('mx.example.com', 465)
    assert settings['b']['smarthost_ports'] == []
    assert problems == ['certrelay_relay must name a host of the group "relays"; wrong for: c, d']


def test_laptops_try_implicit_tls_first_and_port_25_last():
    relays = {'relay': {'exim_server_ports': [25, 587], 'exim_server_tls_on_connect_ports': [465]},
              'single': {'exim_server_ports': [587]}}
    standalone = {'exim_client_layout': 'standalone'}
    hostvars = {**relays, 'a': standalone, 'own-port': {'exim_client_smarthost_port': 2525, **standalone},
                'own-list': {'exim_client_smarthost_ports': [587]}, 'b': {'certrelay_relay': 'single', **standalone},
                'debian': {}}
    links = inv.relay_links(list(relays), hostvars)
    settings, problems = inv.laptop_settings(['a', 'own-port', 'own-list', 'b', 'debian'], list(relays), hostvars,
                                             links)
    assert problems == []
    assert settings['a']['smarthost_ports'] == [{'port': 465, 'protocol': 'smtps'}, {'port': 587, 'protocol': 'smtp'},
                                                {'port': 25, 'protocol': 'smtp'}]
    assert settings['a']['smarthost_port'] == 465
    assert (settings['own-port']['smarthost_port'], settings['own-port']['smarthost_ports']) == (2525, [])
    assert settings['own-list']['smarthost_ports'] == [587]
    # one port: used alone, as before
    assert (settings['b']['smarthost_port'], settings['b']['smarthost_ports']) == (587, [])
    # Debian's transport has one port: the first a standalone laptop would try, alone
    assert (settings['debian']['smarthost_port'], settings['debian']['smarthost_ports']) == (465, [])


def test_revoke_names_accept_text_or_lists():
    assert inv.revoke_names(' a, b ,,a ') == ['a', 'b']
    assert inv.revoke_names(['b', ' c']) == ['b', 'c']
    assert inv.revoke_names(None) == [] and inv.revoke_names('') == []


def test_revoke_problems_refuse_nothing_and_typos():
    assert inv.revoke_problems([], ['a']) == ['Name the laptops to revoke: -e certrelay_revoke=laptop-7,laptop-8.']
    assert inv.revoke_problems(['a', 'typo'], ['a', 'b']) == ['Unknown laptop(s): typo. Known: a, b.']
    assert inv.revoke_problems(['a'], ['a', 'b']) == []


def test_unpinned_names_the_laptops_of_the_relay_that_miss_the_new_certificate():
    settings = {name: {'relay': relay} for name, relay in
                (('a', 'relay1'), ('b', 'relay1'), ('c', 'relay2'), ('d', 'relay1'))}
    pinned = {'a': 'OLD\nNEW', 'c': 'OLD'}
    assert inv.unpinned('relay1', 'NEW', settings, pinned, revoked={'d': 'PEM'}) == ['b']
