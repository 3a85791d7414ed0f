"""certrelay.exim.client on Exim built with OpenSSL, against real relays on loopback.

The laptops are the client role in the standalone layout with the role's RedHat variable set (user
and group `exim`, RHEL's paths under a test root) and `exim_client_binary` naming the OpenSSL build;
the test hands each laptop's Exim a message (`exim -C ... -odi`). The relay is the server role on the
OpenSSL build; the impostors are hand-written Exim daemons that accept anything.
"""

import json
import os
import re
import shutil
import stat
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.lib import exim, openssl, pki
from tests.lib.ansible import role_playbook, run_playbook
from tests.lib.roles import RHEL_CLIENT_EXTRA_VARS, rhel_laptop_overrides

RCPT = 'dest@external.example.org'
LAPTOP = 'laptop.example.com'

# Accepts every recipient from anyone: it would relay whatever a laptop handed it.
IMPOSTOR = """\
log_selector = +tls_peerdn +tls_certificate_verified
begin acl
acl_rcpt:
  accept
""" + exim.DELIVER_TO_FILE


def start_impostor(stack, base: Path, credential: pki.Credential) -> int:
    """A Debian Exim daemon presenting credential, accepting everything; returns its port."""
    base.mkdir(parents=True)
    base = exim.make_traversable(base)
    for sub in ('spool', 'log', 'mail', 'trust'):
        (base / sub).mkdir()
    (base / 'relay.crt').write_text(credential.cert_pem)
    key = base / 'relay.key'
    key.write_text(credential.key_pem)
    shutil.chown(key, 'root', exim.EXIM_USER)
    key.chmod(0o640)
    port = exim.free_port()
    config = base / 'relay.conf'
    config.write_text(exim.minimal_relay_config(base, port, IMPOSTOR.format(base=base, user=exim.EXIM_USER)))
    checked = exim.check_config(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exim.chown_exim(base / 'spool', base / 'log', base / 'mail')
    stack.enter_context(exim.daemon(config, port))
    return port


def got(base: Path, subject: str, timeout: float = 10.0) -> bool:
    return exim.wait_for(lambda: exim.file_has(base / 'mail' / 'relayed', f'^Subject: {subject}$'), timeout=timeout)


@pytest.fixture(scope='module')
def creds():
    ca = pki.make_cert('standin-ca', 'Stand-in Public Root CA', key_ids=True)
    return {
        'relay': pki.server_cert('relay'),
        'impostor': pki.server_cert('impostor'),
        'laptop': pki.client_cert('laptop', key_ids=True),
        'standin-ca': ca,
        # what a public CA would issue to whoever controls relay.example.com
        'public': pki.make_cert('public-relay', 'relay.example.com', dns=('relay.example.com', 'localhost'),
                                ips=('127.0.0.1',), issuer=ca, key_ids=True),
    }


@pytest.fixture(scope='module')
def workdir():
    root = exim.make_traversable(Path(tempfile.mkdtemp(prefix='certrelay-openssl-client-')))
    yield root
    if not os.environ.get('CERTRELAY_KEEP_TMP'):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='module')
def relays(relay_server, openssl_exim, creds, workdir):
    real = relay_server([creds['laptop']], server=creds['relay'], binary=openssl_exim, rhel=True, gather_facts=False)
    with ExitStack() as stack:
        yield {
            'relay': (real.port, real.mailbox.parent.parent),
            'impostor': (start_impostor(stack, workdir / 'impostor', creds['impostor']), workdir / 'impostor'),
            'public': (start_impostor(stack, workdir / 'public', creds['public']), workdir / 'public'),
        }


class Laptops:
    """Client hosts of one inventory (connection local), each under root/<host>/."""

    def __init__(self, root: Path, binary: str):
        self.root, self.binary, self.hosts = root, binary, {}
        root.mkdir()
        # what the role is given as exim_client_binary: the build, with every call recorded
        self.calls = root / 'binary-calls'
        self.wrapper = root / 'exim'
        self.wrapper.write_text(f'#!/bin/sh\necho "$*" >>{self.calls}\nexec {binary} "$@"\n')
        self.wrapper.chmod(0o755)

    def add(self, host, port, pinned, laptop):
        case = self.root / host
        self.hosts[host] = {
            'ansible_connection': 'local',
            'ansible_python_interpreter': sys.executable,
            'exim_client_layout': 'standalone',
            'exim_client_install_packages': False,
            'exim_client_manage_service': False,
            **rhel_laptop_overrides(case, str(self.wrapper)),
            'exim_client_primary_hostname': LAPTOP,
            # by name: Exim's OpenSSL client checks the name as a DNS name only, so an IP address
            # never matches the certificate's IP SAN there (test_ip_smarthost_never_matches_on_openssl)
            'exim_client_smarthost': 'localhost',
            'exim_client_smarthost_port': port,
            'exim_client_server_certificate': pinned.cert_pem,
            'exim_client_certificate': laptop.cert_pem,
            'exim_client_privatekey': laptop.key_pem,
        }

    def apply(self):
        inventory = self.root / 'inventory.json'
        inventory.write_text(json.dumps({'all': {'hosts': self.hosts}}))
        return run_playbook(role_playbook(self.root, 'client', gather_facts=False), RHEL_CLIENT_EXTRA_VARS,
                            inventory=inventory)

    def config(self, host) -> Path:
        return Path(self.hosts[host]['exim_client_config_file'])

    def send(self, host, subject):
        return exim.submit(self.config(host), RCPT, subject, LAPTOP, binary=self.binary)

    def mainlog(self, host) -> str:
        path = Path(self.hosts[host]['exim_client_log_directory']) / 'mainlog'
        return path.read_text(errors='replace') if path.exists() else ''

    def queued(self, host) -> int:
        return exim.queue_count(self.config(host), binary=self.binary)


@pytest.fixture(scope='module')
def laptops(relays, creds, workdir, openssl_exim):
    fleet = Laptops(workdir / 'laptops', openssl_exim)
    fleet.add('deliver', relays['relay'][0], creds['relay'], creds['laptop'])
    fleet.add('impostor', relays['impostor'][0], creds['relay'], creds['laptop'])
    # the laptop pins the impostor's own certificate: the same relay is then accepted
    fleet.add('pinned-impostor', relays['impostor'][0], creds['impostor'], creds['laptop'])
    # one host each before and while the stand-in CA is system-trusted (a defer holds the host back)
    fleet.add('public-ca-before', relays['public'][0], creds['relay'], creds['laptop'])
    fleet.add('public-ca', relays['public'][0], creds['relay'], creds['laptop'])
    result = fleet.apply()
    assert result.returncode == 0, result.output[-4000:]
    return fleet


def test_redhat_variable_set_and_the_openssl_binary(laptops):
    config = laptops.config('deliver')
    # the role validated each candidate with exim_client_binary, not RedHat.yml's /usr/sbin/exim
    calls = laptops.calls.read_text().splitlines()
    assert any(call.startswith('-C ') and call.endswith(' -bV') for call in calls), calls
    assert config.name == 'exim.conf' and config.parent.name == 'exim'
    tls = Path(laptops.hosts['deliver']['exim_client_tls_directory'])
    assert (tls.owner(), tls.group()) == ('root', 'exim') and stat.S_IMODE(tls.stat().st_mode) == 0o750
    key = tls / 'client.key'
    assert (key.owner(), key.group()) == ('root', 'exim') and stat.S_IMODE(key.stat().st_mode) == 0o640
    spool = Path(laptops.hosts['deliver']['exim_client_spool_directory'])
    assert (spool.owner(), spool.group()) == ('exim', 'exim')
    checked = exim.check_config(config, binary=laptops.binary)
    assert checked.returncode == 0 and ' OpenSSL ' in checked.stdout, checked.stdout + checked.stderr


def test_delivers_to_the_pinned_relay(laptops, relays):
    laptops.send("deliver", "openssl-client-ok")
    assert got(relays['relay'][1], 'openssl-client-ok'), laptops.mainlog('deliver')
    assert re.search(rf'=> {RCPT} .*X=TLS.*CV=yes', laptops.mainlog('deliver')), laptops.mainlog('deliver')


def test_impostor_with_another_self_signed_certificate_gets_nothing(laptops, relays):
    laptops.send('impostor', 'openssl-client-impostor')
    log = laptops.mainlog('impostor')
    assert re.search(rf'== {RCPT} .*defer.*certificate verify failed', log), log
    assert laptops.queued('impostor') == 1
    assert not got(relays['impostor'][1], 'openssl-client-impostor', timeout=1.0)


def test_the_impostor_certificate_pinned_is_accepted(laptops, relays):
    """The same daemon is delivered to once its certificate is the pin: the refusal above is the pin's."""
    laptops.send('pinned-impostor', 'openssl-client-pinned')
    assert got(relays['impostor'][1], 'openssl-client-pinned'), laptops.mainlog('pinned-impostor')
    assert re.search(rf'=> {RCPT} .*CV=yes', laptops.mainlog('pinned-impostor'))


def test_a_relay_certificate_from_a_system_trusted_ca_gets_nothing(laptops, relays, creds):
    """Control first: without the stand-in CA in the system store the pin refuses that relay."""
    laptops.send('public-ca-before', 'openssl-client-public-untrusted')
    assert not got(relays['public'][1], 'openssl-client-public-untrusted', timeout=1.0)
    with openssl.system_trusted_ca(creds['standin-ca'].cert_pem):
        laptops.send('public-ca', 'openssl-client-public-trusted')
        delivered = got(relays['public'][1], 'openssl-client-public-trusted', timeout=3.0)
    # Exim's OpenSSL smtp transport adds the system store to tls_verify_certificates (setup_certs:
    # SSL_CTX_set_default_verify_paths); the role's tls:cert event compares the relay's own
    # certificate with the pinned fingerprints, so the chain verifying is not enough.
    assert not delivered, laptops.mainlog('public-ca')
    assert 'verify denied by event-action' in laptops.mainlog('public-ca'), laptops.mainlog('public-ca')


def test_ip_smarthost_never_matches_on_openssl(laptops, relays, creds):
    """Measured: with the smarthost written as 127.0.0.1 the OpenSSL client refuses the pinned relay
    whose certificate carries IP:127.0.0.1 ("certificate name mismatch"); Debian's GnuTLS build
    delivers (tests/integration/test_client_role.py)."""
    fleet = Laptops(laptops.root.parent / 'by-ip', laptops.binary)
    fleet.add('by-ip', relays['relay'][0], creds['relay'], creds['laptop'])
    fleet.hosts['by-ip']['exim_client_smarthost'] = '127.0.0.1'
    result = fleet.apply()
    assert result.returncode == 0, result.output[-4000:]
    fleet.send('by-ip', 'openssl-client-by-ip')
    assert re.search(r'certificate name mismatch: DN="/CN=relay.example.com" H="127.0.0.1"', fleet.mainlog('by-ip'))
    assert fleet.queued('by-ip') == 1
    assert not got(relays['relay'][1], 'openssl-client-by-ip', timeout=1.0)
