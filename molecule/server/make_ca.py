"""The scenario's private CA on the controller: ca.crt, dave (issued), erin (issued, revoked in
crl.pem). Written once; cryptography from the controller's venv."""

import datetime
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certificate(subject, key, issuer, issuer_key, ca):
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(minutes=5)).not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def main(directory):
    directory = Path(directory)
    if (directory / 'crl.pem').exists():
        return
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate('Molecule Fleet CA', ca_key, 'Molecule Fleet CA', ca_key, True)
    (directory / 'ca.crt').write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    revoked = []
    for laptop in ('dave', 'erin'):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = certificate(f'{laptop}.example.com', key, 'Molecule Fleet CA', ca_key, False)
        (directory / f'{laptop}.crt').write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f'{laptop}.key').write_bytes(pem_key(key))
        (directory / f'{laptop}.key').chmod(0o600)
        if laptop == 'erin':
            revoked.append(x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                           .revocation_date(NOW - datetime.timedelta(hours=1)).build())
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
               .last_update(NOW - datetime.timedelta(hours=1)).next_update(NOW + datetime.timedelta(days=7))
               .add_extension(x509.CRLNumber(1), critical=False))
    for item in revoked:
        builder = builder.add_revoked_certificate(item)
    (directory / 'crl.pem').write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


if __name__ == '__main__':
    main(sys.argv[1])
