"""The fleet playbooks in private-CA mode, on one machine (tests/lib/fleet.py): the CA made by
certrelay.exim.ca and vaulted, laptops that make their key and a request, certificates signed on
the controller, a real Exim relay that trusts the CA and the fleet CRL.

One fleet for the tests up to rotation (they run in file order, each continuing from the state
the previous one left: ca -> site -> enroll a second laptop -> revoke -> rotate -> CRL renewal);
the move from fingerprint mode to the CA has a fleet of its own.
"""

import datetime
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.lib import exim, pki
from tests.lib.ansible import REPO, ansible_env, tree_snapshot
from tests.lib.fleet import REFUSED, Fleet, MailLoop, assert_ok, first_runs, new_root, serving

VAULT_PASSWORD = 'certrelay-test-vault-password'


def vaulted(root: Path) -> dict:
    """ANSIBLE_VAULT_PASSWORD_FILE for every run of this fleet."""
    password = root / 'vault-password'
    if not password.exists():
        password.write_text(VAULT_PASSWORD + '\n')
        password.chmod(0o600)
    return {'ANSIBLE_VAULT_PASSWORD_FILE': str(password)}


def readme_group_vars(root: Path) -> None:
    """group_vars/all.yml beside the inventory, exactly as the README's CA-mode quick start writes it."""
    readme = (REPO / 'README.md').read_text()
    block = re.search(r"cat >> group_vars/all\.yml <<'EOF'\n(.*?)\nEOF\n", readme, re.S)
    assert block, 'the README quick start no longer writes group_vars/all.yml'
    (root / 'group_vars').mkdir(exist_ok=True)
    (root / 'group_vars' / 'all.yml').write_text(block.group(1) + '\n')


class CAFleet(Fleet):
    @property
    def ca_dir(self) -> Path:
        return self.root / 'ca'

    def play(self, name, *args, **kwargs):
        return super().play(name, *args, env=vaulted(self.root), **kwargs)

    def ca_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.ca_dir / 'ca.crt').read_bytes())

    def laptop_x509(self, laptop: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.laptop_cred(laptop)[0].read_bytes())

    def crl(self) -> x509.CertificateRevocationList:
        return x509.load_pem_x509_crl((self.fleet_dir / 'crl.pem').read_bytes())

    def crl_number(self) -> int:
        return self.crl().extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    def allowlisted(self) -> list[str]:
        """The fingerprints the relay lists one by one (the allowlist without its comment)."""
        return [line.split(':')[0] for line in self.relay_allowlist().splitlines() if line and not line.startswith('#')]

    def relay_files(self):
        return tree_snapshot(self.relay / 'etc', self.relay_config)

    def issued(self, laptop: str) -> list[int]:
        """The serials recorded in the fleet directory as signed for laptop."""
        record = self.fleet_dir / 'issued' / f'{laptop}.serials'
        return [int(line.split()[0], 16) for line in record.read_text().splitlines()] if record.exists() else []

    def revokes(self, serial: int) -> bool:
        return self.crl().get_revoked_certificate_by_serial_number(serial) is not None

    def keep_copy(self, laptop: str, name: str) -> tuple[Path, Path]:
        """A copy of the laptop's certificate and key, as a hostile owner would keep them."""
        copy = self.root / name
        copy.mkdir()
        return tuple(Path(shutil.copy(path, copy)) for path in self.laptop_cred(laptop))

    def ca_sign(self, cert: x509.Certificate, days: int = 30) -> x509.Certificate:
        """A certificate for cert's key and name, signed with the fleet CA key outside the playbooks."""
        key = serialization.load_pem_private_key(self.ca_key_after_first, None)
        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(self.ca_cert().subject)
                .public_key(cert.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(key, hashes.SHA256()))


def certificates_in(text: str) -> list[x509.Certificate]:
    """Every PEM certificate in text (output lines may carry escaped newlines)."""
    found = []
    for block in re.findall(r'-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?\n-----END CERTIFICATE-----',
                            text.replace('\\n', '\n')):
        try:
            found.append(x509.load_pem_x509_certificate(block.encode()))
        except ValueError:   # a fragment of a longer text, not a certificate
            continue
    return found


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:
        return False
    return cert.issuer == ca.subject


def make_ca(root: Path):
    result = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(root / 'inventory.yml'),
                             str(REPO / 'playbooks' / 'ca.yml')],
                            capture_output=True, text=True, env=ansible_env(), check=False, timeout=300)
    return result


@pytest.fixture(scope='module')
def fleet():
    root = new_root('certrelay-fleet-ca-')
    fleet = CAFleet(root, laptops=('laptop-a',))
    fleet.write_inventory()
    # certrelay.exim.ca beside the inventory, run twice; then the key is vaulted as it says
    fleet.ca_runs = [make_ca(root), None]
    fleet.ca_key_after_first = (fleet.ca_dir / 'ca.key').read_bytes() if (fleet.ca_dir / 'ca.key').exists() else None
    fleet.ca_key_mode = stat.S_IMODE((fleet.ca_dir / 'ca.key').stat().st_mode) if fleet.ca_key_after_first else None
    fleet.ca_runs[1] = make_ca(root)
    assert fleet.ca_runs[0].returncode == 0, fleet.ca_runs[0].stdout + fleet.ca_runs[0].stderr
    subprocess.run([str(Path(sys.executable).parent / 'ansible-vault'), 'encrypt', str(fleet.ca_dir / 'ca.key')],
                   env=ansible_env(**vaulted(root)), check=True, capture_output=True, timeout=120)
    readme_group_vars(root)
    first_runs(fleet)
    with serving(fleet):
        yield fleet


# ----------------------------------------------------------------------------------------- CA


def test_the_ca_playbook_writes_the_key_once_mode_0600_and_says_how_to_vault_it(fleet):
    first, second = fleet.ca_runs
    assert fleet.ca_key_mode == 0o600
    assert b'PRIVATE KEY' in fleet.ca_key_after_first
    assert f'ansible-vault encrypt {fleet.ca_dir}/ca.key' in first.stdout
    assert 'PRIVATE KEY' not in first.stdout + first.stderr
    # the second run found both files and wrote nothing (the vaulting came after it)
    assert second.returncode == 0 and 'changed=0' in second.stdout
    assert 'exists already' in second.stdout
    ca = fleet.ca_cert()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (fleet.ca_dir / 'ca.key').read_text().startswith('$ANSIBLE_VAULT')


def test_the_ca_playbook_refuses_to_replace_a_ca_whose_key_is_missing(fleet, tmp_path):
    (tmp_path / 'ca').mkdir()
    shutil.copy(fleet.ca_dir / 'ca.crt', tmp_path / 'ca' / 'ca.crt')
    (tmp_path / 'inventory.yml').write_text('all: {}\n')
    result = make_ca(tmp_path)
    assert result.returncode != 0
    assert 'exists without' in result.stdout
    assert sorted(p.name for p in (tmp_path / 'ca').iterdir()) == ['ca.crt']


# --------------------------------------------------------------------------------------- site


def test_check_mode_with_diff_on_a_fresh_ca_fleet_writes_nothing(fleet):
    assert_ok(fleet.check_run)
    assert fleet.check_run_changed_nothing
    assert 'PRIVATE KEY' not in fleet.check_run.output
    assert 'crl.pem' in fleet.check_run.stdout


def test_site_signs_the_laptop_key_made_on_the_laptop(fleet):
    cert = fleet.laptop_x509('laptop-a')
    assert issued_by(cert, fleet.ca_cert())
    # the name the fleet directory knows it by, not the laptop's own fqdn (laptop-a.example.com)
    assert cert.subject.rfc4514_string() == 'CN=laptop-a'
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ['laptop-a']
    # recorded on the controller as signed
    assert fleet.issued('laptop-a') == [cert.serial_number]
    # the recorded certificate is the one on the laptop; no key in the fleet directory or output
    assert (fleet.fleet_dir / 'laptop-a.pem').read_text().strip() == fleet.laptop_cred('laptop-a')[0].read_text().strip()
    assert 'PRIVATE KEY' not in ''.join(p.read_text() for p in fleet.fleet_dir.rglob('*.pem'))
    assert 'PRIVATE KEY' not in fleet.first_run.output
    assert oct(fleet.laptop_cred('laptop-a')[1].stat().st_mode & 0o777) == '0o640'
    # the relay trusts the CA and the CRL, and no laptop one by one
    assert fleet.crl_number() == 1
    assert fleet.allowlisted() == []


def test_a_ca_signed_laptop_relays(fleet):
    subject = fleet.send('laptop-a', 'ca-site')
    assert fleet.relayed(subject), fleet.laptop_log('laptop-a')[-2000:]
    result = fleet.swaks_as('laptop-a', 'ca-swaks')
    assert result.rcpt_reply.startswith('250'), result.transcript


def test_a_certificate_of_another_ca_is_refused(fleet, tmp_path):
    other = pki.make_cert('other-ca', 'Other CA', ca=True, days=365)
    stranger = pki.make_cert('stranger', 'stranger.example.com', issuer=other)
    cert, key = stranger.write(tmp_path)
    assert exim.swaks(fleet.port, cert=cert, key=key).rcpt_reply == REFUSED


def test_a_second_run_changes_nothing(fleet):
    before = tree_snapshot(fleet.root / 'fleet', fleet.relay / 'etc', fleet.relay_config, fleet.laptop('laptop-a') / 'tls')
    result = fleet.play('site')
    assert_ok(result)
    for host in ('relay1', 'laptop-a'):
        assert result.recap(host).get('changed') == 0, result.output[-4000:]
    assert tree_snapshot(fleet.root / 'fleet', fleet.relay / 'etc', fleet.relay_config,
                         fleet.laptop('laptop-a') / 'tls') == before


def test_check_mode_signs_nothing_even_when_a_certificate_is_due(fleet):
    # renew forces a signature: in check mode it is only reported, no certificate leaves the CA
    before = tree_snapshot(fleet.root)
    known = {fleet.laptop_x509('laptop-a').serial_number, fleet.ca_cert().serial_number}
    result = fleet.play('site', '-v', check=True, diff=True, exim_client_signed_renew=True)
    assert_ok(result)
    assert 'would sign a certificate for laptop-a' in result.output, result.output[-4000:]
    signed = [cert.serial_number for cert in certificates_in(result.output)
              if issued_by(cert, fleet.ca_cert()) and cert.serial_number not in known]
    assert signed == [], 'check mode signed a certificate'
    assert tree_snapshot(fleet.root) == before
    assert fleet.issued('laptop-a') == [fleet.laptop_x509('laptop-a').serial_number]


def key_lines(pem: bytes) -> list[str]:
    """The base64 lines of a PEM key: none of them may reach any output."""
    return [line for line in pem.decode().splitlines() if line and not line.startswith('-----')]


def test_no_key_reaches_the_output_at_any_verbosity(fleet):
    # a new laptop key, a request and a signature in the same run, at -vvv
    old = fleet.keep_copy('laptop-a', 'before-new-key')
    old_serial = fleet.laptop_x509('laptop-a').serial_number
    shutil.rmtree(fleet.laptop('laptop-a') / 'tls')
    result = fleet.play('site', '-vvv')
    assert_ok(result)
    # an EC key's PEM ends with its public key, which the (public) certificate holds as well
    public = (fleet.ca_dir / 'ca.crt').read_text() + fleet.laptop_cred('laptop-a')[0].read_text()
    secrets = [line for line in key_lines(fleet.ca_key_after_first) + key_lines(fleet.laptop_cred('laptop-a')[1].read_bytes())
               if line not in public.replace('\n', '')]
    assert len(secrets) >= 4
    leaked = [result.output[max(0, result.output.index(line) - 1500):result.output.index(line) + 200]
              for line in secrets if line in result.output]
    assert leaked == [] and 'PRIVATE KEY-----' not in result.output, leaked[:1]
    assert issued_by(fleet.laptop_x509('laptop-a'), fleet.ca_cert())
    subject = fleet.send('laptop-a', 'after-new-key')
    assert fleet.relayed(subject), fleet.laptop_log('laptop-a')[-2000:]
    # the certificate it replaced is revoked, and refused by the relay
    assert fleet.issued('laptop-a') == [old_serial, fleet.laptop_x509('laptop-a').serial_number]
    assert fleet.revokes(old_serial)
    assert fleet.swaks_as('laptop-a', 'replaced', old).rcpt_reply == REFUSED


def test_a_certificate_signed_but_never_recorded_is_revoked_by_the_next_run(fleet):
    # as when a run dies between signing (recorded in issued/) and the laptop reporting it
    current = fleet.laptop_x509('laptop-a')
    lost = fleet.ca_sign(current)
    record = fleet.fleet_dir / 'issued' / 'laptop-a.serials'
    end = lost.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')
    record.write_text(record.read_text() + f'{lost.serial_number:X} {end}\n')
    lost_pair = fleet.root / 'lost'
    lost_pair.mkdir()
    (lost_pair / 'client.crt').write_bytes(lost.public_bytes(serialization.Encoding.PEM))
    shutil.copy(fleet.laptop_cred('laptop-a')[1], lost_pair / 'client.key')
    pair = (lost_pair / 'client.crt', lost_pair / 'client.key')
    assert fleet.swaks_as('laptop-a', 'lost-before', pair).rcpt_reply.startswith('250')
    assert_ok(fleet.play('site'))
    assert fleet.revokes(lost.serial_number) and not fleet.revokes(current.serial_number)
    assert fleet.swaks_as('laptop-a', 'lost-after', pair).rcpt_reply == REFUSED
    assert fleet.swaks_as('laptop-a', 'current').rcpt_reply.startswith('250')


# ------------------------------------------------------------------------------------- enroll


def test_enrolling_a_second_laptop_changes_no_relay_file(fleet):
    fleet.laptops = ('laptop-a', 'laptop-b')
    fleet.write_inventory()
    relay_before = fleet.relay_files()
    result = fleet.play('enroll', '-l', 'relays,laptop-b')
    assert_ok(result)
    assert result.recap('relay1').get('changed') == 0, result.output[-4000:]
    assert fleet.relay_files() == relay_before
    assert issued_by(fleet.laptop_x509('laptop-b'), fleet.ca_cert())
    assert (fleet.fleet_dir / 'laptop-b.pem').exists()
    subject = fleet.send('laptop-b', 'ca-enrolled')
    assert fleet.relayed(subject), fleet.laptop_log('laptop-b')[-2000:]


# ----------------------------------------------------------------------------- bad CA inputs


@pytest.mark.parametrize('case', ['not-a-ca', 'wrong-key', 'wrong-passphrase', 'encrypted-no-passphrase'])
def test_a_bad_ca_is_refused_before_anything_changes(fleet, case):
    ca = fleet.ca_cert().public_bytes(serialization.Encoding.PEM).decode()
    other = pki.make_cert('other-ca', 'Other CA', ca=True, days=365)
    leaf = pki.client_cert('leaf')
    encrypted = other.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(b'right')).decode()
    overrides, expected = {
        'not-a-ca': ({'certrelay_ca_certificate': leaf.cert_pem, 'certrelay_ca_privatekey': leaf.key_pem},
                     'certrelay_ca_certificate (CN=leaf.example.com) is not a CA certificate'),
        'wrong-key': ({'certrelay_ca_certificate': ca, 'certrelay_ca_privatekey': other.key_pem},
                      'certrelay_ca_privatekey does not belong to certrelay_ca_certificate'),
        'wrong-passphrase': ({'certrelay_ca_certificate': other.cert_pem, 'certrelay_ca_privatekey': encrypted,
                              'certrelay_ca_passphrase': 'wrong'},
                             'certrelay_ca_passphrase does not open certrelay_ca_privatekey'),
        'encrypted-no-passphrase': ({'certrelay_ca_certificate': other.cert_pem, 'certrelay_ca_privatekey': encrypted},
                                    'certrelay_ca_privatekey is encrypted: set certrelay_ca_passphrase'),
    }[case]
    before = tree_snapshot(fleet.root)
    result = fleet.play('site', **overrides)
    assert result.returncode != 0
    assert expected in result.output, result.output[-3000:]
    assert 'PRIVATE KEY' not in result.output and 'wrong' not in result.output.replace('wrong passphrase', '')
    assert tree_snapshot(fleet.root) == before


# ------------------------------------------------------------------------------------- revoke


def test_revoke_lists_the_serial_in_the_crl_and_the_relay_refuses_the_laptop(fleet):
    stolen = fleet.root / 'stolen'
    stolen.mkdir()
    fleet.stolen_b = tuple(Path(shutil.copy(path, stolen)) for path in fleet.laptop_cred('laptop-b'))
    serial = fleet.laptop_x509('laptop-b').serial_number
    number = fleet.crl_number()
    assert fleet.swaks_as('laptop-b', 'before-revoke', fleet.stolen_b).rcpt_reply.startswith('250')
    result = fleet.play('revoke', certrelay_revoke='laptop-b')
    assert_ok(result)
    assert fleet.crl_number() == number + 1
    assert fleet.crl().get_revoked_certificate_by_serial_number(serial) is not None
    assert (fleet.fleet_dir / 'revoked' / 'laptop-b.pem').exists()
    # the relay has the new CRL and was reloaded: the laptop is refused, the other one is not
    assert (fleet.fleet_dir / 'crl.pem').read_text().strip() in ''.join(
        p.read_text() for p in (fleet.relay / 'etc').rglob('*') if p.is_file() and 'X509 CRL' in p.read_text(errors='replace'))
    refused = fleet.swaks_as('laptop-b', 'revoked', fleet.stolen_b)
    assert refused.rcpt_reply == REFUSED, refused.transcript
    subject = fleet.send('laptop-a', 'after-revoke')
    assert fleet.relayed(subject)
    # a second revoke changes nothing
    again = fleet.play('revoke', certrelay_revoke='laptop-b')
    assert_ok(again)
    assert again.recap('relay1').get('changed') == 0, again.output[-3000:]


# ------------------------------------------------------------------------------------- rotate


def test_rotate_re_signs_and_the_new_certificate_relays(fleet):
    old = fleet.laptop_x509('laptop-a')
    old_pair = fleet.keep_copy('laptop-a', 'before-rotate')
    number = fleet.crl_number()
    with MailLoop(fleet, 'ca-rotate', laptops=('laptop-a',)) as loop:
        result = fleet.play('rotate', '-l', 'relays,laptop-a', certrelay_rotate='laptops')
    assert_ok(result)
    loop.check()
    new = fleet.laptop_x509('laptop-a')
    assert new.serial_number != old.serial_number and new.public_key() != old.public_key()
    assert issued_by(new, fleet.ca_cert())
    assert fleet.fleet_dir.joinpath('laptop-a.pem').read_text().strip() == fleet.laptop_cred('laptop-a')[0].read_text().strip()
    result = fleet.swaks_as('laptop-a', 'after-rotate')
    assert result.rcpt_reply.startswith('250'), result.transcript
    # the old certificate is revoked once the new one is in place: the relays get the new CRL
    assert old.serial_number in fleet.issued('laptop-a') and fleet.issued('laptop-a')[-1] == new.serial_number
    assert fleet.revokes(old.serial_number) and not fleet.revokes(new.serial_number)
    assert fleet.crl_number() > number
    refused = fleet.swaks_as('laptop-a', 'old-after-rotate', old_pair)
    assert refused.rcpt_reply == REFUSED, refused.transcript


# ---------------------------------------------------------------------------------------- CRL


def aged_crl(fleet: CAFleet, days_left: int) -> str:
    """The fleet CRL as the CA would have issued it 90 - days_left days ago (same number and serials)."""
    key = serialization.load_pem_private_key(fleet.ca_key_after_first, None)
    now = datetime.datetime.now(datetime.UTC)
    current = fleet.crl()
    builder = (x509.CertificateRevocationListBuilder().issuer_name(current.issuer)
               .last_update(now - datetime.timedelta(days=90 - days_left))
               .next_update(now + datetime.timedelta(days=days_left))
               .add_extension(x509.CRLNumber(fleet.crl_number()), critical=False))
    for revoked in current:
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_any_run_renews_the_crl_within_the_window(fleet):
    # outside the window (the default: the last 30 of 90 days): unchanged
    number = fleet.crl_number()
    result = fleet.play('site')
    assert_ok(result)
    assert fleet.crl_number() == number
    # 60 days on: 31 days left, still unchanged; 29 left: re-issued by any run, and on the relays
    (fleet.fleet_dir / 'crl.pem').write_text(aged_crl(fleet, 31))
    assert_ok(fleet.play('site'))
    assert fleet.crl_number() == number
    (fleet.fleet_dir / 'crl.pem').write_text(aged_crl(fleet, 29))
    relay_before = fleet.relay_files()
    result = fleet.play('site')
    assert_ok(result)
    assert fleet.crl_number() == number + 1
    assert fleet.crl().next_update_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=89)
    revoked_b = x509.load_pem_x509_certificate(fleet.stolen_b[0].read_bytes()).serial_number
    assert fleet.crl().get_revoked_certificate_by_serial_number(revoked_b) is not None
    assert fleet.relay_files() != relay_before
    relay_crls = [p.read_text() for p in (fleet.relay / 'etc').rglob('*')
                  if p.is_file() and 'X509 CRL' in p.read_text(errors='replace')]
    assert (fleet.fleet_dir / 'crl.pem').read_text().strip() in ''.join(relay_crls)
    assert fleet.swaks_as('laptop-b', 'still-revoked', fleet.stolen_b).rcpt_reply == REFUSED
    assert fleet.swaks_as('laptop-a', 'after-renewal').rcpt_reply.startswith('250')


def test_enroll_brings_a_revoked_laptop_back_with_a_new_certificate(fleet):
    old = x509.load_pem_x509_certificate(fleet.stolen_b[0].read_bytes())
    relay_before = fleet.relay_files()
    result = fleet.play('enroll', '-l', 'relays,laptop-b')
    assert_ok(result)
    new = fleet.laptop_x509('laptop-b')
    assert new.serial_number != old.serial_number and issued_by(new, fleet.ca_cert())
    assert not (fleet.fleet_dir / 'revoked' / 'laptop-b.pem').exists()
    # the old serial stays on the CRL: the copy of the old certificate is still refused
    assert fleet.crl().get_revoked_certificate_by_serial_number(old.serial_number) is not None
    assert fleet.relay_files() == relay_before
    assert fleet.swaks_as('laptop-b', 'stolen', fleet.stolen_b).rcpt_reply == REFUSED
    subject = fleet.send('laptop-b', 'back')
    assert fleet.relayed(subject), fleet.laptop_log('laptop-b')[-2000:]


# ---------------------------------------------------------------------------------- migration


@pytest.fixture
def fingerprint_fleet():
    root = new_root('certrelay-fleet-move-')
    fleet = CAFleet(root)
    fleet.write_inventory()
    assert_ok(fleet.play('site'))
    with serving(fleet):
        yield fleet


def test_moving_a_fingerprint_fleet_to_the_ca_refuses_no_message(fingerprint_fleet):
    fleet = fingerprint_fleet
    keys = {laptop: fleet.laptop_cred(laptop)[1].read_bytes() for laptop in fleet.laptops}
    old = {laptop: fleet.fingerprint(fleet.laptop_cred(laptop)[0]) for laptop in fleet.laptops}
    assert sorted(fleet.allowlisted()) == sorted(old.values())
    assert make_ca(fleet.root).returncode == 0
    readme_group_vars(fleet.root)
    with MailLoop(fleet, 'move-to-ca') as loop:
        result = fleet.play('site')
    assert_ok(result)
    loop.check()
    for laptop in fleet.laptops:
        # same key, now with a CA-signed certificate; the relay no longer lists the old one
        assert fleet.laptop_cred(laptop)[1].read_bytes() == keys[laptop]
        assert issued_by(fleet.laptop_x509(laptop), fleet.ca_cert())
        assert old[laptop] not in fleet.allowlisted()
        subject = fleet.send(laptop, 'moved')
        assert fleet.relayed(subject)
    assert fleet.allowlisted() == []
    again = fleet.play('site')
    assert_ok(again)
    for host in ('relay1', *fleet.laptops):
        assert again.recap(host).get('changed') == 0, again.output[-4000:]
