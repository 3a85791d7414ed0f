"""Test certificates made at test time with cryptography (never committed)."""

import datetime
import ipaddress
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID


@dataclass
class Credential:
    name: str
    cert: x509.Certificate
    key: object

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def fingerprint(self) -> str:
        """Independent of the collection: Exim's form, SHA-256 over DER, upper hex."""
        return self.cert.fingerprint(hashes.SHA256()).hex().upper()

    def write(self, directory: Path, mode: int = 0o640) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        crt, key = directory / f'{self.name}.crt', directory / f'{self.name}.key'
        crt.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        key.chmod(mode)
        return crt, key


def new_key(kind: str = 'rsa', bits: int = 2048):
    if kind == 'rsa':
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == 'ec':
        return ec.generate_private_key(ec.SECP256R1())
    if kind == 'ed25519':
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def make_cert(
    name: str,
    common_name: str | None = None,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    kind: str = 'rsa',
    days: int = 30,
    expired: bool = False,
    issuer: 'Credential | None' = None,
    key_ids: bool = False,
    bits: int = 2048,
    digest: str = 'sha256',
    future: bool = False,
    ca: bool = False,
    intermediate: bool = False,
) -> Credential:
    """A self-signed certificate, or one signed by issuer.

    key_ids: subject and authority key identifiers, as `openssl req -x509` (and so the client
    role's generated certificates) adds them. bits (RSA key size) and digest (signature hash) make
    weak certificates; future one valid from tomorrow; ca a CA certificate (key usage
    keyCertSign) that signs others; intermediate an issued certificate that says CA:TRUE without
    any key usage (a CA all the same: the TLS libraries let it sign).
    """
    key = new_key(kind, bits)
    now = datetime.datetime.now(datetime.UTC)
    start, end = (now - datetime.timedelta(days=60), now - datetime.timedelta(days=1)) if expired else (
        now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days))
    if future:
        start = now + datetime.timedelta(days=1)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer is None or intermediate:
        # as `openssl req -x509` does; a self-signed leaf is its own trust anchor
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if key_ids:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            (issuer.key if issuer else key).public_key()), critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    signing_key = issuer.key if issuer else key
    if digest != 'sha256':
        return Credential(name, _openssl_self_signed(key, common_name or name, digest, days), key)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Credential(name, builder.sign(signing_key, algorithm), key)


def _openssl_self_signed(key, common_name, digest, days):
    """A self-signed certificate with a weak signature hash: cryptography refuses to make one."""
    with tempfile.TemporaryDirectory() as tmp:
        key_file, cert_file = Path(tmp) / 'key.pem', Path(tmp) / 'cert.pem'
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        subprocess.run(['openssl', 'req', '-x509', '-new', '-key', str(key_file), '-%s' % digest,
                        '-subj', '/CN=%s' % common_name, '-days', str(days), '-out', str(cert_file)],
                       check=True, capture_output=True)
        return x509.load_pem_x509_certificate(cert_file.read_bytes())


def server_cert(name: str = 'relay', host: str = 'relay.example.com', **kw) -> Credential:
    """A relay certificate valid for host, localhost and 127.0.0.1."""
    return make_cert(name, host, dns=(host, 'localhost'), ips=('127.0.0.1',), **kw)


def client_cert(name: str, kind: str = 'rsa', **kw) -> Credential:
    return make_cert(name, f'{name}.example.com', kind=kind, **kw)


def ca_cert(name: str = 'fleet-ca', common_name: str | None = None, **kw) -> Credential:
    """A CA certificate (CA:TRUE, keyCertSign and cRLSign, key identifiers) for issue_cert and make_crl."""
    return make_cert(name, common_name or name, key_ids=True, ca=True, **kw)


def issue_cert(name: str, ca: Credential, kind: str = 'ec', **kw) -> Credential:
    """A client certificate issued by ca, with key identifiers."""
    return make_cert(name, f'{name}.example.com', kind=kind, issuer=ca, key_ids=True, **kw)


def make_crl(ca: Credential, revoked=(), next_update_days: float = 7, number: int = 1,
             signer: Credential | None = None) -> str:
    """A PEM CRL of ca revoking revoked (credentials or serial numbers); next_update_days < 0 makes one
    past its nextUpdate; signer signs it instead of ca (a CRL that is not ca's)."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(now - datetime.timedelta(days=max(1, -next_update_days + 1)))
               .next_update(now + datetime.timedelta(days=next_update_days))
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   (signer or ca).key.public_key()), critical=False))
    for item in revoked:
        serial = item if isinstance(item, int) else item.cert.serial_number
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(now - datetime.timedelta(hours=1)).build())
    return builder.sign((signer or ca).key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
