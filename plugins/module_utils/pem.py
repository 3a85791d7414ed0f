# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PEM blocks and fingerprints with the standard library only: safe on any target.

Modules receive PEMs the controller already validated (plugin_utils/certificates.py parses them
with cryptography) and only need the DER to write and fingerprint it. Exim prints
``${sha256:$tls_in_peercert}`` as the digest of the certificate's DER encoding in upper-case hex
without separators; ``inlist`` compares case-sensitively and splits on ``:``, so every fingerprint
this collection produces for Exim must be in exactly that form.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import re

ALGORITHMS = ('sha256', 'sha1', 'md5')
FORMATS = ('exim', 'colon', 'hex')

_PEM_BLOCK = re.compile(
    r'-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----',
    re.DOTALL,
)
_CERT_LABELS = ('CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE')
_EXIM_FINGERPRINT = re.compile(r'[0-9A-F]{64}')


class CertificateError(ValueError):
    """Input that is not a usable certificate; the message never quotes key material."""


def describe_input(data):
    if isinstance(data, (bytes, bytearray)):
        return 'DER bytes'
    return 'PEM text'


def to_text(data):
    if isinstance(data, (bytes, bytearray)):
        try:
            return bytes(data).decode('ascii')
        except UnicodeDecodeError:
            return None
    return data


def pem_blocks(text):
    """Yield (label, der_bytes_or_None) for every PEM block in text."""
    for match in _PEM_BLOCK.finditer(text.replace('\r', '')):
        label, body = match.group(1), match.group(2)
        if label not in _CERT_LABELS:
            yield label, None
            continue
        try:
            yield label, base64.b64decode(''.join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise CertificateError(
                'the PEM certificate block is corrupt (its base64 body does not decode)'
            ) from None


def pem_certificate_ders(text, what='input'):
    """DER bytes of every certificate block in PEM text, without needing cryptography.

    Modules run on targets that may lack cryptography: they receive PEMs the
    controller already validated and only need the DER to write and fingerprint it.
    """
    if not isinstance(text, str) or not text.strip():
        raise CertificateError('%s is empty: expected a PEM certificate' % what)
    ders = []
    for label, der in pem_blocks(text):
        if der is None:
            refuse_non_certificate(label, what)
        ders.append(der)
    if not ders:
        raise CertificateError('%s contains no PEM certificate' % what)
    return ders


def pem_private_key_label(text, what='private key'):
    """The label of the one unencrypted PEM private key block in text, without cryptography.

    For modules on targets: the controller already matched key and certificate; this only
    refuses what Exim could not load. Messages never quote the input.
    """
    if not isinstance(text, str) or not text.strip():
        raise CertificateError('%s is empty: expected a PEM private key' % what)
    labels = [match.group(1) for match in _PEM_BLOCK.finditer(text.replace('\r', ''))]
    keys = [label for label in labels if label.endswith('PRIVATE KEY')]
    if len(keys) != 1 or len(labels) != 1:
        raise CertificateError('%s must hold exactly one PEM private key block (found: %s)'
                               % (what, ', '.join(labels) or 'no PEM block'))
    if keys[0] == 'ENCRYPTED PRIVATE KEY' or 'Proc-Type: 4,ENCRYPTED' in text:
        raise CertificateError('%s is encrypted; Exim needs it unencrypted (protect it by its mode)' % what)
    return keys[0]


def der_to_pem(der):
    """Canonical PEM (64-column base64) so equal certificates give byte-equal files."""
    body = base64.b64encode(der).decode('ascii')
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % '\n'.join(lines)


def refuse_non_certificate(label, where):
    if 'PRIVATE KEY' in label:
        raise CertificateError(
            '%s holds a private key (%s), not a certificate; give the certificate '
            '(-----BEGIN CERTIFICATE-----) and keep the key secret' % (where, label)
        )
    raise CertificateError(
        '%s holds a "%s" PEM block, not a certificate' % (where, label)
    )


def format_digest(digest, fmt='exim'):
    if fmt == 'exim':
        return digest.hex().upper()
    if fmt == 'colon':
        upper = digest.hex().upper()
        return ':'.join(upper[i:i + 2] for i in range(0, len(upper), 2))
    if fmt == 'hex':
        return digest.hex()
    raise CertificateError('unknown fingerprint format "%s"; use one of %s' % (fmt, ', '.join(FORMATS)))


def fingerprint_der(der, algorithm='sha256', fmt='exim'):
    if algorithm not in ALGORITHMS:
        raise CertificateError(
            'unknown fingerprint algorithm "%s"; use one of %s' % (algorithm, ', '.join(ALGORITHMS))
        )
    return format_digest(hashlib.new(algorithm, der).digest(), fmt)


def is_exim_fingerprint(value):
    """True for a SHA-256 fingerprint in the exact form Exim's inlist compares."""
    return isinstance(value, str) and bool(_EXIM_FINGERPRINT.fullmatch(value))
