"""The fleet playbooks (site, revoke, enroll, rotate) on one machine: a relay and two laptops as
three inventory hosts with the local connection, standalone layout, loopback ports, a real Exim
relay daemon and real Exim clients (`exim -odi`).

One fleet for the module; the tests run in file order and each continues from the state the
previous one left (site -> revoke -> site -> enroll -> rotate laptops -> rotate relay).
"""

import re
import shutil
from pathlib import Path

import pytest

from tests.lib import exim, pki
from tests.lib.ansible import tree_snapshot
from tests.lib.fleet import LAPTOPS, REFUSED, Fleet, MailLoop, assert_ok, first_runs, new_root, serving


@pytest.fixture(scope='module')
def fleet():
    root = new_root('certrelay-fleet-')
    fleet = Fleet(root)
    fleet.write_inventory()
    first_runs(fleet)
    with serving(fleet):
        yield fleet


# --------------------------------------------------------------------------------------- site


def test_check_mode_with_diff_on_a_fresh_fleet_writes_nothing(fleet):
    assert_ok(fleet.check_run)
    assert fleet.check_run_changed_nothing
    assert 'PRIVATE KEY' not in fleet.check_run.output
    # the diff previews the relay's configuration
    assert f'daemon_smtp_ports = {fleet.port}' in fleet.check_run.stdout


def test_site_enrols_every_laptop_in_the_same_run(fleet):
    enrolled = sorted(p.name for p in fleet.fleet_dir.glob('*.pem'))
    assert enrolled == ['laptop-a.pem', 'laptop-b.pem']
    for laptop in LAPTOPS:
        cert, key = fleet.laptop_cred(laptop)
        # the certificate the laptop generated is the one in the fleet directory and on the relay
        assert (fleet.fleet_dir / f'{laptop}.pem').read_text().strip() == cert.read_text().strip()
        assert (fleet.relay / 'etc' / 'state' / 'current' / 'trust' / f'{laptop}.pem').exists()
        assert fleet.fingerprint(cert) in fleet.first_run.stdout
        assert oct(key.stat().st_mode & 0o777) == '0o640'
    # the key never left the laptop: only certificates in the fleet directory
    assert 'PRIVATE KEY' not in ''.join(p.read_text() for p in fleet.fleet_dir.glob('*.pem'))


def test_mail_from_every_laptop_is_relayed_over_mutual_tls(fleet):
    for laptop in LAPTOPS:
        subject = fleet.send(laptop, 'site')
        assert fleet.relayed(subject), fleet.laptop_log(laptop)[-2000:]
        assert re.search(rf' certrelay: client {laptop} fingerprint {fleet.fingerprint(fleet.laptop_cred(laptop)[0])}$',
                         fleet.relay_log(), re.M)
        assert re.search(r'=> dest@external\.example\.org .*CV=yes DN="CN=relay\.example\.com"',
                         fleet.laptop_log(laptop))


def test_unknown_certificate_is_refused_with_its_fingerprint_logged(fleet, tmp_path):
    stranger = pki.client_cert('stranger')
    cert, key = stranger.write(tmp_path)
    result = exim.swaks(fleet.port, cert=cert, key=key)
    assert result.rcpt_reply == REFUSED, result.transcript
    assert exim.wait_for(lambda: stranger.fingerprint in fleet.relay_log())


def test_a_limit_without_the_relays_is_refused_before_any_change(fleet):
    before = tree_snapshot(fleet.root)
    result = fleet.play('site', '-l', 'laptop-a')
    assert result.returncode != 0
    assert 'leaves out the relay(s) relay1' in result.output
    assert tree_snapshot(fleet.root) == before


def test_a_damaged_fleet_file_is_named_before_any_change(fleet):
    bad = fleet.fleet_dir / 'laptop-z.pem'
    bad.write_text('-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n')
    try:
        before = tree_snapshot(fleet.root)
        result = fleet.play('site')
        assert result.returncode != 0
        assert 'laptop-z.pem is not a usable certificate' in result.output
        assert 'MIIB' not in result.output
        assert tree_snapshot(fleet.root) == before
    finally:
        bad.unlink()


# ------------------------------------------------------------------------------------- revoke


def test_revoke_of_an_unknown_laptop_is_refused_before_any_change(fleet):
    before = tree_snapshot(fleet.root)
    result = fleet.play('revoke', certrelay_revoke='laptop-typo')
    assert result.returncode != 0
    assert 'Unknown laptop(s): laptop-typo' in result.output
    assert tree_snapshot(fleet.root) == before


def test_revoke_removes_the_laptop_from_the_relay_at_once(fleet):
    # what a thief would keep: the laptop's certificate and key
    stolen = fleet.root / 'stolen'
    stolen.mkdir()
    fleet.stolen_b = tuple(Path(shutil.copy(path, stolen)) for path in fleet.laptop_cred('laptop-b'))
    fp_b = fleet.fingerprint(fleet.stolen_b[0])
    result = fleet.play('revoke', certrelay_revoke='laptop-b', certrelay_revoke_remove_client=True)
    assert_ok(result)
    assert not (fleet.fleet_dir / 'laptop-b.pem').exists()
    assert (fleet.fleet_dir / 'revoked' / 'laptop-b.pem').exists()
    assert not (fleet.relay / 'etc' / 'state' / 'current' / 'trust' / 'laptop-b.pem').exists()
    assert fp_b not in fleet.relay_allowlist()
    # certrelay_revoke_remove_client: the laptop's key and configuration are gone, laptop-a's are not
    assert not (fleet.laptop('laptop-b') / 'tls').exists()
    assert not (fleet.laptop('laptop-b') / 'exim.conf').exists()
    assert fleet.laptop_cred('laptop-a')[1].exists()
    # the running relay was reloaded by the playbook: laptop-b is refused now, laptop-a is not
    refused = fleet.swaks_as('laptop-b', 'revoked', fleet.stolen_b)
    assert refused.rcpt_reply == REFUSED, refused.transcript
    subject = fleet.send('laptop-a', 'after-revoke')
    assert fleet.relayed(subject)


def test_site_keeps_a_revoked_laptop_out_and_changes_nothing(fleet):
    before = tree_snapshot(fleet.fleet_dir, fleet.relay / 'etc', fleet.relay_config)
    result = fleet.play('site')
    assert_ok(result)
    for host in ('relay1', 'laptop-a', 'laptop-b'):
        assert result.recap(host).get('changed') == 0, result.output[-4000:]
    assert tree_snapshot(fleet.fleet_dir, fleet.relay / 'etc', fleet.relay_config) == before
    assert fleet.swaks_as('laptop-b', 'still-revoked', fleet.stolen_b).rcpt_reply == REFUSED
    assert not (fleet.laptop('laptop-b') / 'exim.conf').exists()


def test_enroll_brings_a_laptop_back_without_touching_the_others(fleet):
    laptop_a = tree_snapshot(fleet.laptop('laptop-a') / 'tls', fleet.laptop('laptop-a') / 'exim.conf')
    result = fleet.play('enroll', '-l', 'relays,laptop-b')
    assert_ok(result)
    assert (fleet.fleet_dir / 'laptop-b.pem').exists()
    assert not (fleet.fleet_dir / 'revoked' / 'laptop-b.pem').exists()
    assert result.recap('laptop-a') == {}
    assert tree_snapshot(fleet.laptop('laptop-a') / 'tls', fleet.laptop('laptop-a') / 'exim.conf') == laptop_a
    for laptop in LAPTOPS:
        subject = fleet.send(laptop, 'after-enroll')
        assert fleet.relayed(subject), fleet.laptop_log(laptop)[-2000:]
    # its old key was wiped at revocation: it came back with a new one, the stolen one stays out
    assert fleet.fingerprint(fleet.laptop_cred('laptop-b')[0]) != fleet.fingerprint(fleet.stolen_b[0])
    assert fleet.swaks_as('laptop-b', 'stolen', fleet.stolen_b).rcpt_reply == REFUSED


# ------------------------------------------------------------------------------------- rotate


def test_rotating_laptop_certificates_never_stops_mail(fleet):
    old = {laptop: fleet.fingerprint(fleet.laptop_cred(laptop)[0]) for laptop in LAPTOPS}
    with MailLoop(fleet, 'rotate-laptops') as loop:
        result = fleet.play('rotate', certrelay_rotate='laptops')
    assert_ok(result)
    loop.check()
    for laptop in LAPTOPS:
        cert = fleet.laptop_cred(laptop)[0]
        new = fleet.fingerprint(cert)
        assert new != old[laptop]
        assert not list((fleet.laptop(laptop) / 'tls').glob('*.next'))
        assert fleet.fingerprint(fleet.fleet_dir / f'{laptop}.pem') == new
        trusted = fleet.relay_allowlist()
        assert new in trusted and old[laptop] not in trusted
    assert sorted(p.name for p in fleet.fleet_dir.glob('*.pem')) == ['laptop-a.pem', 'laptop-b.pem']


def test_rotating_expiring_laptops_renews_exactly_those(fleet):
    # laptop-a's certificate ends in 5 days, laptop-b's in years, the relay's in 30
    short = pki.make_cert('laptop-a', 'laptop-a.example.com', kind='ec', days=5)
    cert, key = fleet.laptop_cred('laptop-a')
    cert.write_text(short.cert_pem)
    key.write_text(short.key_pem)
    # this run enrols it (the warnings come from the fleet directory as the run starts)
    assert_ok(fleet.play('site', certrelay_expiry_warn_days=10))
    assert short.fingerprint in fleet.relay_allowlist()
    other = fleet.fingerprint(fleet.laptop_cred('laptop-b')[0])
    result = fleet.play('rotate', certrelay_rotate='expiring', certrelay_expiry_warn_days=10)
    assert_ok(result)
    warnings = re.findall(r'the certificate of (laptop|relay) (\S+) expires', result.output)
    assert warnings == [('laptop', 'laptop-a')], result.output[-4000:]
    renewed = fleet.fingerprint(cert)
    assert renewed != short.fingerprint
    assert fleet.fingerprint(fleet.laptop_cred('laptop-b')[0]) == other
    trusted = fleet.relay_allowlist()
    assert renewed in trusted and other in trusted and short.fingerprint not in trusted
    for laptop in LAPTOPS:
        subject = fleet.send(laptop, 'after-expiring-rotation')
        assert fleet.relayed(subject), fleet.laptop_log(laptop)[-2000:]
    # nothing expires within the default window any more (the relay's 30 days aside)
    result = fleet.play('site', certrelay_expiry_warn_days=10)
    assert_ok(result)
    assert 'the certificate of laptop' not in result.output


def test_a_relay_certificate_without_the_relay_name_is_refused_before_any_change(fleet):
    wrong = pki.make_cert('relay-wrong', 'relay.example.com', dns=('relay.example.com',))
    fleet.write_inventory(certrelay_relay_next_certificate=wrong.cert_pem,
                          certrelay_relay_next_privatekey=wrong.key_pem)
    before = tree_snapshot(fleet.fleet_dir, fleet.relay / 'etc', *(fleet.laptop(name) for name in LAPTOPS))
    result = fleet.play('rotate', certrelay_rotate='relays')
    assert result.returncode != 0
    assert 'does not name 127.0.0.1' in result.output
    assert 'PRIVATE KEY' not in result.output
    assert tree_snapshot(fleet.fleet_dir, fleet.relay / 'etc', *(fleet.laptop(name) for name in LAPTOPS)) == before


def test_rotating_the_relay_certificate_never_stops_mail(fleet):
    new = pki.server_cert('relay-next')
    fleet.write_inventory(certrelay_relay_next_certificate=new.cert_pem,
                          certrelay_relay_next_privatekey=new.key_pem)
    with MailLoop(fleet, 'rotate-relay') as loop:
        result = fleet.play('rotate', certrelay_rotate='relays')
    assert_ok(result)
    loop.check()
    assert (fleet.relay / 'etc' / 'state' / 'current' / 'server.crt').read_text().strip() == new.cert_pem.strip()
    for laptop in LAPTOPS:
        pinned = (fleet.laptop(laptop) / 'tls' / 'smarthost.pem').read_text()
        assert pinned.strip() == new.cert_pem.strip()
        subject = fleet.send(laptop, 'after-relay-rotation')
        assert fleet.relayed(subject)
        assert re.search(r'CV=yes DN="CN=relay\.example\.com"', fleet.laptop_log(laptop))

    # the documented last step: the new pair becomes the inventory's, and site.yml agrees
    fleet.relay_cred = new
    fleet.relay_vars.pop('certrelay_relay_next_certificate')
    fleet.relay_vars.pop('certrelay_relay_next_privatekey')
    fleet.write_inventory()
    result = fleet.play('site')
    assert_ok(result)
    for host in ('relay1', *LAPTOPS):
        assert result.recap(host).get('changed') == 0, result.output[-4000:]
