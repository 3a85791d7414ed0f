# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one validation of certificates and keys on the controller (cryptography).

Every function returns worded problems instead of raising: the caller refuses the whole input at
once. No message ever quotes the input - a private key given in the wrong place must not reach a
log, whatever the verbosity - only names, subjects, dates, sizes and PEM labels.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.certrelay.exim.plugins.module_utils.pem import pem_private_key_label
from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    certificate_info,
    is_self_signed,
    key_matches_certificate,
    load_certificates,
    load_private_key,
    names_host,
    weakness,
)

try:
    from cryptography import x509
except ImportError:  # pragma: no cover - require_cryptography() words it
    pass


def validity(info):
    """'expired on ...' / 'not valid before ...' for certificate_info facts, or None."""
    if info['expired']:
        return 'expired on %s' % info['not_after']
    if info['not_yet_valid']:
        return 'not valid before %s' % info['not_before']
    return None


def is_ca(cert):
    """A certificate that may sign others: key usage keyCertSign, or CA:TRUE on a certificate
    someone else issued (an intermediate CA). A self-signed leaf made by `openssl req -x509` says
    CA:TRUE too, but only its own key can sign under it: pinning it trusts its key holder, the
    relay, and nobody else."""
    try:
        if cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and not is_self_signed(cert)


def issued_another(cert, others):
    """True when cert signed one of the other certificates (a fullchain: leaf and its issuer)."""
    for other in others:
        if other is cert or other.issuer != cert.subject or other.subject == cert.subject:
            continue
        try:
            other.verify_directly_issued_by(cert)
        except Exception:  # a different key, or a signature cryptography cannot check
            continue
        return True
    return False


def check_private_key(text, certificate, what, certificate_what):
    """Problems of a private key given for certificate (which may be None when unusable)."""
    if not isinstance(text, str) or not text.strip():
        return ['%s is empty: expected an unencrypted PEM private key' % what]
    if 'CERTIFICATE-----' in text and 'PRIVATE KEY-----' in text:
        return ['%s holds a certificate as well as a key (a certificate+key PEM): give the key alone'
                % what]
    try:
        pem_private_key_label(text, what)
        key = load_private_key(text, what)
    except CertificateError:
        return ['%s is not an unencrypted PEM private key (details hidden, the input is secret)' % what]
    if certificate is not None and not key_matches_certificate(key, certificate):
        return ['%s does not belong to %s (%s)' % (what, certificate_what, certificate.subject.rfc4514_string())]
    return []


def check_credential(certificate_text, key_text, what, key_what, weak_option, allow_weak=False, allow_expired=False,
                     host=None, now=None):
    """A certificate (leaf first, chain allowed) and its private key: (info of the leaf, problems)."""
    try:
        certs = load_certificates(certificate_text, what)
    except CertificateError as exc:
        return None, ['%s is unusable: %s' % (what, exc)] + (
            [] if key_text is None else check_private_key(key_text, None, key_what, what))
    info = certificate_info(certs[0], now)
    problems = []
    bad = validity(info)
    if bad and not (allow_expired and info['expired']):
        problems.append('%s (%s) is not valid now: valid from %s to %s'
                        % (what, info['subject'], info['not_before'], info['not_after']))
    if host and not names_host(certs[0], host):
        problems.append('%s (%s) does not name %s, the name its clients connect to (DNS SANs: %s; IP SANs: %s)'
                        % (what, info['subject'], host, ', '.join(info['subject_alt_names']['dns']) or 'none',
                           ', '.join(info['subject_alt_names']['ip']) or 'none'))
    if not allow_weak:
        for index, cert in enumerate(certs):
            weak = weakness(cert)
            if weak:
                problems.append('%s (%s%s) is weak: %s (set %s to accept it)'
                                % (what, cert.subject.rfc4514_string(),
                                   ', certificate %d of %d' % (index + 1, len(certs)) if len(certs) > 1 else '',
                                   weak, weak_option))
    if key_text is not None:
        problems += check_private_key(key_text, certs[0], key_what, what)
    return info, problems


def check_pin(text, what, host, weak_option, verify_hostname=True, allow_ca=False, allow_weak=False, now=None):
    """Every certificate of a pinned bundle: (facts per certificate, problems)."""
    try:
        certs = load_certificates(text, what)
    except CertificateError as exc:
        return [], ['%s is unusable: %s' % (what, exc)]
    infos, problems = [], []
    for index, cert in enumerate(certs):
        info = certificate_info(cert, now)
        info['names_host'] = names_host(cert, host)
        infos.append(info)
        found = [validity(info)] if validity(info) else []
        if not info['names_host'] and verify_hostname:
            found.append(
                'does not name the smarthost "%s" (DNS SANs: %s; IP SANs: %s; CN: %s), so Exim would defer '
                'every message; use a name it carries, or set exim_client_verify_hostname=false deliberately'
                % (host, ', '.join(info['subject_alt_names']['dns']) or 'none',
                   ', '.join(info['subject_alt_names']['ip']) or 'none', info['common_name'] or 'none'))
        if not allow_ca and (is_ca(cert) or issued_another(cert, certs)):
            found.append('is a CA certificate (it signs certificates), and the pin would trust every '
                         'certificate it signed; pin the relay\'s own certificate only')
        if not allow_weak:
            weak = weakness(cert)
            if weak:
                found.append('is weak: %s (set %s to accept it)' % (weak, weak_option))
        if found:
            problems.append('%s (%s%s): %s' % (
                what, info['subject'],
                ', certificate %d of %d' % (index + 1, len(certs)) if len(certs) > 1 else '',
                '; '.join(found)))
    return infos, problems
