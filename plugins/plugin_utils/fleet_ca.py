# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's private CA on the controller (cryptography): load and check it, sign laptop
certificate requests, issue the fleet CRL, create a new CA.

The CA key only ever exists here, in memory, on the controller. No message quotes a key, a
passphrase or any input text: only variable names, subjects, dates and serials.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.certrelay.exim.plugins.module_utils.entries import NAME
from ansible_collections.certrelay.exim.plugins.plugin_utils.ca_validation import signs_certificates
from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    key_matches_certificate,
    load_certificate,
    not_after_utc,
    require_cryptography,
)

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - require_cryptography() words it
    pass

# Laptop certificates: a year, renewed by certrelay.exim.rotate (-e certrelay_rotate=expiring).
CERTIFICATE_DAYS = 365
# The CRL: valid 90 days, re-issued by any fleet run in its last 30, so that a fleet run at least
# every two months keeps it current (an OpenSSL-built relay may refuse every client with a stale one).
CRL_DAYS = 90
CRL_RENEW_DAYS = 30
CA_DAYS = 3650
# The longest common name X.509 allows (ub-common-name).
NAME_MAX = 64
# The fleet CA variables, read by name on the controller (never task arguments).
AUTHORITY_VARS = ('certrelay_ca_certificate', 'certrelay_ca_privatekey', 'certrelay_ca_passphrase')
# A certificate is valid from a little before it is made: clocks of laptops drift.
BACKDATE = datetime.timedelta(minutes=5)


class AuthorityError(ValueError):
    """A CA, key, request or CRL that cannot be used; the message names the input, never quotes it."""


def _now(now=None):
    return now or datetime.datetime.now(datetime.timezone.utc)


def _digest(key):
    """The signature hash for key (Ed25519/Ed448 sign without one)."""
    return None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()


def ca_problem(cert, now=None):
    """Why cert cannot be a fleet CA (None when it can): CA:TRUE and keyCertSign (what the relays
    require of a client CA) and cRLSign (the fleet CRL), valid now."""
    is_ca, signs = signs_certificates(cert)
    try:
        crls = cert.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign
    except x509.ExtensionNotFound:
        crls = False
    missing = [name for name, present in (('CA:TRUE', is_ca), ('keyCertSign', signs), ('cRLSign', crls))
               if not present]
    if missing:
        return 'is not a CA certificate (it lacks %s)' % ', '.join(missing)
    end = not_after_utc(cert)
    if end <= _now(now):
        return 'expired on %s' % end.strftime('%Y-%m-%dT%H:%M:%SZ')
    return None


def name_problem(name):
    """Why name cannot be the name of a signed laptop certificate (None when it can): the client-name
    pattern of the relays' logs and lists, at most NAME_MAX characters (X.509's limit)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return '%r is not a laptop name (letters, digits and . _ @ -, not starting with a dot)' % (name,)
    if len(name) > NAME_MAX:
        return '%s is %d characters long: a certificate name has at most %d' % (name, len(name), NAME_MAX)
    return None


def _load_key(text, passphrase, key_var, passphrase_var):
    if not isinstance(text, str) or '-----BEGIN' not in text:
        raise AuthorityError('%s is not a PEM private key (details hidden, the input is secret)' % key_var)
    password = passphrase.encode('utf-8') if passphrase else None
    try:
        return serialization.load_pem_private_key(text.strip().encode('ascii', 'replace'), password=password)
    except TypeError:
        if password is None:
            raise AuthorityError('%s is encrypted: set %s' % (key_var, passphrase_var)) from None
        raise AuthorityError('%s is not encrypted, but %s is set: remove it' % (key_var, passphrase_var)) from None
    except ValueError:
        # cryptography gives the same error for a wrong passphrase and a damaged key; its message
        # is never shown (it may quote the input).
        if password is not None:
            raise AuthorityError('%s does not open %s (wrong passphrase, or not a private key)'
                                 % (passphrase_var, key_var)) from None
        raise AuthorityError('%s is not a valid PEM private key (details hidden, the input is secret)' % key_var) from None


class Authority(object):
    """A CA certificate and its key; ``pem`` is the certificate as the relays get it."""

    def __init__(self, certificate, key=None):
        self.certificate = certificate
        self.key = key
        self.pem = certificate.public_bytes(serialization.Encoding.PEM).decode('ascii').strip()

    @classmethod
    def load(cls, certificate, key, passphrase=None, names=('certrelay_ca_certificate', 'certrelay_ca_privatekey',
                                                            'certrelay_ca_passphrase'), now=None):
        """The CA, checked: a CA certificate valid now, and the key that belongs to it.

        Raises AuthorityError naming the variable that is wrong.
        """
        require_cryptography()
        cert_var, key_var, passphrase_var = names
        try:
            cert = load_certificate(certificate, cert_var)
        except CertificateError as exc:
            raise AuthorityError('%s is unusable: %s' % (cert_var, exc)) from None
        problem = ca_problem(cert, now)
        if problem:
            raise AuthorityError('%s (%s) %s' % (cert_var, cert.subject.rfc4514_string(), problem))
        private = _load_key(key, passphrase, key_var, passphrase_var)
        if not key_matches_certificate(private, cert):
            raise AuthorityError('%s does not belong to %s (%s)' % (key_var, cert_var, cert.subject.rfc4514_string()))
        return cls(cert, private)

    @classmethod
    def public(cls, certificate):
        """The CA certificate alone (what the fleet directory's model needs to tell issued ones apart)."""
        require_cryptography()
        return cls(load_certificate(certificate, 'the CA certificate'))

    # ------------------------------------------------------------------ laptop certificates

    def issued(self, cert):
        """True when this CA signed cert (an x509.Certificate)."""
        if cert.issuer != self.certificate.subject or cert.subject == self.certificate.subject:
            return False
        try:
            cert.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def sign(self, request, common_name, days=CERTIFICATE_DAYS, now=None):
        """A client certificate (PEM) for the public key of request (a PEM CSR), named common_name.

        Only the request's public key is used, once its signature proves the laptop holds the key:
        the subject, names and usages are the fleet's, whatever the request asks for.
        """
        problem = name_problem(common_name)
        if problem:
            raise AuthorityError('not signed: %s' % problem)
        try:
            csr = x509.load_pem_x509_csr(request.strip().encode('ascii'))
        except (ValueError, AttributeError, UnicodeEncodeError):
            raise AuthorityError('the certificate request of %s is not a PEM certificate request' % common_name) from None
        if not csr.is_signature_valid:
            raise AuthorityError('the certificate request of %s is not signed by its own key' % common_name)
        public = csr.public_key()
        start = _now(now) - BACKDATE
        end = min(start + BACKDATE + datetime.timedelta(days=days), not_after_utc(self.certificate))
        rsa_key = isinstance(public, rsa.RSAPublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=rsa_key,
                data_encipherment=False, key_agreement=isinstance(public, ec.EllipticCurvePublicKey),
                key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()),
                           critical=False)
        )
        cert = builder.sign(self.key, _digest(self.key))
        return cert.public_bytes(serialization.Encoding.PEM).decode('ascii').strip()

    # -------------------------------------------------------------------------------- CRL

    def read_crl(self, text, what='the fleet CRL'):
        """(CRL number, nextUpdate, {serial: revocation date}) of a CRL this CA issued."""
        try:
            crl = x509.load_pem_x509_crl(text.strip().encode('ascii'))
        except (ValueError, UnicodeEncodeError):
            raise AuthorityError('%s is not a PEM CRL' % what) from None
        if crl.issuer != self.certificate.subject or not crl.is_signature_valid(self.certificate.public_key()):
            raise AuthorityError('%s was not issued by the fleet CA (%s): it belongs to another CA; move it '
                                 'away to start a new CRL' % (what, self.certificate.subject.rfc4514_string()))
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            number = 0
        revoked = dict((entry.serial_number, entry.revocation_date_utc) for entry in crl)
        return number, crl.next_update_utc, revoked

    def issue_crl(self, revoked, number, days=CRL_DAYS, now=None):
        """A CRL (PEM) listing revoked ({serial: revocation date}), with CRL number `number`."""
        start = _now(now) - BACKDATE
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(start)
            .next_update(start + BACKDATE + datetime.timedelta(days=days))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()),
                           critical=False)
        )
        for serial, when in sorted(revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
        crl = builder.sign(self.key, _digest(self.key))
        return crl.public_bytes(serialization.Encoding.PEM).decode('ascii').strip()

    def plan_crl(self, current, serials, days=CRL_DAYS, renew_days=CRL_RENEW_DAYS, now=None):
        """(CRL text for the run, why it is new or None when current stays).

        current: the fleet directory's CRL (None when there is none); serials: every serial that
        must be listed. A new CRL (number one higher) is issued when there is none, when a serial
        is missing from it, or when its nextUpdate is within renew_days.
        """
        now = _now(now)
        if not current:
            return self.issue_crl(dict((serial, now) for serial in serials), 1, days, now), 'new CRL'
        number, next_update, revoked = self.read_crl(current)
        added = sorted(set(serials) - set(revoked))
        reasons = []
        if added:
            reasons.append('revokes serial(s) %s' % ', '.join('%X' % serial for serial in added))
        if next_update is None or next_update - datetime.timedelta(days=renew_days) <= now:
            reasons.append('renewed (nextUpdate %s)' % (next_update.strftime('%Y-%m-%dT%H:%M:%SZ')
                                                        if next_update else 'missing'))
        if not reasons:
            return current.strip(), None
        revoked.update((serial, now) for serial in added)
        return self.issue_crl(revoked, number + 1, days, now), '; '.join(reasons)


def revokes_any(text):
    """Whether a PEM CRL lists at least one serial."""
    return len(x509.load_pem_x509_crl(text.strip().encode('ascii'))) > 0


def load_authority(read, names, required=True):
    """The CA of the variables names (certificate, key, passphrase) as read(name) gives them.

    None when the certificate is empty and not required; AuthorityError when it is unusable, or
    when the certificate or the key is missing.
    """
    cert_var, key_var, passphrase_var = names
    certificate = read(cert_var)
    if not certificate:
        if required:
            raise AuthorityError('%s is empty: the CA certificate that signs the laptop keys is required' % cert_var)
        return None
    key = read(key_var)
    if not key:
        raise AuthorityError('%s is empty: with %s, the CA key is required on the controller' % (key_var, cert_var))
    return Authority.load(certificate, key, read(passphrase_var) or None, names)


def fleet_authority(resolver, task_vars):
    """The fleet CA of a fleet playbook run (certrelay_ca_*), None without one. By variable name:
    the CA key is never a task argument."""
    return load_authority(lambda name: resolver.variable(name) if name in task_vars else None,
                          AUTHORITY_VARS, required=False)


def issued_serials(authority, certificates):
    """{name: serial} of the certificates (name -> PEM) this CA issued; others are left out."""
    found = {}
    for name, pem in certificates.items():
        try:
            cert = load_certificate(pem, name)
        except CertificateError:
            continue
        if authority.issued(cert):
            found[name] = cert.serial_number
    return found


def create(common_name, days=CA_DAYS, now=None):
    """(certificate PEM, unencrypted PKCS#8 key PEM) of a new fleet CA (EC P-256)."""
    require_cryptography()
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now(now) - BACKDATE
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + BACKDATE + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode('ascii')
    return cert.public_bytes(serialization.Encoding.PEM).decode('ascii'), key_pem
