# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates and keys parsed with cryptography: controller side only (filters, action plugins).

The PEM and fingerprint helpers that targets need too live in module_utils/pem.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtensionOID, NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the callers
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

from ansible_collections.certrelay.exim.plugins.module_utils.pem import (
    ALGORITHMS,
    CertificateError,
    describe_input,
    fingerprint_der,
    pem_blocks,
    refuse_non_certificate,
    to_text,
)

# Refused unless the caller allows weak certificates.
MIN_BITS = 2048
WEAK_HASHES = ('md5', 'sha1')
_RSA_OID, _DSA_OID = '1.2.840.113549.1.1.1', '1.2.840.10040.4.1'


def require_cryptography():
    if not HAS_CRYPTOGRAPHY:
        raise CertificateError(
            'the Python library "cryptography" is required on the controller: %s'
            % CRYPTOGRAPHY_IMPORT_ERROR
        )


def _load_der(der):
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, TypeError) as exc:
        raise CertificateError(
            'the certificate cannot be parsed (truncated or corrupt): %s' % exc
        ) from None


def load_certificates(data, what='input'):
    """Parse every certificate in PEM text (bundle) or DER bytes, in order.

    Text before, between and after PEM blocks is ignored (``openssl x509 -text``
    output), CRLF line endings are accepted. Private keys and other PEM blocks are
    refused with a message that names them without echoing their content.
    """
    require_cryptography()
    if data is None:
        raise CertificateError('%s is empty: expected a PEM or DER certificate' % what)
    if isinstance(data, (bytes, bytearray)) and bytes(data[:1]) == b'\x30':
        return [_load_der(bytes(data))]
    text = to_text(data)
    if text is None:
        raise CertificateError(
            '%s is binary data that is neither PEM text nor a DER certificate' % what
        )
    if not isinstance(text, str):
        raise CertificateError(
            '%s must be PEM text or DER bytes, not %s' % (what, type(data).__name__)
        )
    if not text.strip():
        raise CertificateError('%s is empty: expected a PEM or DER certificate' % what)
    certificates = []
    other_label = None
    for label, der in pem_blocks(text):
        if der is None:
            if 'PRIVATE KEY' in label:
                refuse_non_certificate(label, what)
            other_label = other_label or label
            continue
        certificates.append(_load_der(der))
    if certificates:
        return certificates
    if other_label:
        refuse_non_certificate(other_label, what)
    if '-----BEGIN' in text:
        raise CertificateError(
            '%s has a truncated PEM block (no matching -----END line)' % what
        )
    raise CertificateError('%s contains no PEM certificate (%s)' % (what, describe_input(data)))


def load_certificate(data, what='input'):
    """The first certificate of a PEM bundle (the leaf) or of DER bytes."""
    return load_certificates(data, what)[0]


def der_bytes(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def fingerprint(cert, algorithm='sha256', fmt='exim'):
    return fingerprint_der(der_bytes(cert), algorithm, fmt)


def _utc(cert, name):
    # cryptography >= 42 has *_utc; older releases return naive UTC datetimes.
    value = getattr(cert, name + '_utc', None)
    if value is None:
        value = getattr(cert, name).replace(tzinfo=datetime.timezone.utc)
    return value


def not_after_utc(cert):
    """The end of a certificate's validity, an aware UTC datetime."""
    return _utc(cert, 'not_valid_after')


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _san(cert):
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return [], []
    dns = ext.value.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)]
    return dns, ips


def _common_names(cert):
    return [attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _key_type(public_key):
    if isinstance(public_key, rsa.RSAPublicKey):
        return 'RSA', public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return 'EC', public_key.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return 'Ed25519', 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return 'Ed448', 456
    return type(public_key).__name__, None


def is_self_signed(cert):
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError):
        return False
    except Exception:  # InvalidSignature and backend specific errors
        return False
    return True


def certificate_info(cert, now=None):
    """Facts about a certificate that the roles validate before touching a host."""
    now = now or _now()
    der = der_bytes(cert)
    dns, ips = _san(cert)
    not_before, not_after = _utc(cert, 'not_valid_before'), _utc(cert, 'not_valid_after')
    key_type, key_size = _key_type(cert.public_key())
    info = certificate_summary(cert, now)
    info.update({
        'issuer': cert.issuer.rfc4514_string(),
        'common_name': (_common_names(cert) or [None])[0],
        'subject_alt_names': {'dns': dns, 'ip': ips},
        'serial_number': format(cert.serial_number, 'X'),
        'not_before': not_before.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'days_left': (not_after - now).days,
        'self_signed': is_self_signed(cert),
        'public_key_type': key_type,
        'public_key_size': key_size,
        'fingerprints': dict(
            (algorithm, fingerprint_der(der, algorithm)) for algorithm in ALGORITHMS
        ),
    })
    return info


def certificate_summary(cert, now=None):
    """What an allowlist needs of a certificate (fingerprint, expiry, subject), without the
    signature check, SAN and key parsing of certificate_info (~0.1 s instead of ~1.6 s per 10,000)."""
    now = now or _now()
    not_after = _utc(cert, 'not_valid_after')
    return {
        'subject': cert.subject.rfc4514_string(),
        'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'expired': now > not_after,
        'not_yet_valid': now < _utc(cert, 'not_valid_before'),
        'fingerprint': fingerprint_der(der_bytes(cert), 'sha256'),
    }


def weakness(cert):
    """Why a certificate is weak (a short RSA/DSA key, an MD5/SHA-1 signature), or None."""
    problems = []
    # Decoding the key costs more than the whole certificate: only RSA and DSA keys have a size
    # worth checking (an allowlist of 10,000 certificates is checked at every run).
    algorithm_oid = getattr(cert, 'public_key_algorithm_oid', None)
    sized = algorithm_oid is None or algorithm_oid.dotted_string in (_RSA_OID, _DSA_OID)
    key = cert.public_key() if sized else None
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)) and key.key_size < MIN_BITS:
        problems.append('%s key of %d bits (at least %d needed)'
                        % ('RSA' if isinstance(key, rsa.RSAPublicKey) else 'DSA', key.key_size, MIN_BITS))
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # an algorithm cryptography does not know: Exim's library judges it
        algorithm = None
    if algorithm is not None and algorithm.name in WEAK_HASHES:
        problems.append('signed with %s' % algorithm.name.upper().replace('SHA1', 'SHA-1'))
    return '; '.join(problems) or None


def _dns_matches(pattern, host):
    pattern, host = pattern.lower().rstrip('.'), host.lower().rstrip('.')
    if pattern == host:
        return True
    if pattern.startswith('*.') and '.' in host:
        return host.split('.', 1)[1] == pattern[2:]
    return False


def names_host(cert, host):
    """True when a TLS client connecting to ``host`` would accept cert's names.

    An IP address must be an IP SAN; a DNS name must match a DNS SAN (left-most
    wildcard allowed) or, when the certificate has no DNS SAN, its common name.
    """
    dns, ips = _san(cert)
    try:
        address = ipaddress.ip_address(host.strip('[]'))
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(ip) == address for ip in ips)
    candidates = dns or _common_names(cert)
    return any(_dns_matches(name, host) for name in candidates)


def load_private_key(data, what='private key', password=None):
    require_cryptography()
    if not data or not to_text(data) or '-----BEGIN' not in to_text(data):
        raise CertificateError('%s is not a PEM private key' % what)
    raw = data.encode('ascii') if isinstance(data, str) else bytes(data)
    try:
        return serialization.load_pem_private_key(
            raw.replace(b'\r', b''), password=password.encode() if password else None
        )
    except TypeError:
        raise CertificateError('%s is encrypted; Exim needs an unencrypted key' % what) from None
    except ValueError:
        # Never include the library's message: it may quote the input.
        raise CertificateError('%s is not a valid unencrypted PEM private key' % what) from None


def key_matches_certificate(key, cert):
    """True when the private key belongs to the certificate's public key."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    return key.public_key().public_bytes(pem, spki) == cert.public_key().public_bytes(pem, spki)
