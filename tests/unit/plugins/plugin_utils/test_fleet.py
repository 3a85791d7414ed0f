"""The fleet directory model: one read, changes planned in memory, atomic writes."""

import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.certrelay.exim.plugins.plugin_utils import fleet as fleet_utils
from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import CertificateError
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet import Fleet, apply
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import Authority, create
from tests.lib.pki import client_cert

KEY = '-----BEGIN PRIVATE KEY-----\nS3cr3tK3y\n-----END PRIVATE KEY-----\n'


@pytest.fixture(scope='module')
def certs():
    return {name: client_cert(name, kind='ec') for name in ('ann', 'bob', 'cid', 'ann-next')}


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def directory(tmp_path, certs):
    root = tmp_path / 'fleet'
    write(root / 'ann.pem', certs['ann'].cert_pem)
    write(root / 'ann.next.pem', certs['ann-next'].cert_pem)
    write(root / 'bob.pem', certs['bob'].cert_pem)
    write(root / 'revoked' / 'cid.pem', certs['cid'].cert_pem)
    write(root / 'notes.txt', 'not a certificate, not read')
    write(root / '.certrelay-leftover', KEY)
    return root


def test_read_sorts_the_directory_into_enrolled_announced_and_revoked(directory, certs):
    fleet = Fleet.read(str(directory))
    assert sorted(fleet.enrolled) == ['ann', 'bob']
    assert fleet.announced == {'ann': certs['ann-next'].cert_pem.strip()}
    assert sorted(fleet.revoked) == ['cid']
    assert fleet.problems == []
    assert fleet.fingerprints == {'ann': certs['ann'].fingerprint, 'ann.next': certs['ann-next'].fingerprint,
                                  'bob': certs['bob'].fingerprint}
    assert [entry['name'] for entry in fleet.trusted()] == ['ann', 'ann.next', 'bob']
    assert fleet.authority is None


def test_a_missing_directory_is_an_empty_fleet(tmp_path):
    fleet = Fleet.read(str(tmp_path / 'nothing'))
    assert fleet.trusted() == [] and fleet.problems == []


def test_every_unusable_file_is_named_with_its_reason_and_never_quoted(directory):
    write(directory / 'zed.pem', KEY)
    write(directory / 'yan.next.pem', 'garbage')
    problems = Fleet.read(str(directory)).problems
    assert len(problems) == 2
    assert problems[0].startswith(f'{directory}/yan.next.pem is not a usable certificate: ')
    assert problems[1].startswith(f'{directory}/zed.pem is not a usable certificate: it holds a private key')
    assert problems[1].endswith('Replace it, or remove it to stop trusting it.')
    assert 'S3cr3tK3y' not in ''.join(problems)


def test_known_names_cover_inventory_enrolled_announced_and_revoked(directory):
    assert Fleet.read(str(directory)).known(['dan']) == ['ann', 'bob', 'cid', 'dan']


def test_data_round_trip_keeps_the_model(directory):
    fleet = Fleet.read(str(directory))
    again = Fleet.from_data(fleet.to_data())
    assert again.to_data() == fleet.to_data()


def test_recording_an_unchanged_certificate_plans_nothing(directory, certs):
    fleet = Fleet.read(str(directory))
    new, ops = fleet.plan(record={'bob': certs['bob'].cert_pem + '\n\n'})
    assert ops == []
    assert new.to_data() == fleet.to_data()


def test_recording_the_announced_certificate_ends_the_announcement(directory, certs):
    new, ops = Fleet.read(str(directory)).plan(record={'ann': certs['ann-next'].cert_pem})
    assert [(op.path, op.after is None) for op in ops] == [
        (f'{directory}/ann.pem', False), (f'{directory}/ann.next.pem', True)]
    assert new.announced == {}
    assert new.fingerprints['ann'] == certs['ann-next'].fingerprint and 'ann.next' not in new.fingerprints


def test_a_revoked_laptop_is_recorded_only_when_reenrolled(directory, certs):
    fleet = Fleet.read(str(directory))
    assert fleet.plan(record={'cid': certs['cid'].cert_pem})[1] == []
    new, ops = fleet.plan(record={'cid': certs['cid'].cert_pem}, reenrol=True)
    assert 'cid' in new.enrolled and 'cid' not in new.revoked
    assert [op.path for op in ops] == [f'{directory}/cid.pem', f'{directory}/revoked/cid.pem']


def test_revoking_keeps_the_certificate_under_revoked_before_removing_it(directory, certs):
    new, ops = Fleet.read(str(directory)).plan(revoke=['ann'], record={'ann': certs['ann'].cert_pem})
    assert [(op.path, op.after is None) for op in ops] == [
        (f'{directory}/revoked/ann.pem', False), (f'{directory}/ann.pem', True), (f'{directory}/ann.next.pem', True)]
    assert [entry['name'] for entry in new.trusted()] == ['bob']
    assert sorted(new.fingerprints) == ['bob']


def test_an_announcement_equal_to_the_current_certificate_is_ignored(directory, certs):
    fleet = Fleet.read(str(directory))
    assert fleet.plan(announce={'bob': certs['bob'].cert_pem})[1] == []
    new, ops = fleet.plan(announce={'bob': certs['cid'].cert_pem})
    assert [op.path for op in ops] == [f'{directory}/bob.next.pem']
    assert new.fingerprints['bob.next'] == certs['cid'].fingerprint


def test_a_laptop_certificate_that_does_not_parse_is_refused_by_name(directory):
    with pytest.raises(CertificateError, match='^dan: the certificate of dan holds a private key'):
        Fleet.read(str(directory)).plan(record={'dan': KEY})


def test_apply_writes_each_file_atomically_and_removes(directory, certs, monkeypatch):
    fleet = Fleet.read(str(directory))
    new, ops = fleet.plan(revoke=['ann'], record={'dan': certs['cid'].cert_pem})
    renames = []
    real_rename = os.rename
    monkeypatch.setattr(fleet_utils.os, 'rename', lambda src, dst: (renames.append((src, dst)), real_rename(src, dst)))
    apply(ops)
    # a temporary file beside the target, then a rename onto it
    assert [os.path.dirname(src) == os.path.dirname(dst) for src, dst in renames] == [True, True]
    assert all(os.path.basename(src).startswith('.certrelay-') for src, _dst in renames)
    assert Fleet.read(str(directory)).to_data() == new.to_data()
    assert oct((directory / 'dan.pem').stat().st_mode & 0o777) == '0o644'
    assert not [p for p in directory.rglob('.certrelay-*') if p.name != '.certrelay-leftover']


def test_a_failed_write_leaves_the_old_file_and_no_temporary(directory, certs, monkeypatch):
    before = (directory / 'bob.pem').read_text()
    _new, ops = Fleet.read(str(directory)).plan(record={'bob': certs['cid'].cert_pem})

    def broken(_src, _dst):
        raise OSError('disk full')

    monkeypatch.setattr(fleet_utils.os, 'rename', broken)
    with pytest.raises(OSError):
        apply(ops)
    assert (directory / 'bob.pem').read_text() == before
    assert not [p for p in directory.rglob('.certrelay-*') if p.name != '.certrelay-leftover']


def test_diff_shows_certificates_before_and_after(directory, certs):
    _new, ops = Fleet.read(str(directory)).plan(revoke=['bob'])
    diffs = [op.diff() for op in ops]
    assert diffs[0]['before'] == '' and diffs[0]['after'].strip() == certs['bob'].cert_pem.strip()
    assert diffs[1]['after'] == '' and diffs[1]['after_header'].endswith('(absent)')


def test_no_content_of_an_unusable_file_is_carried_on(directory):
    write(directory / 'zed.pem', KEY)
    write(directory / 'revoked' / 'old.pem', KEY)
    fleet = Fleet.read(str(directory))
    assert 'zed' not in fleet.enrolled and fleet.revoked['old'] == ''
    assert 'S3cr3tK3y' not in str(fleet.to_data())


# ------------------------------------------------------------------------------ private-CA mode


@pytest.fixture(scope='module')
def authority():
    return Authority.load(*create('Fleet CA'))


def signed(authority, name):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, hashes.SHA256())
    return authority.sign(csr.public_bytes(serialization.Encoding.PEM).decode(), name)


def serial(pem):
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def test_the_crl_is_not_a_laptop_and_ca_issued_certificates_are_not_trusted_one_by_one(directory, authority):
    mine = signed(authority, 'dan')
    write(directory / 'dan.pem', mine + '\n')
    crl, dummy = authority.plan_crl(None, [])
    write(directory / 'crl.pem', crl + '\n')
    fleet = Fleet.read(str(directory), authority)
    assert 'crl' not in fleet.enrolled and fleet.problems == []
    assert fleet.crl == crl
    assert fleet.issued == {'dan'}
    # the others (a fleet moving to the CA) stay on the relays' list; dan is trusted through the CA
    assert [entry['name'] for entry in fleet.trusted()] == ['ann', 'ann.next', 'bob']
    assert fleet.authority == {'certificate': authority.pem, 'crl': None}
    # without the CA, the CRL is still no laptop, and every certificate is trusted one by one
    plain = Fleet.read(str(directory))
    assert 'crl' not in plain.enrolled and 'dan' in [entry['name'] for entry in plain.trusted()]


def test_revoking_a_ca_issued_laptop_lists_its_serial_and_writes_the_crl(directory, authority):
    mine = signed(authority, 'dan')
    write(directory / 'dan.pem', mine)
    write(directory / 'revoked' / 'eve.pem', signed(authority, 'eve'))
    fleet = Fleet.read(str(directory), authority)
    serials = fleet.serials_to_revoke(['dan', 'bob'])
    # eve (revoked before) and dan; bob is self-signed, revoked by leaving the relays' list
    assert serials == sorted([serial(mine), serial(fleet.revoked['eve'])])
    crl, dummy = authority.plan_crl(fleet.crl, serials)
    fleet.authority['crl'] = crl
    new, ops = Fleet.from_data(fleet.to_data()).plan(revoke=['dan'])
    assert 'dan' in new.revoked and 'revoked/dan' in new.issued and 'dan' not in new.issued
    assert [op.path for op in ops][-1] == str(directory / 'crl.pem')
    apply(ops)
    assert (directory / 'crl.pem').read_text() == crl + '\n'
    # planned again from the data of before: every file is as planned already
    dummy, again = Fleet.from_data(fleet.to_data()).plan(revoke=['dan'])
    assert again and fleet_utils.pending(again) == []


def test_a_laptop_recorded_with_a_ca_certificate_leaves_the_relays_list(directory, authority):
    fleet = Fleet.read(str(directory), authority)
    mine = signed(authority, 'bob')
    new, ops = Fleet.from_data(fleet.to_data()).plan(record={'bob': mine})
    assert new.enrolled['bob'] == mine.strip() and 'bob' in new.issued
    assert [entry['name'] for entry in new.trusted()] == ['ann', 'ann.next']
    assert [op.path for op in ops] == [str(directory / 'bob.pem')]


def test_the_relays_get_no_empty_crl_while_laptops_are_listed_one_by_one(directory, authority):
    fleet = Fleet.read(str(directory), authority)
    empty, dummy = authority.plan_crl(None, [])
    fleet.authority['crl'] = empty
    # ann and bob are self-signed: an OpenSSL-built relay would refuse them with any CRL
    assert fleet.trusted() and fleet.to_data()['relay_crl'] == ''
    revoking, dummy = authority.plan_crl(None, [12345])
    fleet.authority['crl'] = revoking
    assert fleet.to_data()['relay_crl'] == revoking
    moved = Fleet.read(str(directory / 'nothing'), authority)
    moved.authority['crl'] = empty
    assert moved.to_data()['relay_crl'] == empty
    assert Fleet.read(str(directory)).to_data()['relay_crl'] == ''
