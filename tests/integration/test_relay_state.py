"""The relay's trust state changes in one step: kills, concurrent runs, a full disk, planted files,
reloads under load and message bursts, with the server role, a real Exim and real SMTP clients.

Every relay here is standalone on loopback with a daemon the role does not manage: the role reloads
it through its pid file (exim_server_manage_service: false, exim_server_reload: true).
"""

import fcntl
import os
import random
import re
import smtplib
import ssl
import subprocess
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.integration.conftest import client_entry
from tests.lib import exim, pki
from tests.lib.ansible import role_playbook, start_playbook
from tests.lib.processes import kill_tree, running_module

ALLOWED = '250 Accepted'
REFUSED = '550 relay not permitted'
FINGERPRINT_LINE = re.compile(r'^([0-9A-F]{64}): (\S+)$')
MACRO_FINGERPRINT = re.compile(r'\b[0-9A-F]{64}\b')
HASH_LINK = re.compile(r'^[0-9a-f]{8}\.[0-9]+$')


@pytest.fixture(scope='module')
def fleet():
    """60 small client certificates (EC: quick to make) and three named ones."""
    return {
        'laptops': [pki.client_cert(f'c{i:02d}', kind='ec') for i in range(60)],
        'alice': pki.client_cert('alice', kind='ec'),
        'bob': pki.client_cert('bob', kind='ec'),
        'dave': pki.client_cert('dave', kind='ec'),
        'stranger': pki.client_cert('stranger', kind='ec'),
    }


def generation_state(relay) -> dict:
    """What the relay trusts now, checked for consistency: every invariant of one complete state."""
    current = relay.current
    assert current.is_symlink() and '/' not in os.readlink(current), 'current must be a relative link'
    generation = current.resolve()
    assert generation.parent == relay.state_dir.resolve() and generation.name.startswith('g-')
    trust = generation / 'trust'
    pems, links = {}, {}
    for entry in trust.iterdir():
        if entry.is_symlink():
            assert HASH_LINK.match(entry.name), f'unexpected link {entry}'
            links.setdefault(os.readlink(entry), []).append(entry.name)
        else:
            assert entry.name.endswith('.pem') and not entry.name.startswith('.'), f'stray file {entry}'
            pems[entry.name[:-4]] = pki_fingerprint(entry)
    if relay.variables().get('exim_server_rehash', 'auto') == 'auto':
        # this host's Exim is a GnuTLS build, which never looks at hash links: auto writes none
        assert links == {}, f'hash links for a GnuTLS build: {links}'
    else:
        assert set(links) == {f'{name}.pem' for name in pems}, 'every certificate has exactly its hash link'
    allowlist = {}
    for line in (generation / 'allowlist').read_text().splitlines():
        match = FINGERPRINT_LINE.match(line)
        if match:
            allowlist[match.group(2)] = match.group(1)
    assert allowlist == pems, 'the allowlist names exactly the trusted certificates'
    macros = (generation / 'allowlist.conf').read_text()
    if 'RELAY_FROM_CERTS_FILE' not in macros:
        assert set(MACRO_FINGERPRINT.findall(macros)) == set(pems.values())
    assert (generation / 'server.key').stat().st_mode & 0o777 == 0o640
    assert exim.check_config(relay.config).returncode == 0
    return pems


def pki_fingerprint(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def names(creds) -> set:
    return {c.name for c in creds}


def test_revocation_takes_effect_without_a_manual_reload(relay_server, fleet):
    """macro mode, a daemon no service manager runs: the role's own reload makes the revocation real."""
    relay = relay_server([fleet['alice'], fleet['bob']], allowlist='macro')
    assert relay.swaks(fleet['bob']).rcpt_reply == ALLOWED
    result = relay.apply([fleet['alice'], client_entry(fleet['bob'], 'absent')])
    assert result.returncode == 0, result.output
    assert exim.wait_for(lambda: 'SIGHUP received' in relay.log_text(), timeout=5), result.output
    assert exim.wait_listening(relay.port)
    assert relay.swaks(fleet['bob']).rcpt_reply == REFUSED
    assert relay.swaks(fleet['alice']).rcpt_reply == ALLOWED
    again = relay.apply()
    assert again.returncode == 0 and again.changed == 0, again.output


def test_a_burst_over_one_connection_is_delivered_at_once(relay_server, fleet, tmp_path):
    """20 messages in one SMTP session (a laptop back online): all delivered, none left queued."""
    relay = relay_server([fleet['alice']], allowlist='file')
    cert, key = fleet['alice'].write(tmp_path)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.load_cert_chain(cert, key)
    with smtplib.SMTP('127.0.0.1', relay.port, timeout=30) as session:
        session.starttls(context=context)
        for number in range(20):
            message = EmailMessage()
            message['From'], message['To'] = 'user@laptop.example.com', 'dest@external.example.org'
            message['Subject'] = f'burst-{number:02d}'
            message.set_content('offline mail')
            session.send_message(message)

    def subjects():
        text = relay.mailbox.read_text() if relay.mailbox.exists() else ''
        return re.findall(r'^Subject: (burst-\d\d)$', text, re.M)

    assert exim.wait_for(lambda: len(subjects()) == 20, timeout=20), relay.log_text()[-3000:]
    assert sorted(subjects()) == [f'burst-{n:02d}' for n in range(20)]  # each exactly once


def test_a_run_with_a_bad_new_entry_still_revokes(relay_server, fleet):
    relay = relay_server([fleet['alice'], fleet['bob']], allowlist='macro')
    assert relay.swaks(fleet['bob']).rcpt_reply == ALLOWED
    before = (relay.config.read_bytes(), (relay.current / 'server.crt').read_bytes())
    wanted = [fleet['alice'], client_entry(fleet['bob'], 'absent'), {'name': 'mallory', 'certificate': 'not a PEM'}]
    result = relay.apply(wanted)
    assert result.returncode != 0
    assert "client 'mallory' is unusable" in result.output, result.output
    assert generation_state(relay) == {'alice': fleet['alice'].fingerprint}
    assert (relay.config.read_bytes(), (relay.current / 'server.crt').read_bytes()) == before
    assert exim.wait_for(lambda: 'SIGHUP received' in relay.log_text(), timeout=5), result.output
    assert exim.wait_listening(relay.port)
    assert relay.swaks(fleet['bob']).rcpt_reply == REFUSED
    assert relay.swaks(fleet['alice']).rcpt_reply == ALLOWED


def test_planted_and_leftover_files_are_never_trusted(relay_server, fleet):
    relay = relay_server([fleet['alice']], allowlist='file')
    trust = relay.trust_dir
    # What an interrupted writer or someone else could leave where Exim (GnuTLS) loads every file.
    (trust / '.certrelay-abcd1234').write_text(fleet['stranger'].cert_pem)
    (trust / 'planted.pem').write_text(fleet['stranger'].cert_pem)
    (trust / 'bob.pem').symlink_to('/nonexistent/bob.pem')
    (relay.state_dir / '.build-0badc0de').mkdir()
    (relay.state_dir / 'g-20200101T000000-000000').mkdir()
    relay.reload()
    assert relay.swaks(fleet['stranger']).rcpt_reply == REFUSED  # not allowlisted, but trusted: fix it
    result = relay.apply()
    assert result.returncode == 0, result.output
    assert result.changed > 0
    assert 'did not put there' in result.output and 'planted.pem' in result.output
    assert generation_state(relay) == {'alice': fleet['alice'].fingerprint}
    assert sorted(p.name for p in relay.state_dir.iterdir()) == sorted(
        ['.lock', '.reloaded', 'current', relay.current.resolve().name])
    assert exim.wait_for(lambda: f'untrusted client certificate: {fleet["stranger"].fingerprint}'
                         in relay.log_text() or relay.swaks(fleet['stranger']).rcpt_reply == REFUSED)
    again = relay.apply()
    assert again.returncode == 0 and again.changed == 0, again.output


def test_a_second_run_waits_for_the_lock_and_names_the_holder(relay_server, fleet):
    relay = relay_server([fleet['alice']], allowlist='file', start=False)
    before = generation_state(relay)
    with open(relay.state_dir / '.lock', 'r+') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write('pid 4242 since 2026-12-01T00:00:00Z: another converge\n')
        handle.flush()
        started = time.monotonic()
        result = relay.apply([fleet['alice'], fleet['bob']], exim_server_lock_timeout=3)
        waited = time.monotonic() - started
    assert result.returncode != 0
    assert 'another converge' in result.output and 'did not release it within 3 s' in result.output
    assert waited >= 3
    assert generation_state(relay) == before


def test_concurrent_converges_apply_one_after_the_other(relay_server, fleet):
    relay = relay_server(fleet['laptops'][:10], allowlist='file', start=False)
    wanted = {'a': fleet['laptops'][10:40], 'b': fleet['laptops'][30:60]}
    results = {}

    def converge(label):
        results[label] = relay.apply(wanted[label])

    threads = [threading.Thread(target=converge, args=(label,)) for label in wanted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.returncode == 0 for r in results.values()), [r.output for r in results.values()]
    final = set(generation_state(relay))
    assert final in (names(wanted['a']), names(wanted['b']))
    last = 'a' if final == names(wanted['a']) else 'b'
    # the run that went second saw the first one's state: its report is relative to it
    other = 'b' if last == 'a' else 'a'
    assert results[last].changed > 0 and results[other].changed > 0


@pytest.fixture
def small_filesystem():
    root = Path(tempfile.mkdtemp(prefix='certrelay-full-'))
    root.chmod(0o755)
    mount = root / 'etc'
    mount.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=600k,mode=0755', 'certrelay-test', str(mount)], check=True)
    try:
        yield root
    finally:
        subprocess.run(['umount', '-l', str(mount)], check=False)
        subprocess.run(['rm', '-rf', str(root)], check=False)


def test_disk_full_still_revokes_and_names_the_file_and_filesystem(relay_server, fleet, small_filesystem):
    first, second = fleet['laptops'][:40], fleet['laptops'][40:60]
    relay = relay_server(first, allowlist='macro', root=small_filesystem)
    # leave room for about ten new certificate files
    stat = os.statvfs(relay.root / 'etc')
    filler = relay.root / 'etc' / 'filler'
    with open(filler, 'wb') as handle:
        handle.write(b'\0' * max(0, stat.f_bavail * stat.f_frsize - 10 * 4096))
    revoked = first[:20]
    wanted = [client_entry(c, 'absent') for c in revoked] + first[20:] + second
    result = relay.apply(wanted)
    assert result.returncode != 0
    assert 'no space left writing' in result.output and str(relay.root / 'etc') in result.output, result.output
    assert 'tmpfs' in result.output
    trusted = generation_state(relay)
    assert not set(trusted) & names(revoked), 'a revoked certificate stayed trusted'
    assert set(trusted) == names(first[20:])
    assert exim.wait_listening(relay.port)
    assert exim.wait_for(lambda: relay.swaks(revoked[0]).rcpt_reply == REFUSED, timeout=10)
    assert relay.swaks(first[25]).rcpt_reply == ALLOWED
    filler.unlink()
    done = relay.apply(wanted)
    assert done.returncode == 0, done.output
    assert set(generation_state(relay)) == names(first[20:] + second)


def run_and_kill(relay, wanted, delay, in_module):
    """Start a converge to `wanted`, kill its whole process tree at the chosen moment."""
    playbook = role_playbook(relay.root, 'server', gather_facts=relay.gather_facts)
    vars_file = relay.root / 'kill-vars.json'
    proc = start_playbook(playbook, relay.variables(wanted), vars_file)
    try:
        if in_module:
            assert exim.wait_for(lambda: running_module(proc.pid, 'relay_state') or proc.poll() is not None,
                                 timeout=60, interval=0.005)
        time.sleep(delay)
        if proc.poll() is None:
            kill_tree(proc.pid)
    finally:
        proc.wait(timeout=60)


def test_a_kill_at_any_moment_leaves_the_old_or_the_new_state(relay_server, fleet):
    """26 SIGKILLs of the whole ansible-playbook tree during converges that add and remove
    certificates; after each: one complete state, the next run converges, its re-run changes nothing."""
    sets = [fleet['laptops'][:40], fleet['laptops'][20:60]]
    # hash links whatever the build: a kill must never leave a certificate without its link either
    relay = relay_server(sets[0], allowlist='dbm', exim_server_rehash='openssl')
    relay.gather_facts = False
    rng = random.Random(20261201)
    # 11 kills anywhere in the run, 15 from the moment the relay_state module starts to half a second
    # later (the whole module at this size: a kill in its window is the one that can mix states)
    plan = [(rng.uniform(0.2, 4.0), False) for kill in range(11)] + [(0.035 * i, True) for i in range(15)]
    rng.shuffle(plan)
    for number, (delay, in_module) in enumerate(plan):
        old, new = sets[number % 2], sets[(number + 1) % 2]
        run_and_kill(relay, new, delay, in_module)
        state = set(generation_state(relay))
        assert state in (names(old), names(new)), f'kill {number} at {delay:.3f}s left a mixed state'
        done = relay.apply(new)
        assert done.returncode == 0, f'kill {number}: the next run failed:\n{done.output}'
        assert set(generation_state(relay)) == names(new)
        again = relay.apply(new)
        assert again.returncode == 0 and again.changed == 0, f'kill {number}: re-run changed:\n{again.output}'
    assert relay.swaks(sets[len(plan) % 2][-1]).rcpt_reply == ALLOWED


def test_reload_under_load_accepts_nobody_it_should_not(relay_server, fleet, tmp_path):
    alice, bob, dave, stranger = fleet['alice'], fleet['bob'], fleet['dave'], fleet['stranger']
    # macro mode: the allowlist is read at start and on a reload only, so only the role's reload
    # makes the revocation real
    relay = relay_server([alice, bob], allowlist='macro')
    outcomes, stop, lock = [], threading.Event(), threading.Lock()
    revoked_at = []

    def client(cred):
        number = 0
        while not stop.is_set() and number < 200:
            number += 1
            subject = f'load-{cred.name}-{number}'
            started = time.monotonic()
            result = exim.swaks(relay.port, cert=creds_files[cred.name][0], key=creds_files[cred.name][1],
                                subject=subject, timeout=10)
            with lock:
                outcomes.append((cred.name, started, subject, result.rcpt_reply))

    creds_files = {c.name: c.write(tmp_path / c.name) for c in (alice, bob, dave, stranger)}
    threads = [threading.Thread(target=client, args=(c,)) for c in (alice, bob, stranger)]
    for thread in threads:
        thread.start()
    try:
        enrol = relay.apply([alice, bob, dave])
        assert enrol.returncode == 0, enrol.output
        revoke = relay.apply([alice, dave, client_entry(bob, 'absent')])
        assert revoke.returncode == 0, revoke.output
        revoked_at.append(time.monotonic())
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    replies = [o[3] for o in outcomes]
    assert not [r for r in replies if r.startswith('4')], 'a 4xx reply under reload'
    assert not [o for o in outcomes if o[0] == 'stranger' and o[3] == ALLOWED]
    assert not [o for o in outcomes if o[0] == 'bob' and o[1] > revoked_at[0] and o[3] == ALLOWED]
    accepted = [o[2] for o in outcomes if o[3] == ALLOWED]
    assert len([o for o in outcomes if o[0] == 'alice' and o[3] == ALLOWED]) > 5
    assert exim.wait_for(lambda: all(exim.file_has(relay.mailbox, rf'^Subject: {s}$') for s in accepted), timeout=20)
    text = relay.mailbox.read_text()
    assert all(len(re.findall(rf'^Subject: {s}$', text, re.M)) == 1 for s in accepted), 'delivered twice'
