"""certrelay.exim.client (standalone layout) against real Exim relays on loopback.

Each client is a host of one inventory (all `connection: local`, each with its own directory), so
one ansible-playbook run converges every case. The client's Exim is driven by the test
(`exim -C client.conf -odi`); the relays are real Exim daemons: the relay made by
certrelay.exim.server, an impostor with another self-signed certificate carrying the same names,
a relay whose certificate lacks the smarthost's name, and a relay without TLS.
"""

import json
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.lib import exim
from tests.lib.ansible import REPO, role_playbook, run_playbook, tree_snapshot
from tests.lib.pki import client_cert, make_cert, server_cert

RCPT = 'dest@external.example.org'
LAPTOP = 'laptop.example.com'

# The impostor and the odd relays: accept any client certificate they can verify, deliver to a file.
# The impostor trusts the laptop too, so it *would* relay if the client talked to it.
RELAY = """\
log_selector = +tls_peerdn +tls_certificate_verified
begin acl
acl_rcpt:
  accept  verify = certificate
  accept  condition = {accept_plain}
  deny    message = relay not permitted
""" + exim.DELIVER_TO_FILE


def start_relay(stack, base, credential, trusted_pem, tls=True):
    """A hand-written relay daemon on a free port; returns (port, base)."""
    base.mkdir(parents=True)
    base = exim.make_traversable(base)
    for sub in ('spool', 'log', 'mail', 'trust'):
        (base / sub).mkdir()
    (base / 'relay.crt').write_text(credential.cert_pem)
    (base / 'relay.key').write_text(credential.key_pem)
    (base / 'trust' / 'client.pem').write_text(trusted_pem)
    port = exim.free_port()
    config = base / 'relay.conf'
    rest = RELAY.format(base=base, accept_plain='false' if tls else 'true', user=exim.EXIM_USER)
    config.write_text(exim.minimal_relay_config(base, port, rest, advertise='*' if tls else ':'))
    checked = exim.check_config(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exim.chown_exim(base / 'spool', base / 'log', base / 'mail')
    shutil.chown(base / 'relay.key', 'root', 'Debian-exim')
    (base / 'relay.key').chmod(0o640)
    stack.enter_context(exim.daemon(config, port))
    return port, base


@pytest.fixture(scope='module')
def pki():
    return {
        'relay': server_cert('relay'),
        'impostor': server_cert('impostor'),
        'noname': make_cert('noname', 'relay.example.com', dns=('relay.example.com',)),
        'expired': server_cert('old-relay', expired=True),
        # a relay certificate rotation pins the current and the next one
        'next': server_cert('relay-next', host='relay-next.example.com'),
        'bundle-expired': make_cert('relay-2024', 'relay-2024.example.com', dns=('localhost',),
                                    ips=('127.0.0.1',), expired=True),
        'misnamed': make_cert('misnamed', 'relay-misnamed.example.com', dns=('relay-misnamed.example.com',)),
        'laptop': client_cert('laptop'),
        'other': client_cert('other-laptop'),
        'weak-relay': server_cert('weak-relay', bits=1024),
        'future-relay': server_cert('future-relay', future=True),
        'sha1-laptop': client_cert('sha1-laptop', digest='sha1'),
        'ec-laptop': client_cert('ec-laptop', kind='ec'),
    }


def ca_and_issued():
    """A private CA, a relay certificate it issued and an impostor's certificate it issued (another
    name, no SAN): what a fullchain pin would let in."""
    ca = make_cert('pin-ca', 'Pin Test CA', ca=True)
    relay = make_cert('ca-relay', 'relay.example.com', dns=('relay.example.com', 'localhost'), ips=('127.0.0.1',),
                      issuer=ca)
    return ca, relay, make_cert('someone-else', 'someone-else.example.com', issuer=ca)


@pytest.fixture(scope='module')
def workdir():
    root = exim.make_traversable(Path(tempfile.mkdtemp(prefix='certrelay-client-')))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='module')
def relays(pki, relay_server, workdir):
    real = relay_server(clients=[pki['laptop']], server=pki['relay'])
    with ExitStack() as stack:
        odd = {
            name: start_relay(stack, workdir / 'relays' / name, pki[cert], pki['laptop'].cert_pem, tls=tls)
            for name, cert, tls in (('impostor', 'impostor', True), ('noname', 'noname', True),
                                    ('plain', 'relay', False), ('next', 'next', True))
        }
        yield dict(odd, relay=(real.port, real.root), server=real)


class Fleet:
    """Client hosts of one inventory under workdir/<name>/, applied with one playbook run."""

    def __init__(self, workdir: Path, name: str):
        self.root = workdir / name
        self.root.mkdir()
        self.hosts = {}

    def dir(self, host: str) -> Path:
        return self.root / host

    def add(self, host, port, pinned, laptop=None, directory=None, **overrides):
        case = directory or self.dir(host)
        values = {
            'ansible_connection': 'local',
            'ansible_python_interpreter': sys.executable,
            'exim_client_layout': 'standalone',
            'exim_client_install_packages': False,
            'exim_client_manage_service': False,
            'exim_client_config_file': str(case / 'etc' / 'client.conf'),
            'exim_client_spool_directory': str(case / 'spool'),
            'exim_client_log_directory': str(case / 'log'),
            'exim_client_tls_directory': str(case / 'etc' / 'tls'),
            'exim_client_primary_hostname': LAPTOP,
            'exim_client_smarthost': '127.0.0.1',
            'exim_client_smarthost_port': port,
            'exim_client_server_certificate': pinned.cert_pem,
        }
        if laptop is not None:
            values['exim_client_certificate'] = laptop.cert_pem
            values['exim_client_privatekey'] = laptop.key_pem
        values.update(overrides)
        self.hosts[host] = values
        return values

    def apply(self, check=False, diff=False, limit=None, verbosity=None, extra_vars=None):
        inventory = self.root / 'inventory.json'
        inventory.write_text(json.dumps({'all': {'hosts': self.hosts}}))
        playbook = role_playbook(self.root, 'client', FACTS_TASK % self.root, gather_facts=False)
        args = (['--limit', limit] if limit else []) + ([verbosity] if verbosity else [])
        return run_playbook(playbook, extra_vars, *args, check=check, diff=diff, inventory=inventory)

    def facts(self, host):
        return json.loads((self.root / f'{host}.facts.json').read_text())


# Saves the exported facts where the test reads them, as an enrolling play would use them.
FACTS_TASK = """\
  post_tasks:
    - name: Save the exported facts
      ansible.builtin.copy:
        content: "{{ {'pem': exim_client_certificate_pem | default(''),
                      'fingerprint': exim_client_certificate_fingerprint | default('')} | to_json }}"
        dest: "%s/{{ inventory_hostname }}.facts.json"
        mode: "0600"
"""


def host_output(result, host):
    """The lines of a run's output that name host."""
    lines = (line for line in result.output.splitlines() if f'[{host}]' in line)
    return '\n'.join(lines).replace('\\"', '"')


def send(case, subject):
    config = case / 'etc' / 'client.conf'
    exim.submit(config, RCPT, subject, LAPTOP)
    return config


def mainlog(case):
    path = case / 'log' / 'mainlog'
    return path.read_text(errors='replace') if path.exists() else ''


def delivered(relay_base, subject, timeout=10.0):
    return exim.wait_for(lambda: exim.file_has(relay_base / 'mail' / 'relayed', f'^Subject: {subject}$'),
                         timeout=timeout)


def bundle(*creds):
    """PEM bundle as a user would paste it: concatenated, a blank line in between."""
    return '\n'.join(cred.cert_pem for cred in creds)


def assert_ok(result):
    assert result.returncode == 0, result.output[-4000:]


@pytest.fixture(scope='module')
def fleet(pki, relays, workdir):
    """Every good case converged by one run; the run's result is kept for the tests."""
    fleet = Fleet(workdir, 'fleet')
    fleet.add('deliver', relays['relay'][0], pki['relay'], pki['laptop'])
    fleet.add('impostor', relays['impostor'][0], pki['relay'], pki['laptop'])
    fleet.add('plain', relays['plain'][0], pki['relay'], pki['laptop'])
    fleet.add('noname', relays['noname'][0], pki['noname'], pki['laptop'], exim_client_verify_hostname=False)
    fleet.add('generated', relays['relay'][0], pki['relay'], exim_client_generate_certificate=True)
    # old and new relay certificate pinned together, against a relay presenting either
    for host, relay in (('bundle-current', 'relay'), ('bundle-next', 'next')):
        fleet.add(host, relays[relay][0], pki['relay'], pki['laptop'],
                  exim_client_server_certificate=bundle(pki['relay'], pki['next']))
    fleet.first = fleet.apply()
    assert_ok(fleet.first)
    return fleet


def test_converges_and_second_run_changes_nothing(fleet):
    for host in fleet.hosts:
        assert fleet.first.recap(host).get('changed', 0) > 0, host
    snapshot = tree_snapshot(*(fleet.dir(host) for host in fleet.hosts))
    second = fleet.apply()
    assert_ok(second)
    for host in fleet.hosts:
        assert second.recap(host).get('changed') == 0, host_output(second, host)
    assert tree_snapshot(*(fleet.dir(host) for host in fleet.hosts)) == snapshot


def test_files_modes_and_no_secret_in_config_or_output(pki, fleet):
    case = fleet.dir('deliver')
    config = case / 'etc' / 'client.conf'
    text = config.read_text()
    assert 'PRIVATE KEY' not in text
    for line in ('hosts_require_tls = *', 'tls_verify_hosts = *',
                 f'tls_verify_certificates = {case}/etc/tls/smarthost.pem', 'allow_localhost', 'self = send'):
        assert line in text
    assert 'tls_verify_cert_hostnames' not in text
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    tls = case / 'etc' / 'tls'
    assert stat.S_IMODE(tls.stat().st_mode) == 0o750 and tls.group() == 'Debian-exim'
    for host in ('deliver', 'generated'):
        key = fleet.dir(host) / 'etc' / 'tls' / 'client.key'
        assert stat.S_IMODE(key.stat().st_mode) == 0o640, host
        assert (key.owner(), key.group()) == ('root', 'Debian-exim'), host
        assert key.read_text().splitlines()[1] not in fleet.first.output, host
    assert (tls / 'smarthost.pem').read_text().strip() == pki['relay'].cert_pem.strip()
    assert fleet.facts('deliver') == {'pem': pki['laptop'].cert_pem.strip() + '\n',
                                      'fingerprint': pki['laptop'].fingerprint}


def test_delivers_to_the_pinned_relay_with_verified_certificate(fleet, relays):
    case = fleet.dir('deliver')
    send(case, 'client-ok')
    assert delivered(relays['relay'][1], 'client-ok'), mainlog(case)
    assert re.search(rf'=> {RCPT} .*CV=yes', mainlog(case)), mainlog(case)


def test_impostor_with_the_same_names_gets_nothing(fleet, relays):
    case = fleet.dir('impostor')
    config = send(case, 'client-impostor')
    # the fingerprint pin (tls:cert event) refuses it before the library's own verification
    assert 'verify denied by event-action: depth=0: the relay certificate is not one of the pinned ones' \
        in mainlog(case), mainlog(case)
    assert re.search(rf'== {RCPT} .*defer.*(certificate verification failed|Error in the certificate)',
                     mainlog(case)), mainlog(case)
    assert exim.queue_count(config) == 1
    assert not delivered(relays['impostor'][1], 'client-impostor', timeout=1.0)


def test_relay_without_tls_gets_nothing_in_clear(fleet, relays):
    case = fleet.dir('plain')
    config = send(case, 'client-plain')
    assert re.search(rf'== {RCPT} .*defer', mainlog(case)), mainlog(case)
    assert exim.queue_count(config) == 1
    assert not delivered(relays['plain'][1], 'client-plain', timeout=1.0)


def test_hostname_check_turned_off_deliberately_still_pins(fleet, relays):
    case = fleet.dir('noname')
    assert 'tls_verify_cert_hostnames = :' in (case / 'etc' / 'client.conf').read_text()
    send(case, 'client-noname')
    assert delivered(relays['noname'][1], 'client-noname'), mainlog(case)
    assert re.search(rf'=> {RCPT} .*CV=yes', mainlog(case)), mainlog(case)


@pytest.mark.parametrize('host, relay', [('bundle-current', 'relay'), ('bundle-next', 'next')])
def test_pinned_bundle_delivers_to_a_relay_presenting_either_certificate(pki, fleet, relays, host, relay):
    case = fleet.dir(host)
    pinned = (case / 'etc' / 'tls' / 'smarthost.pem').read_text()
    assert pki['relay'].cert_pem in pinned and pki['next'].cert_pem in pinned
    send(case, f'client-{host}')
    assert delivered(relays[relay][1], f'client-{host}'), mainlog(case)
    assert re.search(rf'=> {RCPT} .*CV=yes', mainlog(case)), mainlog(case)


def test_generated_certificate_is_logged_by_its_fingerprint_and_enrolled(fleet, relays):
    case = fleet.dir('generated')
    exported = fleet.facts('generated')
    assert exported['pem'] == (case / 'etc' / 'tls' / 'client.crt').read_text()
    assert re.fullmatch('[0-9A-F]{64}', exported['fingerprint'])
    server = relays['server']

    # Not enrolled yet: the relay refuses it and logs the fingerprint the play exported.
    send(case, 'client-generated-early')
    assert exim.wait_for(lambda: exported['fingerprint'] in server.log_text(), timeout=5), server.log_text()
    assert not delivered(server.root, 'client-generated-early', timeout=0.5)

    enrolled = server.apply(clients=[*server.clients, client_entry_from(exported)])
    assert_ok(enrolled)
    server.reload()
    send(case, 'client-generated')
    assert delivered(server.root, 'client-generated'), mainlog(case)
    assert re.search(rf'=> {RCPT} .*CV=yes', mainlog(case)), mainlog(case)


def client_entry_from(exported):
    return {'name': 'generated-laptop', 'certificate': exported['pem'], 'state': 'present'}


def test_check_mode_with_diff_previews_and_writes_nothing(pki, fleet, workdir):
    preview = Fleet(workdir, 'preview')
    before = tree_snapshot(fleet.dir('deliver'))
    # the 'defaults' host previews the Debian layout: /etc/exim4 as found (an earlier run of the
    # roles may have left its base directory there) must stay exactly so
    host_before = tree_snapshot(Path('/etc/exim4'))
    other_port = exim.free_port()
    converged = fleet.hosts['deliver']
    preview.add('changed-port', other_port, pki['relay'], pki['laptop'], directory=fleet.dir('deliver'))
    preview.add('fresh-generated', 25, pki['relay'], exim_client_generate_certificate=True)
    # Only the required variables: the defaults (Debian layout, Debian's paths) survive the role's
    # argument validation, which runs before facts and vars/Debian.yml are loaded.
    preview.hosts['defaults'] = {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'exim_client_smarthost': 'relay.example.com', 'exim_client_server_certificate': pki['relay'].cert_pem,
        'exim_client_generate_certificate': True,
        'exim_client_install_packages': False, 'exim_client_manage_service': False,
    }
    result = preview.apply(check=True, diff=True)
    assert_ok(result)
    assert re.search(r'included: \S+/tasks/debian\.yml for .*\bdefaults\b', result.output), result.output[-3000:]
    assert tree_snapshot(Path('/etc/exim4')) == host_before
    for host in preview.hosts:
        assert result.recap(host).get('changed', 0) > 0, host
    assert f'-  port = {converged["exim_client_smarthost_port"]}' in result.output
    assert f'+  port = {other_port}' in result.output
    assert tree_snapshot(fleet.dir('deliver')) == before
    assert not preview.dir('fresh-generated').exists()


BAD_INPUT = {
    'pinned-lacks-name': ({'exim_client_server_certificate': 'noname'},
                          'does not name the smarthost "127.0.0.1"'),
    'pinned-expired': ({'exim_client_server_certificate': 'expired'}, 'expired on'),
    'pinned-is-a-key': ({'exim_client_server_certificate': 'relay-key'}, 'holds a private key'),
    # every certificate of a pinned bundle is checked, and the bad one is named
    'bundle-one-expired': ({'exim_client_server_certificate': 'bundle-expired'},
                           'exim_client_server_certificate (CN=relay-2024.example.com, certificate 2 of 2): '
                           'expired on'),
    'bundle-one-misnamed': ({'exim_client_server_certificate': 'bundle-misnamed'},
                            'exim_client_server_certificate (CN=relay-misnamed.example.com, certificate 1 of 2): '
                            'does not name the smarthost "127.0.0.1"'),
    'bundle-with-a-key': ({'exim_client_server_certificate': 'bundle-key'}, 'holds a private key'),
    'key-mismatch': ({'exim_client_privatekey': 'other-key'},
                     'exim_client_privatekey does not belong to exim_client_certificate'),
    'key-garbage': ({'exim_client_privatekey': 'garbage'},
                    'exim_client_privatekey is not an unencrypted PEM private key'),
    'cert-and-generate': ({'exim_client_generate_certificate': True},
                          'or neither and exim_client_generate_certificate=true'),
    'pinned-weak': ({'exim_client_server_certificate': 'weak-relay'},
                    'is weak: RSA key of 1024 bits (at least 2048 needed) (set exim_client_allow_weak to accept it)'),
    'pinned-not-yet-valid': ({'exim_client_server_certificate': 'future-relay'}, 'not valid before'),
    'client-cert-sha1': ({'exim_client_certificate': 'sha1-cert', 'exim_client_privatekey': 'sha1-key'},
                         'exim_client_certificate (CN=sha1-laptop.example.com) is weak: signed with SHA-1'),
    'key-with-certificate': ({'exim_client_privatekey': 'cert-and-key'},
                             'exim_client_privatekey holds a certificate as well as a key'),
    'key-of-another-type': ({'exim_client_privatekey': 'ec-key'},
                            'exim_client_privatekey does not belong to exim_client_certificate'),
    # Debian's transport cannot compare fingerprints: a CA in the pin is refused there
    'debian-pin-with-ca': ({'exim_client_layout': 'debian', 'exim_client_smarthost': 'relay.example.com',
                            'exim_client_server_certificate': 'fullchain'},
                           'is a CA certificate (it signs certificates)'),
    # an intermediate CA (CA:TRUE, no key usage) that even names the smarthost
    'debian-pin-intermediate': ({'exim_client_layout': 'debian', 'exim_client_smarthost': 'relay.example.com',
                                 'exim_client_server_certificate': 'intermediate'},
                                'is a CA certificate (it signs certificates)'),
}


def test_bad_input_fails_on_the_controller_and_changes_nothing(pki, fleet, relays, workdir):
    values = {'noname': pki['noname'].cert_pem, 'expired': pki['expired'].cert_pem,
              'relay-key': pki['relay'].key_pem, 'other-key': pki['other'].key_pem, 'garbage': 'not a key',
              'bundle-expired': bundle(pki['relay'], pki['bundle-expired']),
              'bundle-misnamed': bundle(pki['misnamed'], pki['relay']),
              'bundle-key': pki['relay'].cert_pem + pki['relay'].key_pem,
              'weak-relay': pki['weak-relay'].cert_pem, 'future-relay': pki['future-relay'].cert_pem,
              'sha1-cert': pki['sha1-laptop'].cert_pem, 'sha1-key': pki['sha1-laptop'].key_pem,
              'cert-and-key': pki['laptop'].cert_pem + pki['laptop'].key_pem, 'ec-key': pki['ec-laptop'].key_pem,
              'fullchain': bundle(*ca_and_issued()[1::-1]),
              'intermediate': make_cert('intermediate', 'relay.example.com', dns=('relay.example.com',),
                                        issuer=ca_and_issued()[0], intermediate=True).cert_pem}
    # these target converged clients: they must stay exactly as they were
    converged = {'pinned-lacks-name': 'deliver', 'bundle-one-expired': 'bundle-current',
                 'bundle-one-misnamed': 'bundle-next'}
    bad = Fleet(workdir, 'bad')
    for host, (overrides, _message) in BAD_INPUT.items():
        resolved = {k: values.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()}
        directory = fleet.dir(converged[host]) if host in converged else None
        bad.add(host, relays['relay'][0], pki['relay'], pki['laptop'], directory=directory, **resolved)
    watched = [fleet.dir(host) for host in set(converged.values())] + [bad.dir(host) for host in BAD_INPUT]
    # what the debian layout would write
    watched += [Path(p) for p in ('/etc/exim4/update-exim4.conf.conf', '/etc/exim4/exim4.conf.localmacros',
                                  '/etc/exim4/certrelay', '/var/lib/exim4/config.autogenerated')]
    before = tree_snapshot(*watched)
    result = bad.apply()
    assert result.returncode != 0
    for host, (_overrides, message) in BAD_INPUT.items():
        assert result.recap(host).get('failed') == 1, host
        assert result.recap(host).get('changed') == 0, host
        assert message in host_output(result, host), (host, host_output(result, host))
    assert tree_snapshot(*watched) == before
    # only the bad certificate of a bundle is named
    assert 'certificate 1 of 2' not in host_output(result, 'bundle-one-expired')
    assert 'certificate 2 of 2' not in host_output(result, 'bundle-one-misnamed')
    for secret in (pki['laptop'].key_pem, pki['other'].key_pem, pki['relay'].key_pem, pki['sha1-laptop'].key_pem,
                   pki['ec-laptop'].key_pem):
        assert secret.splitlines()[1] not in result.output


# the refusals whose input holds a key, beside a laptop that converges with a key of its own
KEY_BEARING = ('pinned-is-a-key', 'bundle-with-a-key', 'key-mismatch', 'key-with-certificate', 'client-cert-sha1')


@pytest.mark.parametrize('mode', ['run', 'check and diff'])
def test_no_key_material_in_the_output_at_vvv(pki, relays, workdir, mode):
    """Keys given right (converging) and wrong (refused) never reach the output, even at -vvv,
    in check mode and with --diff."""
    values = {'relay-key': pki['relay'].key_pem, 'other-key': pki['other'].key_pem,
              'bundle-key': pki['relay'].cert_pem + pki['relay'].key_pem,
              'sha1-cert': pki['sha1-laptop'].cert_pem, 'sha1-key': pki['sha1-laptop'].key_pem,
              'cert-and-key': pki['laptop'].cert_pem + pki['laptop'].key_pem}
    verbose = Fleet(workdir, 'vvv-' + mode.replace(' ', '-'))
    verbose.add('converges', relays['relay'][0], pki['relay'], pki['laptop'])
    for host in KEY_BEARING:
        overrides = {k: values.get(v, v) for k, v in BAD_INPUT[host][0].items()}
        verbose.add(host, relays['relay'][0], pki['relay'], pki['laptop'], **overrides)
    checking = mode != 'run'
    result = verbose.apply(check=checking, diff=checking, verbosity='-vvv')
    assert result.recap('converges').get('failed', 0) == 0, host_output(result, 'converges')
    assert result.recap('converges').get('changed', 0) > 0
    for host in KEY_BEARING:
        assert result.recap(host).get('failed') == 1, host
        assert BAD_INPUT[host][1] in result.output, host
    secrets = {line for cred in ('laptop', 'other', 'relay', 'sha1-laptop')
               for line in pki[cred].key_pem.splitlines() if len(line) > 20}
    assert len(secrets) > 20
    leaked = [line for line in secrets if line in result.output]
    assert not leaked, leaked[:3]
    assert '"invocation"' in result.output, 'not a -vvv run'


# ------------------------------------------------------------------ handlers with a managed service

# A System V init script for a client Exim daemon of the test's own (`-oX`: a free port instead of
# 25): what `ansible.builtin.service` drives on a host without systemd. Logs every action it is
# asked for, so the test sees what the role's handlers did.
INIT_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: certrelay.exim test client Exim
### END INIT INFO
echo "$1" >> {actions}
running() {{ [ -f {pid} ] && kill -0 "$(cat {pid})" 2>/dev/null; }}
case "$1" in
  start) running || {exim} -C {config} -bd -oX {port} -oP {pid} ;;
  # gone before a restart's start binds the port again
  stop) if running; then kill "$(cat {pid})"; while running; do sleep 0.1; done; fi; rm -f {pid} ;;
  reload|force-reload) running && kill -HUP "$(cat {pid})" ;;
  restart) "$0" stop; "$0" start ;;
  status) running ;;
  *) exit 3 ;;
esac
"""


@pytest.fixture(scope='module')
def service(workdir):
    """A uniquely named init script in /etc/init.d, removed (with its rc links and daemon) after."""
    name = f'certrelay-test-{workdir.name[-8:].lower()}'
    name = re.sub('[^a-z0-9-]', '', name)
    base = workdir / 'service'
    base.mkdir()
    # the daemon runs as the Exim user (a -C configuration) and writes its PID file here
    exim.chown_exim(base)
    script = Path('/etc/init.d') / name
    info = {'name': name, 'actions': base / 'actions', 'pid': base / 'exim.pid',
            'config': workdir / 'managed' / 'managed' / 'etc' / 'client.conf', 'port': exim.free_port()}
    script.write_text(INIT_SCRIPT.format(exim=exim.EXIM, **info))
    script.chmod(0o755)
    try:
        yield info
    finally:
        subprocess.run([str(script), 'stop'], capture_output=True, timeout=30, check=False)
        subprocess.run(['update-rc.d', '-f', name, 'remove'], capture_output=True, timeout=30, check=False)
        script.unlink(missing_ok=True)


def actions(service):
    path = service['actions']
    return path.read_text().split() if path.exists() else []


def ran_handlers(result, host):
    """Names of the handlers that ran (not skipped) for host, in order."""
    names, current = [], None
    for line in result.output.splitlines():
        match = re.match(r'^RUNNING HANDLER \[(?:[^:]+ : )?(.*?)\]', line)
        if match or line.startswith(('TASK [', 'PLAY ')):
            current = match and match.group(1)
            continue
        if current and re.match(rf'^(ok|changed): \[{re.escape(host)}\]', line):
            names.append(current)
    return names


def test_changed_pin_or_client_key_reloads_a_managed_exim_after_a_check(pki, relays, workdir, service):
    managed = Fleet(workdir, 'managed')
    extra = {'exim_client_manage_service': True, 'exim_client_service_name': service['name']}
    managed.add('managed', relays['relay'][0], pki['relay'], pki['laptop'], **extra)
    # the same changes without a managed service: no handler does anything
    managed.add('unmanaged', relays['relay'][0], pki['relay'], pki['laptop'])
    assert_ok(managed.apply())
    assert 'start' in actions(service)
    assert exim.wait_listening(service['port'])
    daemon_log = managed.dir('managed') / 'log' / 'mainlog'

    def changed_run(**overrides):
        for host in managed.hosts:
            managed.hosts[host].update(overrides)
        before = len(actions(service))
        result = managed.apply()
        assert_ok(result)
        return result, actions(service)[before:]

    # nothing changed: no reload
    result, done = changed_run()
    assert 'reload' not in done and ran_handlers(result, 'managed') == []

    steps = {
        'pin': {'exim_client_server_certificate': bundle(pki['relay'], pki['next'])},
        'client certificate and key': {'exim_client_certificate': pki['other'].cert_pem,
                                       'exim_client_privatekey': pki['other'].key_pem},
    }
    for step, overrides in steps.items():
        hups = daemon_log.read_text(errors='replace').count('SIGHUP received')
        result, done = changed_run(**overrides)
        assert done.count('reload') == 1, (step, done)
        assert ran_handlers(result, 'managed') == ['Check the live Exim configuration (certrelay.exim.client)',
                                                   'Reload the Exim service (certrelay.exim.client)'], (step, result.output[-3000:])
        assert ran_handlers(result, 'unmanaged') == [], step
        # the running daemon re-executed, so it reads the new files
        assert exim.wait_for(lambda hups=hups: daemon_log.read_text(errors='replace').count('SIGHUP received') > hups,
                             timeout=10), step
        assert exim.wait_listening(service['port'])

    # removal with a managed service: the daemon is stopped and disabled before its files go
    removal = run_playbook(remove_playbook(managed.root), None, '--limit', 'managed',
                           inventory=managed.root / 'inventory.json')
    assert_ok(removal)
    assert 'stop' in actions(service)
    assert not service['pid'].exists()
    assert not (managed.dir('managed') / 'etc' / 'client.conf').exists()
    assert not (managed.dir('managed') / 'etc' / 'tls').exists()


# --------------------------------------------------------------------------------------- remove


def test_queue_interval_is_set_for_the_distribution_service_without_networkmanager(
        pki, relays, workdir, service, tmp_path):
    """No dispatcher hook: the interval goes where the distribution's service reads it, and the
    service restarts (it reads the file at start only). The OS variables point that service and its
    file at the test's own, so the host's /etc/default/exim4 stays as it is."""
    os_vars = yaml.safe_load((REPO / 'roles' / 'client' / 'vars' / 'Debian.yml').read_text())
    queue_file = tmp_path / 'default-exim4'
    original = "QUEUERUNNER='combined'\nQUEUEINTERVAL='30m'\n"
    queue_file.write_text(original)
    os_vars.update(__exim_client_queue_file=str(queue_file))
    vars_file = tmp_path / 'os.yml'
    vars_file.write_text(yaml.safe_dump(os_vars))
    queued = Fleet(workdir, 'queued')
    queued.add('queued', relays['relay'][0], pki['relay'], pki['laptop'], directory=workdir / 'managed' / 'managed',
               exim_client_manage_service=True, exim_client_service_name=service['name'],
               exim_client_network_hook='absent', exim_client_queue_interval='2m')
    extra = {'__exim_client_os_file': str(vars_file)}
    # a service other than the distribution's (exim4 here) has settings of its own: the file stays
    assert_ok(queued.apply(extra_vars=extra))
    assert queue_file.read_text() == original
    os_vars.update(__exim_client_service=service['name'])
    vars_file.write_text(yaml.safe_dump(os_vars))
    before = len(actions(service))
    result = queued.apply(extra_vars=extra)
    assert_ok(result)
    assert queue_file.read_text() == "QUEUERUNNER='combined'\nQUEUEINTERVAL='2m'\n"
    done = actions(service)[before:]
    # ansible.builtin.service restarts a System V service as stop, then start
    assert done[-2:] == ['stop', 'start'] or done[-1:] == ['restart'], done
    assert any('restart' in name.lower() for name in ran_handlers(result, 'queued')), ran_handlers(result, 'queued')
    # nothing to do: no write, no restart
    before = len(actions(service))
    result = queued.apply(extra_vars=extra)
    assert_ok(result)
    assert result.recap('queued').get('changed') == 0, re.findall(r'TASK \[[^\]]*\][^\n]*\nchanged.*', result.output)
    assert not {'stop', 'restart', 'reload'} & set(actions(service)[before:])
    # a NetworkManager host gets the hook instead and its service keeps its own interval
    hooks = tmp_path / 'dispatcher.d'
    hooks.mkdir()
    queued.hosts['queued'].update(exim_client_network_hook='auto', exim_client_network_hook_directory=str(hooks),
                                  exim_client_queue_interval='7m')
    assert_ok(queued.apply(extra_vars=extra))
    assert (hooks / '90-certrelay-exim').is_file() and "QUEUEINTERVAL='2m'" in queue_file.read_text()


def task_status(output, task):
    """The first status line (ok/changed/skipping/failed) after the task's header."""
    match = re.search(r'TASK \[[^\]]*: ' + re.escape(task) + r'\][^\n]*\n(?:[^\n]*\n)*?(ok|changed|skipping|failed|fatal):',
                      output)
    return match.group(1) if match else None


def remove_playbook(directory):
    path = Path(directory) / 'remove-client.yml'
    path.write_text(
        '- name: Remove certrelay.exim.client\n'
        '  hosts: all\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - name: Remove what the client role deployed\n'
        '      ansible.builtin.include_role:\n'
        '        name: certrelay.exim.client\n'
        '        tasks_from: remove\n'
    )
    return path


def test_remove_entry_point_undoes_the_role_and_keeps_the_rest(pki, relays, workdir):
    gone = Fleet(workdir, 'remove')
    gone.add('given', relays['relay'][0], pki['relay'], pki['laptop'])
    gone.add('generated', relays['relay'][0], pki['relay'], exim_client_generate_certificate=True)
    assert_ok(gone.apply())
    # an unfinished rotation and a file of someone else's in the TLS directory
    tls_generated = gone.dir('generated') / 'etc' / 'tls'
    (tls_generated / 'client.key.next').write_text('next key')
    (tls_generated / 'client.crt.next').write_text('next cert')
    (tls_generated / 'not-ours.pem').write_text('kept')
    inventory = gone.root / 'inventory.json'

    snapshot = tree_snapshot(*(gone.dir(host) for host in gone.hosts))
    preview = run_playbook(remove_playbook(gone.root), None, check=True, inventory=inventory)
    assert_ok(preview)
    assert all(preview.recap(host).get('changed', 0) > 0 for host in gone.hosts)
    assert tree_snapshot(*(gone.dir(host) for host in gone.hosts)) == snapshot

    removed = run_playbook(remove_playbook(gone.root), None, inventory=inventory)
    assert_ok(removed)
    for host in gone.hosts:
        etc = gone.dir(host) / 'etc'
        assert not (etc / 'client.conf').exists(), host
        for name in ('smarthost.pem', 'client.crt', 'client.key', 'client.crt.next', 'client.key.next'):
            assert not (etc / 'tls' / name).exists(), (host, name)
        # spool (queued mail) and logs stay
        assert (gone.dir(host) / 'spool').is_dir() and (gone.dir(host) / 'log').is_dir(), host
    assert not (gone.dir('given') / 'etc' / 'tls').exists()
    assert (tls_generated / 'not-ours.pem').read_text() == 'kept'

    again = run_playbook(remove_playbook(gone.root), None, inventory=inventory)
    assert_ok(again)
    assert all(again.recap(host).get('changed') == 0 for host in gone.hosts), again.output[-3000:]


def test_remove_on_debian_layout_previews_local_delivery_without_the_smarthost(workdir):
    """Check mode only: the Debian layout lives in /etc/exim4, which the test must not change."""
    preview = Fleet(workdir, 'remove-debian')
    preview.hosts['debian'] = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                               'exim_client_manage_service': False}
    (preview.root / 'inventory.json').write_text(json.dumps({'all': {'hosts': preview.hosts}}))
    before = tree_snapshot(Path('/etc/exim4'))
    result = run_playbook(remove_playbook(preview.root), None, check=True, diff=True,
                          inventory=preview.root / 'inventory.json')
    assert_ok(result)
    # the Debian branch ran (the standalone one did not); what it would write, Debian's fresh
    # install may already have, so the diff alone cannot show it
    assert task_status(result.output, "Select Debian's local-only settings without the smarthost macros") in ('ok', 'changed'), result.output[-3000:]
    assert task_status(result.output, 'Remove the complete Exim configuration') == 'skipping'
    assert tree_snapshot(Path('/etc/exim4')) == before


# ------------------------------------------------------------------ the pin is the relay's own certificate

def test_pin_holding_a_ca_delivers_to_the_pinned_relay_only(pki, workdir):
    """A fullchain pin (relay certificate + its CA) with the hostname check off: the relay gets the
    message, an impostor holding another certificate of the same CA (another name, no SAN) gets
    nothing - the transport compares the relay's own fingerprint, not only the chain."""
    ca, relay_cred, impostor_cred = ca_and_issued()
    pin = bundle(relay_cred, ca)
    with ExitStack() as stack:
        relay = start_relay(stack, workdir / 'relays' / 'ca-relay', relay_cred, pki['laptop'].cert_pem)
        impostor = start_relay(stack, workdir / 'relays' / 'ca-impostor', impostor_cred, pki['laptop'].cert_pem)
        capin = Fleet(workdir, 'capin')
        for host, (port, _base) in (('to-relay', relay), ('to-impostor', impostor)):
            capin.add(host, port, relay_cred, pki['laptop'], exim_client_server_certificate=pin,
                      exim_client_verify_hostname=False)
        assert_ok(capin.apply())
        send(capin.dir('to-relay'), 'ca-pin-relay')
        assert delivered(relay[1], 'ca-pin-relay'), mainlog(capin.dir('to-relay'))
        assert re.search(rf'=> {RCPT} .*CV=yes', mainlog(capin.dir('to-relay')))
        case = capin.dir('to-impostor')
        config = send(case, 'ca-pin-impostor')
        assert 'the relay certificate is not one of the pinned ones' in mainlog(case), mainlog(case)
        assert exim.queue_count(config) == 1
        assert not delivered(impostor[1], 'ca-pin-impostor', timeout=1.0)
        assert not exim.file_has(impostor[1] / 'mail' / 'relayed', 'ca-pin-impostor')


# ------------------------------------------------------------------ directories and links someone else controls

NOBODY = 65534


def test_tls_directory_another_user_controls_is_refused_and_a_planted_key_link_never_followed(pki, relays, workdir):
    """A TLS directory below a directory of another user's, or a link into one, is refused with the
    host unchanged; a link planted at client.key (in a directory that is root's again) is replaced
    by the new key, and the file it pointed to stays as it was."""
    links = Fleet(workdir, 'links')
    mallory = workdir / 'mallory'
    (mallory / 'tls').mkdir(parents=True)
    (mallory / 'stolen.key').write_text('mallory reads whatever lands here\n')
    for path in (mallory, mallory / 'tls', mallory / 'stolen.key'):
        shutil.chown(path, NOBODY, NOBODY)
    # case/etc belongs to another user
    owned = links.dir('etc-of-another-user') / 'etc'
    owned.mkdir(parents=True)
    shutil.chown(owned, NOBODY, NOBODY)
    links.add('etc-of-another-user', relays['relay'][0], pki['relay'], exim_client_generate_certificate=True)
    # the TLS directory is a link into a directory of another user's
    linked = links.dir('tls-link') / 'etc'
    linked.mkdir(parents=True)
    (linked / 'tls').symlink_to(mallory / 'tls')
    links.add('tls-link', relays['relay'][0], pki['relay'], exim_client_generate_certificate=True)
    # a link planted at client.key while the directory was open, the directory root's again
    tls = links.dir('planted') / 'etc' / 'tls'
    tls.mkdir(parents=True)
    shutil.chown(tls, 'root', 'Debian-exim')
    tls.chmod(0o750)
    (tls / 'client.key').symlink_to(mallory / 'stolen.key')
    links.add('planted', relays['relay'][0], pki['relay'], exim_client_generate_certificate=True)

    refused = ('etc-of-another-user', 'tls-link')
    before = tree_snapshot(mallory, *(links.dir(host) for host in refused))
    result = links.apply()
    assert tree_snapshot(mallory, *(links.dir(host) for host in refused)) == before
    assert 'refusing %s/etc/tls: %s/etc belongs to nobody, not root' % (links.dir(refused[0]), links.dir(refused[0])) \
        in host_output(result, refused[0]), host_output(result, refused[0])
    assert 'belongs to nobody, not root' in host_output(result, 'tls-link'), host_output(result, 'tls-link')
    for host in refused:
        assert result.recap(host).get('failed') == 1 and result.recap(host).get('changed') == 0, host
    assert result.recap('planted').get('failed', 0) == 0, host_output(result, 'planted')
    key = tls / 'client.key'
    assert not key.is_symlink() and stat.S_IMODE(key.stat().st_mode) == 0o640
    assert 'BEGIN PRIVATE KEY' in key.read_text()
    assert (mallory / 'stolen.key').read_text() == 'mallory reads whatever lands here\n'
    public = serialization.load_pem_private_key(key.read_bytes(), None).public_key()
    certificate = x509.load_pem_x509_certificate((tls / 'client.crt').read_bytes())
    spki = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public.public_bytes(*spki) == certificate.public_key().public_bytes(*spki)
