"""certrelay.exim.server on Exim built with OpenSSL (the TLS library of RHEL's Exim), real swaks.

The relay is the role in the standalone layout with the role's RedHat variable set (user and group
`exim`, RHEL's paths under a test root) and `exim_server_binary` naming the OpenSSL build
(scripts/build-exim-openssl.sh). OpenSSL finds a client certificate in the trust directory only
through a link named by its subject hash: these tests prove the links decide (no links, refused)
and that enrol, revoke and rotate keep them exact.
"""

import os
import re
import stat
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from tests.integration.conftest import client_entry
from tests.lib import exim, openssl, pki
from tests.lib.ansible import run_playbook

ALLOWED = '250 Accepted'
REFUSED = '550 relay not permitted'


@pytest.fixture(scope='module')
def creds():
    return {
        'alice': pki.client_cert('alice'),
        'bob': pki.client_cert('bob', kind='ec'),
        # two laptops with the same subject: one hash, links .0 and .1; with key identifiers, as
        # the client role generates them (without, OpenSSL verifies only the first of them)
        'twin-a': pki.make_cert('twin-a', 'twin.example.com', kind='ec', key_ids=True),
        'twin-b': pki.make_cert('twin-b', 'twin.example.com', kind='ec', key_ids=True),
        'twin-c': pki.make_cert('twin-c', 'twin.example.com', kind='ec', key_ids=True),
        'stranger': pki.client_cert('stranger', kind='ec'),
    }


def hash_links(trust: Path) -> dict:
    return {entry.name: os.readlink(entry) for entry in trust.iterdir() if entry.is_symlink()}


def assert_links_exact(relay):
    """Every link named by its target's current subject hash, one per certificate, numbers dense
    from 0 per hash, none dangling, and the generation's hashlinks manifest lists exactly them."""
    trust = relay.trust_dir
    pems = sorted(entry.name for entry in trust.iterdir() if not entry.is_symlink())
    links = hash_links(trust)
    assert sorted(links.values()) == pems, f'one link per certificate: {links} for {pems}'
    numbers = defaultdict(list)
    for name, target in links.items():
        assert '/' not in target and (trust / target).is_file(), f'dangling or foreign link {name} -> {target}'
        digest, number = name.split('.')
        assert digest == openssl.subject_hash(trust / target), f'{name} -> {target} is not named by its hash'
        numbers[digest].append(int(number))
    for digest, used in numbers.items():
        assert sorted(used) == list(range(len(used))), f'{digest}: numbers not dense: {sorted(used)}'
    manifest = (relay.current / 'hashlinks').read_text().splitlines()
    assert sorted(manifest) == sorted(f'{name} {target}' for name, target in links.items())
    return links


@pytest.fixture(scope='module')
def relay(relay_server, openssl_exim, creds):
    return relay_server([creds['alice'], creds['bob']], binary=openssl_exim, rhel=True, gather_facts=False)


def test_redhat_variable_set_on_the_openssl_build(relay):
    """RHEL's names: /etc/exim-like paths, user and group exim, the key readable by group exim."""
    assert relay.config == relay.root / 'etc' / 'exim' / 'exim.conf'
    text = relay.config.read_text()
    assert 'exim_user = exim\n' in text and 'exim_group = exim\n' in text
    key = relay.current / 'server.key'
    assert stat.S_IMODE(key.stat().st_mode) == 0o640 and (key.owner(), key.group()) == ('root', 'exim')
    for directory in ('spool', 'log'):
        path = relay.root / 'var' / directory / 'exim'
        assert (path.owner(), path.group()) == ('exim', 'exim'), path
    out = subprocess.run([relay.binary, '-C', str(relay.config), '-bV'], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r'^Support for:.* OpenSSL ', out.stdout, re.MULTILINE), out.stdout


def test_role_links_let_allowlisted_clients_relay(relay, creds):
    assert_links_exact(relay)
    for name in ('alice', 'bob'):
        result = relay.swaks(creds[name], subject=f'openssl-{name}')
        assert result.rcpt_reply == ALLOWED, result.transcript
    assert relay.swaks(creds['stranger']).rcpt_reply == REFUSED
    assert relay.swaks().rcpt_reply == REFUSED


def test_without_hash_links_a_client_in_the_trust_directory_is_refused(relay_server, openssl_exim, creds):
    """The same relay with rehash none: alice.pem sits in the trust directory, OpenSSL cannot find it."""
    bare = relay_server([creds['alice']], binary=openssl_exim, rhel=True, gather_facts=False,
                        exim_server_rehash='none')
    assert (bare.trust_dir / 'alice.pem').is_file() and not hash_links(bare.trust_dir)
    result = bare.swaks(creds['alice'])
    assert result.rcpt_reply == REFUSED, result.transcript
    assert re.search(r'SSL verify error: depth=0 error=self.signed certificate', bare.log_text()), bare.log_text()
    assert re.search(r'CV=no', bare.log_text())
    # the role's links: the same certificate relays
    applied = bare.apply(exim_server_rehash='auto')
    assert applied.returncode == 0 and applied.changed > 0, applied.output
    bare.extra_vars['exim_server_rehash'] = 'auto'
    assert_links_exact(bare)
    bare.reload()
    assert bare.swaks(creds['alice']).rcpt_reply == ALLOWED


def test_enrol_revoke_rotate_keep_links_exact(relay, creds):
    twins = [creds['twin-a'], creds['twin-b']]
    enrolled = relay.apply([creds['alice'], creds['bob'], *twins])
    assert enrolled.returncode == 0, enrolled.output
    links = assert_links_exact(relay)
    digest = openssl.subject_hash(relay.trust_dir / 'twin-a.pem')
    assert {links[f'{digest}.0'], links[f'{digest}.1']} == {'twin-a.pem', 'twin-b.pem'}
    relay.reload()
    for twin in twins:
        assert relay.swaks(twin).rcpt_reply == ALLOWED, twin.name

    # revoke the twin that holds .0: the survivor must move to .0, no .1 left behind
    holder = links[f'{digest}.0'][:-len('.pem')]
    survivor = creds['twin-b' if holder == 'twin-a' else 'twin-a']
    revoked = relay.apply([creds['alice'], creds['bob'], survivor, client_entry(creds[holder], 'absent')])
    assert revoked.returncode == 0 and revoked.changed > 0, revoked.output
    assert hash_links(relay.trust_dir) == {**{k: v for k, v in links.items() if not k.startswith(digest)},
                                           f'{digest}.0': f'{survivor.name}.pem'}
    assert_links_exact(relay)
    relay.reload()
    assert relay.swaks(creds[holder]).rcpt_reply == REFUSED
    assert relay.swaks(survivor).rcpt_reply == ALLOWED
    again = relay.apply()
    assert again.returncode == 0 and again.changed == 0, again.output

    # enrol a third laptop of that subject, then rotate the .0 holder to a new subject
    third = relay.apply([creds['alice'], creds['bob'], survivor, creds['twin-c']])
    assert third.returncode == 0, third.output
    links = assert_links_exact(relay)
    holder = links[f'{digest}.0'][:-len('.pem')]
    rotated = pki.make_cert(holder, f'{holder}-rotated.example.com', kind='ec', key_ids=True)
    others = [c for c in (survivor, creds['twin-c']) if c.name != holder]
    result = relay.apply([creds['alice'], creds['bob'], rotated, *others])
    assert result.returncode == 0 and result.changed > 0, result.output
    links = assert_links_exact(relay)
    assert links[f'{digest}.0'] == f'{others[0].name}.pem' and f'{digest}.1' not in links
    relay.reload()
    assert relay.swaks(rotated).rcpt_reply == ALLOWED
    assert relay.swaks(creds[holder]).rcpt_reply == REFUSED   # the certificate before the rotation
    again = relay.apply()
    assert again.returncode == 0 and again.changed == 0, again.output


def test_a_link_removed_by_hand_refuses_at_once_and_the_role_restores_it(relay, creds):
    """OpenSSL looks a link up per connection (no HUP needed); the role puts it back."""
    links = hash_links(relay.trust_dir)
    name = next(link for link, target in links.items() if target == 'alice.pem')
    (relay.trust_dir / name).unlink()
    assert relay.swaks(creds['alice']).rcpt_reply == REFUSED
    restored = relay.apply()
    assert restored.returncode == 0 and restored.changed > 0, restored.output
    assert_links_exact(relay)
    assert relay.swaks(creds['alice']).rcpt_reply == ALLOWED   # a new generation: no HUP either


def without_rehash_tools(directory: Path) -> str:
    """A PATH with every command of the host's but openssl and c_rehash (links to them)."""
    directory.mkdir()
    for bindir in ('/usr/local/bin', '/usr/bin', '/bin'):
        for entry in Path(bindir).iterdir():
            if entry.name not in ('openssl', 'c_rehash') and not (directory / entry.name).exists():
                (directory / entry.name).symlink_to(entry)
    return str(directory)


def test_rehash_auto_asks_the_binary_for_its_tls_library(openssl_exim, tmp_path):
    """Without openssl and c_rehash on PATH, auto fails for the OpenSSL build before anything
    changes, and passes without links (and without a warning) for Debian's GnuTLS build."""
    state = tmp_path / 'state'
    state.mkdir(mode=0o750)
    server = pki.server_cert()
    playbook = tmp_path / 'relay-state.yml'
    playbook.write_text(
        '- hosts: all\n  gather_facts: false\n  tasks:\n'
        '    - certrelay.exim.relay_state:\n'
        '        state_directory: "{{ state }}"\n        group: exim\n'
        '        server_certificate: "{{ crt }}"\n        server_privatekey: "{{ key }}"\n'
        '        certificates: [{name: alice, certificate: "{{ alice }}"}]\n'
        '        exim: "{{ binary }}"\n        validate: false\n'
        '      register: out\n'
        '    - ansible.builtin.debug: {msg: "tls_library={{ out.tls_library }}"}\n')
    variables = {'state': str(state), 'crt': server.cert_pem, 'key': server.key_pem,
                 'alice': pki.client_cert('alice').cert_pem}
    no_tools = {'PATH': without_rehash_tools(tmp_path / 'bin')}
    failed = run_playbook(playbook, {**variables, 'binary': openssl_exim}, env=no_tools)
    assert failed.returncode != 0
    assert 'is built with OpenSSL' in failed.output and 'nothing was changed' in failed.output, failed.output
    assert list(state.iterdir()) == []
    gnutls = run_playbook(playbook, {**variables, 'binary': exim.EXIM}, env=no_tools)
    assert gnutls.returncode == 0, gnutls.output
    assert 'tls_library=gnutls' in gnutls.output and '[WARNING]' not in gnutls.output, gnutls.output
    assert not hash_links(state / 'current' / 'trust')
    with_tools = run_playbook(playbook, {**variables, 'binary': openssl_exim, 'state': str(state)})
    assert with_tools.returncode == 0 and 'tls_library=openssl' in with_tools.output, with_tools.output
    assert len(hash_links(state / 'current' / 'trust')) == 1


def test_a_client_certificate_from_a_system_trusted_ca_never_relays(relay, creds):
    """The OpenSSL build verifies client certificates against the system CA store too (Exim's
    setup_certs adds OpenSSL's default verify paths to tls_verify_certificates): a certificate from
    a CA there verifies (CV=yes) and only the fingerprint allowlist keeps it from relaying. It has
    the subject of an enrolled laptop, as anyone can have a public CA issue."""
    ca = pki.make_cert('standin-ca', 'Stand-in Public Root CA', key_ids=True)
    public = pki.make_cert('public-alice', 'alice.example.com', issuer=ca, key_ids=True)
    untrusted = relay.swaks(public, subject='openssl-public-ca-untrusted')
    assert untrusted.rcpt_reply == REFUSED, untrusted.transcript
    assert f'untrusted client certificate: {public.fingerprint}' in relay.log_text()
    with openssl.system_trusted_ca(ca.cert_pem):
        trusted = relay.swaks(public, subject='openssl-public-ca-trusted')
        assert exim.wait_for(lambda: f'not in the allowlist: {public.fingerprint}' in relay.log_text()), \
            relay.log_text()[-2000:]
    assert trusted.rcpt_reply == REFUSED, trusted.transcript
    assert not exim.file_has(relay.mailbox, '^Subject: openssl-public-ca')
    assert relay.swaks(creds['alice']).rcpt_reply == ALLOWED
