"""Laptops on hostile networks: implicit TLS, fallback ports, the TLS floor, mail that leaves when
the network returns. Real Exim on both sides (Debian's GnuTLS build), on loopback ports.

The relay is certrelay.exim.server with a STARTTLS port and an implicit-TLS port; the laptops are
certrelay.exim.client hosts of one inventory (standalone layout, one playbook run). The odd peers
are hand-written Exim daemons presenting the relay's own certificate (so that only the property
under test can refuse them) or an impostor's, and accepting every message.
"""

import os
import re
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.test_client_role import LAPTOP, RCPT, Fleet, assert_ok, delivered, host_output, mainlog, send
from tests.lib import exim
from tests.lib.pki import client_cert, server_cert

# A peer that accepts every message, whatever the client's certificate.
PEER = """\
log_selector = +tls_peerdn +tls_certificate_verified
{main}
begin acl
acl_rcpt:
  accept
""" + exim.DELIVER_TO_FILE

# GnuTLS priority strings that leave one old protocol version only.
ONLY = {'1.0': 'NORMAL:-VERS-ALL:+VERS-TLS1.0', '1.1': 'NORMAL:-VERS-ALL:+VERS-TLS1.1'}


def write_peer(base: Path, credential, port: int, main: str = '', tls: bool = True) -> Path:
    base.mkdir(parents=True)
    base = exim.make_traversable(base)
    for sub in ('spool', 'log', 'mail', 'trust'):
        (base / sub).mkdir()
    (base / 'relay.crt').write_text(credential.cert_pem)
    key = base / 'relay.key'
    key.write_text(credential.key_pem)
    subprocess.run(['chown', f'root:{exim.EXIM_USER}', str(key)], check=True)
    key.chmod(0o640)
    config = base / 'relay.conf'
    rest = PEER.format(main=main, base=base, user=exim.EXIM_USER)
    config.write_text(exim.minimal_relay_config(base, port, rest, advertise='*' if tls else ':'))
    checked = exim.check_config(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exim.chown_exim(base / 'spool', base / 'log', base / 'mail')
    return config


def start_peer(stack, base, credential, main='', tls=True):
    """A hand-written peer daemon on a free port; returns (port, base)."""
    port = exim.free_port()
    config = write_peer(base, credential, port, main.format(port=port), tls)
    stack.enter_context(exim.daemon(config, port))
    return port, base


def handshake(port: int, version: str, starttls: bool = False) -> bool:
    """Whether an OpenSSL client limited to TLS `version` completes a handshake with the server.

    SECLEVEL=0: OpenSSL 3 refuses the SHA-1 signatures of TLS 1.0/1.1 itself; lowered, the server
    alone decides."""
    flag = {'1.0': '-tls1', '1.1': '-tls1_1', '1.2': '-tls1_2', '1.3': '-tls1_3'}[version]
    cmd = ['openssl', 's_client', '-connect', f'127.0.0.1:{port}', flag, '-ign_eof',
           '-cipher', 'DEFAULT:@SECLEVEL=0']
    if starttls:
        cmd += ['-starttls', 'smtp']
    proc = subprocess.run(cmd, input=b'QUIT\r\n', capture_output=True, timeout=20, check=False)
    out = proc.stdout.decode(errors='replace')
    return re.search(r'^New, TLSv1[.0-9]*, Cipher is (?!\(NONE\))', out, re.MULTILINE) is not None


@pytest.fixture(scope='module')
def creds():
    return {'relay': server_cert('relay'), 'impostor': server_cert('impostor'), 'laptop': client_cert('laptop')}


@pytest.fixture(scope='module')
def workdir():
    root = exim.make_traversable(Path(tempfile.mkdtemp(prefix='certrelay-roaming-')))
    yield root
    if not os.environ.get('CERTRELAY_KEEP_TMP'):
        subprocess.run(['rm', '-rf', str(root)], check=False)


@pytest.fixture(scope='module')
def relay(relay_server, creds):
    """The server role: STARTTLS on one port, implicit TLS on another, the default TLS floor."""
    tls_port = exim.free_port()
    server = relay_server([creds['laptop']], server=creds['relay'], exim_server_tls_on_connect_ports=[tls_port])
    server.tls_port = tls_port
    assert exim.wait_listening(tls_port)
    return server


@pytest.fixture(scope='module')
def peers(creds, workdir):
    with ExitStack() as stack:
        found = {
            'impostor': start_peer(stack, workdir / 'impostor', creds['impostor'], 'tls_on_connect_ports = {port}'),
            'plain': start_peer(stack, workdir / 'plain', creds['relay'], tls=False),
        }
        for version, priority in ONLY.items():
            found[version] = start_peer(stack, workdir / f'tls{version}', creds['relay'],
                                        f'tls_on_connect_ports = {{port}}\ntls_require_ciphers = {priority}')
        # a port nobody listens on: the network blocks it
        found['closed'] = (exim.free_port(), None)
        yield found


@pytest.fixture(scope='module')
def offline(creds, workdir):
    """A relay that is down until the test starts it: (port, base, config)."""
    port = exim.free_port()
    base = workdir / 'offline-relay'
    # all 20 delivered at once, not the 11th on left to a queue run
    main = f'tls_on_connect_ports = {port}\nsmtp_accept_queue_per_connection = 0'
    return port, base, write_peer(base, creds['relay'], port, main)


@pytest.fixture(scope='module')
def laptops(creds, relay, peers, offline, workdir):
    fleet = Fleet(workdir, 'laptops')
    smtps = {'exim_client_smarthost_protocol': 'smtps'}
    fleet.add('smtps', relay.tls_port, creds['relay'], creds['laptop'], **smtps)
    fleet.add('impostor', peers['impostor'][0], creds['relay'], creds['laptop'], **smtps)
    fleet.add('plain', peers['plain'][0], creds['relay'], creds['laptop'], **smtps)
    fleet.add('fallback', relay.port, creds['relay'], creds['laptop'], exim_client_smarthost_ports=[
        {'port': peers['closed'][0], 'protocol': 'smtps'}, {'port': relay.port, 'protocol': 'smtp'}])
    # a plain-text server where implicit TLS should be (a captive portal, a misrouted port)
    fleet.add('plain-first', relay.port, creds['relay'], creds['laptop'], exim_client_smarthost_ports=[
        {'port': peers['plain'][0], 'protocol': 'smtps'}, {'port': relay.port, 'protocol': 'smtp'}])
    # both ports open: the first is taken
    fleet.add('prefer', relay.port, creds['relay'], creds['laptop'], exim_client_smarthost_ports=[
        {'port': relay.tls_port, 'protocol': 'smtps'}, {'port': relay.port, 'protocol': 'smtp'}])
    for version in ONLY:
        fleet.add(f'floor-{version}', peers[version][0], creds['relay'], creds['laptop'], **smtps)
        # the control: the same peer without the floor is delivered to, so the floor is what refuses
        fleet.add(f'nofloor-{version}', peers[version][0], creds['relay'], creds['laptop'], **smtps,
                  exim_client_tls_min_version='1.0')
    # NetworkManager is there (its dispatcher directory): the default, auto, installs the hook
    dispatcher = fleet.dir('offline') / 'dispatcher.d'
    dispatcher.mkdir(parents=True)
    fleet.add('offline', offline[0], creds['relay'], creds['laptop'], **smtps,
              exim_client_network_hook_directory=str(dispatcher))
    fleet.first = fleet.apply()
    assert_ok(fleet.first)
    return fleet


def test_delivers_over_implicit_tls_with_a_verified_certificate(laptops, relay):
    case = laptops.dir('smtps')
    assert 'protocol = smtps' in (case / 'etc' / 'client.conf').read_text()
    send(case, 'roaming-smtps')
    assert delivered(relay.root, 'roaming-smtps'), mainlog(case)
    assert re.search(rf'=> {RCPT} .*:{relay.tls_port} X=TLS1\.[23].*CV=yes', mainlog(case)), mainlog(case)


def test_impostor_on_the_implicit_tls_port_gets_nothing(laptops, peers):
    case = laptops.dir('impostor')
    config = send(case, 'roaming-impostor')
    assert 'the relay certificate is not one of the pinned ones' in mainlog(case), mainlog(case)
    assert exim.queue_count(config) == 1
    assert not delivered(peers['impostor'][1], 'roaming-impostor', timeout=1.0)


def test_plain_text_listener_on_the_implicit_tls_port_gets_nothing(laptops, peers):
    case = laptops.dir('plain')
    config = send(case, 'roaming-plain')
    assert re.search(rf'== {RCPT} .*defer', mainlog(case)), mainlog(case)
    assert exim.queue_count(config) == 1
    assert not delivered(peers['plain'][1], 'roaming-plain', timeout=1.0)


def test_a_blocked_implicit_tls_port_falls_back_to_starttls(laptops, relay, peers):
    case = laptops.dir('fallback')
    send(case, 'roaming-fallback')
    assert delivered(relay.root, 'roaming-fallback'), mainlog(case)
    assert re.search(rf'=> {RCPT} R=smarthost T=remote_smtp_smarthost_{relay.port} .*:{relay.port} X=TLS.*CV=yes', mainlog(case)), mainlog(case)


def test_a_plain_text_server_on_the_implicit_tls_port_is_passed_over(laptops, relay, peers):
    case = laptops.dir('plain-first')
    send(case, 'roaming-plain-first')
    assert delivered(relay.root, 'roaming-plain-first'), mainlog(case)
    assert re.search(rf'=> {RCPT} R=smarthost T=remote_smtp_smarthost_{relay.port} .*CV=yes', mainlog(case))
    assert not delivered(peers['plain'][1], 'roaming-plain-first', timeout=0.5)


def test_the_first_port_that_answers_is_taken(laptops, relay):
    case = laptops.dir('prefer')
    send(case, 'roaming-prefer')
    assert delivered(relay.root, 'roaming-prefer'), mainlog(case)
    assert re.search(rf'=> {RCPT} R=smarthost T=remote_smtp_smarthost_{relay.tls_port} .*CV=yes', mainlog(case))


@pytest.mark.parametrize('version', sorted(ONLY))
def test_the_client_refuses_a_relay_that_speaks_only_an_old_tls(laptops, peers, version):
    case = laptops.dir(f'floor-{version}')
    config = send(case, f'roaming-floor-{version}')
    assert re.search(rf'== {RCPT} .*defer', mainlog(case)), mainlog(case)
    assert exim.queue_count(config) == 1
    assert not delivered(peers[version][1], f'roaming-floor-{version}', timeout=1.0)
    # the same peer, the floor lowered: delivered over that version
    control = laptops.dir(f'nofloor-{version}')
    send(control, f'roaming-nofloor-{version}')
    assert delivered(peers[version][1], f'roaming-nofloor-{version}'), mainlog(control)
    assert re.search(rf'=> {RCPT} .*X=TLS{version}:', mainlog(control)), mainlog(control)


@pytest.fixture(scope='module')
def relay_without_floor(relay_server, creds):
    tls_port = exim.free_port()
    server = relay_server([creds['laptop']], server=creds['relay'], exim_server_tls_on_connect_ports=[tls_port],
                          exim_server_tls_min_version='1.0')
    server.tls_port = tls_port
    assert exim.wait_listening(tls_port)
    return server


@pytest.mark.parametrize('version', ['1.0', '1.1'])
def test_the_relay_refuses_an_old_tls_on_both_kinds_of_port(relay, relay_without_floor, version):
    assert not handshake(relay.tls_port, version)
    assert not handshake(relay.port, version, starttls=True)
    assert handshake(relay.tls_port, '1.2') and handshake(relay.port, '1.2', starttls=True)
    # the control: the same client gets through where the floor is lowered
    assert handshake(relay_without_floor.tls_port, version)
    assert handshake(relay_without_floor.port, version, starttls=True)


def test_the_relay_on_the_implicit_tls_port_keeps_the_certificate_policy(relay, creds, workdir):
    """Without a certificate, or with one the relay does not know: TLS, but no relaying."""
    cert, key = creds['laptop'].write(workdir / 'swaks-laptop')
    allowed = exim.swaks(relay.tls_port, '--tls-on-connect', cert=cert, key=key, tls=False)
    assert allowed.rcpt_reply.startswith('250'), allowed.transcript
    stranger = client_cert('stranger')
    cert, key = stranger.write(workdir / 'swaks-stranger')
    refused = exim.swaks(relay.tls_port, '--tls-on-connect', cert=cert, key=key, tls=False)
    assert refused.rcpt_reply.startswith('550'), refused.transcript
    anonymous = exim.swaks(relay.tls_port, '--tls-on-connect', tls=False)
    assert anonymous.rcpt_reply.startswith('550'), anonymous.transcript


def test_retry_rules_keep_mail_for_two_weeks(laptops):
    config = laptops.dir('smtps') / 'etc' / 'client.conf'
    out = subprocess.run([exim.EXIM, '-C', str(config), '-brt', RCPT], capture_output=True, text=True,
                         check=False, timeout=30)
    # Exim's own reading of the rule: 14 days are two weeks
    assert re.search(r'; F,2w,6h;', out.stdout), out.stdout + out.stderr


def test_mail_written_offline_leaves_once_when_the_network_comes_back(laptops, offline):
    port, base, relay_config = offline
    case = laptops.dir('offline')
    config = case / 'etc' / 'client.conf'
    hook = case / 'dispatcher.d' / '90-certrelay-exim'
    assert hook.stat().st_mode & 0o111
    subjects = [f'roaming-offline-{n}' for n in range(20)]
    for subject in subjects:
        exim.submit(config, RCPT, subject, LAPTOP)
    assert exim.queue_count(config) == 20, mainlog(case)
    with exim.daemon(relay_config, port):
        # NetworkManager's other events start nothing
        subprocess.run([str(hook), 'eth0', 'down'], check=True, timeout=10)
        assert not exim.wait_for(lambda: exim.queue_count(config) < 20, timeout=1.0)
        # as NetworkManager runs it when a connection comes up
        subprocess.run([str(hook), 'eth0', 'up'], check=True, timeout=10)
        assert exim.wait_for(lambda: exim.queue_count(config) == 0, timeout=30), mainlog(case)
        assert exim.wait_for(lambda: all(exim.file_has(base / 'mail' / 'relayed', f'^Subject: {s}$') for s in subjects))
        mailbox = (base / 'mail' / 'relayed').read_text(errors='replace')
    for subject in subjects:
        assert len(re.findall(rf'^Subject: {subject}$', mailbox, re.MULTILINE)) == 1, subject


def test_bad_ports_and_floors_are_refused_before_the_host_changes(creds, workdir):
    fleet = Fleet(workdir, 'bad')
    fleet.add('ports', 25, creds['relay'], creds['laptop'],
              exim_client_smarthost_ports=[465, {'port': 587, 'protocol': 'starttls'}, 465])
    fleet.add('floor', 25, creds['relay'], creds['laptop'], exim_client_tls_min_version='1.4')
    fleet.add('host', 25, creds['relay'], creds['laptop'], exim_client_smarthost='relay}{${run{/bin/true}}',
              exim_client_verify_hostname=False)
    result = fleet.apply()
    assert result.returncode != 0
    ports = host_output(result, 'ports')
    assert "exim_client_smarthost_ports[1]: the protocol must be smtps (TLS on connect) or smtp (STARTTLS), got 'starttls'" \
        in ports, ports
    assert 'exim_client_smarthost_ports[2]: port 465 is listed twice' in ports, ports
    assert 'exim_client_tls_min_version' in host_output(result, 'floor'), host_output(result, 'floor')
    assert 'exim_client_smarthost must be a host name or an IP address' in host_output(result, 'host'), \
        host_output(result, 'host')
    assert not any(fleet.dir(host).exists() for host in fleet.hosts)
