"""The TLS floor and implicit TLS on Exim built with OpenSSL (openssl_options), both roles.

The relay is certrelay.exim.server with the RedHat variable set on the OpenSSL build, STARTTLS on one
port and implicit TLS on another; the laptops are certrelay.exim.client on the OpenSSL build. The
peers that speak one TLS version only are Debian's GnuTLS Exim forced to it by a priority string.

Measured: OpenSSL 3's default security level refuses TLS 1.0 and 1.1 by itself (their handshake
signatures are SHA-1), with or without the floor. So the floor's own effect on this build is shown
one version higher: a 1.3 floor refuses TLS 1.2, which the default floor accepts.
"""

import re
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.test_openssl_client import Laptops, got
from tests.integration.test_roaming import handshake, start_peer
from tests.lib import exim, pki

RCPT = 'dest@external.example.org'
ONLY = {'1.0': 'NORMAL:-VERS-ALL:+VERS-TLS1.0', '1.1': 'NORMAL:-VERS-ALL:+VERS-TLS1.1',
        '1.2': 'NORMAL:-VERS-ALL:+VERS-TLS1.2'}


@pytest.fixture(scope='module')
def creds():
    return {'relay': pki.server_cert('relay'), 'laptop': pki.client_cert('laptop', key_ids=True)}


def rhel_relay(relay_server, binary, creds, **extra):
    tls_port = exim.free_port()
    relay = relay_server([creds['laptop']], server=creds['relay'], binary=binary, rhel=True, gather_facts=False,
                         exim_server_tls_on_connect_ports=[tls_port], **extra)
    relay.tls_port = tls_port
    assert exim.wait_listening(tls_port)
    return relay


@pytest.fixture(scope='module')
def relay(relay_server, openssl_exim, creds):
    return rhel_relay(relay_server, openssl_exim, creds)


def test_the_floor_is_written_as_openssl_options_and_the_build_reads_them(relay):
    text = relay.config.read_text()
    assert '.ifdef _HAVE_OPENSSL\nopenssl_options = +no_tlsv1 +no_tlsv1_1\n.endif' in text
    out = subprocess.run([relay.binary, '-C', str(relay.config), '-bP', 'openssl_options', 'tls_require_ciphers'],
                         capture_output=True, text=True, check=False)
    # the GnuTLS priority string is not this build's: tls_require_ciphers stays unset
    assert out.stdout.splitlines() == ['openssl_options = +no_tlsv1 +no_tlsv1_1', 'tls_require_ciphers = '], out


@pytest.mark.parametrize('version', ['1.0', '1.1'])
def test_the_relay_refuses_an_old_tls_on_both_kinds_of_port(relay, version):
    assert not handshake(relay.tls_port, version)
    assert not handshake(relay.port, version, starttls=True)


def test_the_relay_on_the_implicit_tls_port_relays_for_its_laptop_only(relay, creds):
    cert, key = creds['laptop'].write(relay.root / 'swaks-laptop')
    allowed = exim.swaks(relay.tls_port, '--tls-on-connect', cert=cert, key=key, tls=False)
    assert allowed.rcpt_reply.startswith('250'), allowed.transcript
    assert exim.swaks(relay.tls_port, '--tls-on-connect', tls=False).rcpt_reply.startswith('550')


def test_a_higher_floor_refuses_what_the_default_accepts(relay_server, openssl_exim, creds, relay):
    strict = rhel_relay(relay_server, openssl_exim, creds, exim_server_tls_min_version='1.3')
    assert handshake(relay.tls_port, '1.2') and handshake(relay.port, '1.2', starttls=True)
    assert not handshake(strict.tls_port, '1.2')
    assert not handshake(strict.port, '1.2', starttls=True)
    assert handshake(strict.tls_port, '1.3')


@pytest.fixture(scope='module')
def peers(creds, tmp_path_factory):
    base = exim.make_traversable(tmp_path_factory.mktemp('openssl-floor-peers'))
    with ExitStack() as stack:
        yield {version: start_peer(stack, base / f'tls{version}', creds['relay'],
                                   f'tls_on_connect_ports = {{port}}\ntls_require_ciphers = {priority}')
               for version, priority in ONLY.items()}


@pytest.fixture(scope='module')
def laptops(peers, creds, openssl_exim, tmp_path_factory):
    fleet = Laptops(exim.make_traversable(tmp_path_factory.mktemp('openssl-floor')) / 'laptops', openssl_exim)
    cases = {'floor-1.0': ('1.0', '1.2'), 'floor-1.1': ('1.1', '1.2'), 'floor-1.2': ('1.2', '1.2'),
             'floor-1.3': ('1.2', '1.3')}
    for host, (peer, floor) in cases.items():
        fleet.add(host, peers[peer][0], creds['relay'], creds['laptop'])
        fleet.hosts[host].update(exim_client_smarthost_protocol='smtps', exim_client_tls_min_version=floor)
    result = fleet.apply()
    assert result.returncode == 0, result.output[-4000:]
    return fleet


@pytest.mark.parametrize('host, peer', [('floor-1.0', '1.0'), ('floor-1.1', '1.1'), ('floor-1.3', '1.2')])
def test_the_openssl_client_refuses_a_relay_below_its_floor(laptops, peers, host, peer):
    assert '.ifdef _HAVE_OPENSSL\nopenssl_options = +no_tlsv1' in laptops.config(host).read_text()
    laptops.send(host, f'openssl-{host}')
    assert re.search(rf'== {RCPT} .*defer', laptops.mainlog(host)), laptops.mainlog(host)
    assert laptops.queued(host) == 1
    assert not got(Path(peers[peer][1]), f'openssl-{host}', timeout=1.0)


def test_the_openssl_client_delivers_over_implicit_tls_at_its_floor(laptops, peers):
    """The control of the 1.3 case: the same TLS 1.2 peer, the default floor, delivered to."""
    laptops.send('floor-1.2', 'openssl-floor-1.2')
    assert got(Path(peers['1.2'][1]), 'openssl-floor-1.2'), laptops.mainlog('floor-1.2')
    assert re.search(rf'=> {RCPT} .*X=TLS1\.2:.*CV=yes', laptops.mainlog('floor-1.2')), laptops.mainlog('floor-1.2')
