"""certrelay.exim.smarthost_routes: the relay ports a laptop tries, in order, each with its protocol."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.smarthost_routes import smarthost_routes


def test_one_port_keeps_the_one_transport_and_its_protocol_follows_the_port():
    assert smarthost_routes('relay.example.com', port=465) == {
        'attempts': [{'port': 465, 'protocol': 'smtps', 'transport': 'remote_smtp_smarthost'}],
        'transport': 'remote_smtp_smarthost'}
    assert smarthost_routes('relay.example.com', port=587)['attempts'][0]['protocol'] == 'smtp'
    assert smarthost_routes('relay.example.com', port=465, protocol='smtp')['attempts'][0]['protocol'] == 'smtp'


def test_several_ports_are_probed_in_order_and_the_last_is_taken_unprobed():
    routes = smarthost_routes('relay.example.com', ports=[465, {'port': 587}, {'port': 2525, 'protocol': 'smtps'}, 25])
    assert [(a['port'], a['protocol'], a['transport']) for a in routes['attempts']] == [
        (465, 'smtps', 'remote_smtp_smarthost_465'), (587, 'smtp', 'remote_smtp_smarthost_587'),
        (2525, 'smtps', 'remote_smtp_smarthost_2525'), (25, 'smtp', 'remote_smtp_smarthost_25')]
    choice = routes['transport']
    assert choice.startswith('${if !match{${readsocket{inet:relay.example.com:465}{}{3s}{ }{220 unreachable}}}'
                             '{\\N^220[ -]\\N}{remote_smtp_smarthost_465}')
    assert '{inet:relay.example.com:587}{QUIT\\r\\n}{3s}{ }{}' in choice
    assert choice.endswith('{remote_smtp_smarthost_2525}{remote_smtp_smarthost_25}}}}}}')
    assert 'inet:relay.example.com:25}' not in choice


def test_an_ipv6_smarthost_is_bracketed_in_the_probe():
    assert '{inet:[::1]:465}' in smarthost_routes('::1', ports=[465, 587])['transport']


def test_every_bad_entry_is_named():
    problems = smarthost_routes('r', ports=[0, 'x', {'port': 25, 'protocol': 'lmtp'}, 587, 587, {'port': 1, 'tls': 1},
                                            True], problems=True)
    assert problems == [
        'exim_client_smarthost_ports[0]: the port must be a number from 1 to 65535 (got 0)',
        "exim_client_smarthost_ports[1]: the port must be a number from 1 to 65535 (got 'x')",
        "exim_client_smarthost_ports[2]: the protocol must be smtps (TLS on connect) or smtp (STARTTLS), got 'lmtp'",
        'exim_client_smarthost_ports[4]: port 587 is listed twice',
        'exim_client_smarthost_ports[5]: unknown keys tls (only port and protocol)',
        'exim_client_smarthost_ports[6]: the port must be a number from 1 to 65535 (got True)',
    ]
    with pytest.raises(AnsibleFilterError, match='port 587 is listed twice'):
        smarthost_routes('r', ports=[587, 587])
    assert smarthost_routes('r', ports=[465, 587], problems=True) == []


@pytest.mark.parametrize('host', ['relay.example.com', 'relay', '127.0.0.1', '::1', '[::1]', 'relay.example.com.'])
def test_host_names_and_addresses_pass(host):
    assert smarthost_routes(host, port=465, problems=True) == []


@pytest.mark.parametrize('host', ['relay}{${run{/bin/sh}}', 'relay example.com', '', '-relay', 'relay..example.com',
                                  'a' * 64 + '.example.com', 'relay.example.com\n'])
def test_anything_else_is_refused_before_it_reaches_an_expansion(host):
    assert smarthost_routes(host, port=465, problems=True) == [
        'exim_client_smarthost must be a host name or an IP address (got %r)' % host]
    with pytest.raises(AnsibleFilterError, match='must be a host name or an IP address'):
        smarthost_routes(host, ports=[465, 587])
