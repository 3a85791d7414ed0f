"""The fleet CA on the controller: checks with worded errors, signing requests, the CRL."""

import datetime
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.certrelay.exim.plugins.plugin_utils import fleet_ca
from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import Authority, AuthorityError
from tests.lib.pki import client_cert, make_cert

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope='module')
def ca():
    certificate, key = fleet_ca.create('Fleet CA')
    return Authority.load(certificate, key)


def pem_key(key, password=None):
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def request(key=None, common_name='asked-for', extra=()):
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    for extension in extra:
        builder = builder.add_extension(extension, critical=True)
    return key, builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


# --------------------------------------------------------------------------------- checks


def test_a_new_ca_is_a_ca_and_its_key_loads(ca):
    assert fleet_ca.ca_problem(ca.certificate) is None
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert ca.pem.startswith('-----BEGIN CERTIFICATE-----') and 'PRIVATE' not in ca.pem


def test_a_leaf_certificate_is_not_a_ca():
    leaf = client_cert('leaf')
    with pytest.raises(AuthorityError, match=r'^certrelay_ca_certificate \(CN=leaf.example.com\) is not a CA '
                                             r'certificate \(it lacks keyCertSign, cRLSign\)$'):
        Authority.load(leaf.cert_pem, leaf.key_pem)


def test_an_expired_ca_is_refused():
    old = make_cert('old-ca', 'Old CA', ca=True, expired=True)
    with pytest.raises(AuthorityError, match='expired on'):
        Authority.load(old.cert_pem, pem_key(old.key))


def test_a_key_of_another_ca_is_refused(ca):
    other = make_cert('other', 'Other CA', ca=True)
    with pytest.raises(AuthorityError, match='^certrelay_ca_privatekey does not belong to certrelay_ca_certificate '
                                             r'\(CN=Fleet CA\)$'):
        Authority.load(ca.pem, pem_key(other.key))


def test_an_encrypted_key_needs_its_passphrase_and_the_message_quotes_neither():
    other = make_cert('other', 'Other CA', ca=True)
    encrypted = pem_key(other.key, b'right-passphrase')
    assert Authority.load(other.cert_pem, encrypted, 'right-passphrase').key is not None
    with pytest.raises(AuthorityError, match='^certrelay_ca_privatekey is encrypted: set certrelay_ca_passphrase$'):
        Authority.load(other.cert_pem, encrypted)
    with pytest.raises(AuthorityError) as wrong:
        Authority.load(other.cert_pem, encrypted, 'wrong-passphrase')
    assert str(wrong.value).startswith('certrelay_ca_passphrase does not open certrelay_ca_privatekey')
    assert 'wrong-passphrase' not in str(wrong.value)
    with pytest.raises(AuthorityError, match='is not encrypted, but certrelay_ca_passphrase is set'):
        Authority.load(other.cert_pem, pem_key(other.key), 'spare')


def test_garbage_as_the_key_is_never_quoted(ca):
    with pytest.raises(AuthorityError) as error:
        Authority.load(ca.pem, '-----BEGIN PRIVATE KEY-----\nS3cr3t\n-----END PRIVATE KEY-----\n')
    assert 'S3cr3t' not in str(error.value) and 'details hidden' in str(error.value)


def test_load_authority_reads_the_variables_by_name(ca):
    values = {'c': ca.pem, 'k': pem_key(ca.key), 'p': ''}
    assert fleet_ca.load_authority(values.get, ('c', 'k', 'p')).pem == ca.pem
    assert fleet_ca.load_authority({}.get, ('c', 'k', 'p'), required=False) is None
    with pytest.raises(AuthorityError, match='^k is empty'):
        fleet_ca.load_authority({'c': ca.pem}.get, ('c', 'k', 'p'))


# -------------------------------------------------------------------------------- signing


def test_a_signed_request_is_a_client_certificate_of_the_fleet(ca):
    key, csr = request(extra=[x509.BasicConstraints(ca=True, path_length=None)])
    cert = x509.load_pem_x509_certificate(ca.sign(csr, 'laptop-7.example.com', days=30).encode())
    # the fleet decides subject and usage: the request's CN and CA:TRUE are ignored
    assert cert.subject.rfc4514_string() == 'CN=laptop-7.example.com'
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ['laptop-7.example.com']
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert ca.issued(cert)
    assert datetime.timedelta(days=29) < cert.not_valid_after_utc - NOW <= datetime.timedelta(days=30, minutes=1)


def test_openssl_verifies_a_signed_certificate_as_a_tls_client(ca, tmp_path):
    dummy, csr = request()
    (tmp_path / 'ca.pem').write_text(ca.pem)
    (tmp_path / 'cert.pem').write_text(ca.sign(csr, 'laptop.example.com'))
    result = subprocess.run(['openssl', 'verify', '-CAfile', str(tmp_path / 'ca.pem'), '-purpose', 'sslclient',
                             str(tmp_path / 'cert.pem')], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_a_certificate_never_outlives_the_ca():
    short = make_cert('short-ca', 'Short CA', ca=True, days=10)
    authority = Authority.load(short.cert_pem, pem_key(short.key))
    dummy, csr = request()
    cert = x509.load_pem_x509_certificate(authority.sign(csr, 'x').encode())
    assert cert.not_valid_after_utc <= short.cert.not_valid_after_utc


def test_a_request_with_a_bad_signature_or_no_request_is_refused(ca):
    dummy, csr = request()
    other_key, other = request()
    forged = x509.load_pem_x509_csr(csr.encode())
    with pytest.raises(AuthorityError, match='not a PEM certificate request'):
        ca.sign('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', 'x')
    assert forged.is_signature_valid
    # a request whose signature does not match: its body of one and signature of another
    der = bytearray(forged.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(AuthorityError, match='not signed by its own key'):
        ca.sign(tampered, 'x')


def test_issued_tells_the_ca_s_certificates_from_others(ca):
    dummy, csr = request()
    mine = x509.load_pem_x509_certificate(ca.sign(csr, 'a').encode())
    other_ca = make_cert('other', 'Fleet CA', ca=True)   # same subject, another key
    theirs = make_cert('x', 'x', issuer=other_ca).cert
    assert ca.issued(mine)
    assert not ca.issued(theirs)
    assert not ca.issued(client_cert('self').cert)
    assert not ca.issued(ca.certificate)


# ------------------------------------------------------------------------------------ CRL


def test_the_first_crl_is_number_one_and_lists_nothing(ca):
    text, reason = ca.plan_crl(None, [])
    crl = x509.load_pem_x509_crl(text.encode())
    assert reason == 'new CRL'
    assert crl.is_signature_valid(ca.certificate.public_key())
    assert ca.read_crl(text)[0] == 1 and len(crl) == 0
    assert crl.next_update_utc - NOW > datetime.timedelta(days=fleet_ca.CRL_DAYS - 1)


def test_a_revocation_adds_the_serial_and_increments_the_number(ca):
    first, dummy = ca.plan_crl(None, [11])
    second, reason = ca.plan_crl(first, [11, 12])
    number, dummy, revoked = ca.read_crl(second)
    assert number == 2 and sorted(revoked) == [11, 12]
    assert reason == 'revokes serial(s) C'
    # the first revocation keeps its date
    assert revoked[11] == ca.read_crl(first)[2][11]


def test_a_current_crl_with_every_serial_stays_as_it_is(ca):
    text, dummy = ca.plan_crl(None, [11])
    assert ca.plan_crl(text + '\n', [11]) == (text, None)


def test_a_crl_is_renewed_within_the_window_before_its_next_update(ca):
    text, dummy = ca.plan_crl(None, [11], days=90)
    later = NOW + datetime.timedelta(days=59)
    assert ca.plan_crl(text, [11], days=90, renew_days=30, now=later)[1] is None
    renewed, reason = ca.plan_crl(text, [11], days=90, renew_days=30, now=NOW + datetime.timedelta(days=61))
    assert reason.startswith('renewed (nextUpdate ')
    number, next_update, revoked = ca.read_crl(renewed)
    assert number == 2 and list(revoked) == [11]
    assert next_update > NOW + datetime.timedelta(days=150)
    # past its nextUpdate already: renewed too
    assert ca.plan_crl(text, [11], now=NOW + datetime.timedelta(days=100))[1].startswith('renewed')


def test_a_crl_of_another_ca_or_garbage_is_refused(ca):
    other_cert, other_key = fleet_ca.create('Other CA')
    other = Authority.load(other_cert, other_key)
    theirs, dummy = other.plan_crl(None, [])
    with pytest.raises(AuthorityError, match='was not issued by the fleet CA'):
        ca.plan_crl(theirs, [])
    with pytest.raises(AuthorityError, match='is not a PEM CRL'):
        ca.plan_crl('garbage', [])


def test_issued_serials_picks_the_ca_s_certificates(ca):
    dummy, csr = request()
    mine = ca.sign(csr, 'a')
    serials = fleet_ca.issued_serials(ca, {'a': mine, 'b': client_cert('b').cert_pem, 'c': 'garbage'})
    assert serials == {'a': x509.load_pem_x509_certificate(mine.encode()).serial_number}


def test_a_laptop_name_must_be_a_client_name_of_at_most_64_characters():
    assert fleet_ca.name_problem('laptop-7') is None and fleet_ca.name_problem('a' * 64) is None
    assert 'at most 64' in fleet_ca.name_problem('a' * 65)
    assert 'is not a laptop name' in fleet_ca.name_problem('laptop 7')
    assert 'is not a laptop name' in fleet_ca.name_problem('.hidden')


def test_a_name_too_long_for_a_certificate_is_a_worded_error():
    authority = Authority.load(*fleet_ca.create('Fleet CA'))
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'x')])).sign(key, hashes.SHA256())
    request = csr.public_bytes(serialization.Encoding.PEM).decode()
    # cryptography's own ValueError for a long common name never escapes: a worded AuthorityError
    with pytest.raises(AuthorityError, match='at most 64'):
        authority.sign(request, 'l' * 65)
