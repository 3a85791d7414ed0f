# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of the relay's private-CA mode, on the controller (cryptography): its client CA
certificates, their CRLs and the relay policy, refused before anything changes.

Like tls_validation, every function returns worded problems and never quotes the input.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    certificate_summary,
    load_certificates,
    weakness,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.tls_validation import is_ca

try:
    from cryptography import x509
except ImportError:  # pragma: no cover - require_cryptography() words it
    pass

POLICIES = ('allowlist', 'ca')
CRL_BLOCK = re.compile(r'-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----', re.DOTALL)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _utc(value):
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _next_update(crl):
    value = getattr(crl, 'next_update_utc', None) or crl.next_update
    return None if value is None else _utc(value)


def signs_certificates(cert):
    """(basic constraints CA:TRUE, key usage keyCertSign) of a certificate."""
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    return bool(ca), is_ca(cert)


def check_cas(texts, what, weak_option, allow_weak=False, now=None):
    """The client CA certificates: (list of (certificate, summary), problems)."""
    now = now or _now()
    if not isinstance(texts, (list, tuple)):
        return [], ['%s must be a list of PEM CA certificates' % what]
    cas, problems, seen = [], [], {}
    for index, text in enumerate(texts):
        where = '%s[%d]' % (what, index)
        try:
            certs = load_certificates(text, where)
        except CertificateError as exc:
            problems.append('%s is unusable: %s' % (where, exc))
            continue
        if len(certs) != 1:
            problems.append('%s holds %d certificates: give each CA certificate as its own item' % (where, len(certs)))
            continue
        cert = certs[0]
        info = certificate_summary(cert, now)
        label = '%s (%s)' % (where, info['subject'])
        ca, sign = signs_certificates(cert)
        if not (ca and sign):
            problems.append('%s is not a CA certificate: it needs basic constraints CA:TRUE and key usage keyCertSign '
                            '(has %s)' % (label, ', '.join(
                                name for name, value in (('CA:TRUE', ca), ('keyCertSign', sign)) if value) or 'neither'))
        if info['expired']:
            problems.append('%s expired on %s: no certificate it issued verifies' % (label, info['not_after']))
        elif info['not_yet_valid']:
            problems.append('%s is not valid yet' % label)
        weak = None if allow_weak else weakness(cert)
        if weak:
            problems.append('%s is weak: %s (set %s to accept it)' % (label, weak, weak_option))
        if info['fingerprint'] in seen:
            problems.append('%s is the same certificate as %s[%d]' % (label, what, seen[info['fingerprint']]))
            continue
        seen[info['fingerprint']] = index
        cas.append((cert, info))
    return cas, problems


def _crl_blocks(text, what):
    """(CRLs, problems) of a PEM text that must hold X509 CRL blocks only."""
    blocks = list(CRL_BLOCK.finditer(text.replace('\r', '')))
    if not blocks:
        return [], ['%s is not a CRL: it holds no PEM "X509 CRL" block' % what]
    crls, problems = [], []
    for number, match in enumerate(blocks, 1):
        where = '%s (block %d of %d)' % (what, number, len(blocks)) if len(blocks) > 1 else what
        if match.group(1) != 'X509 CRL':
            secret = 'PRIVATE KEY' in match.group(1)
            problems.append('%s is not a CRL: it holds a "%s" PEM block%s' % (
                where, match.group(1), ' (keep it secret)' if secret else ''))
            continue
        try:
            crls.append((where, x509.load_pem_x509_crl(match.group(0).encode('ascii'))))
        except (ValueError, TypeError, UnicodeEncodeError):
            problems.append('%s is not a CRL: the X509 CRL block cannot be parsed' % where)
    return crls, problems


def check_crl(text, what, cas, cas_what, now=None):
    """The CRL text against the CAs (check_cas' list): (facts per CRL, problems)."""
    now = now or _now()
    if text is None or not str(text).strip():
        return [], []
    if not isinstance(text, str):
        return [], ['%s must be PEM text' % what]
    crls, problems = _crl_blocks(text, what)
    facts, covered = [], {}
    for where, crl in crls:
        issuer = next((info for cert, info in cas if cert.subject == crl.issuer
                       and crl.is_signature_valid(cert.public_key())), None)
        if issuer is None:
            problems.append('%s (issuer %s) is not signed by any of %s: Exim would refuse every client of '
                            'the CA it names' % (where, crl.issuer.rfc4514_string(), cas_what))
            continue
        next_update = _next_update(crl)
        if next_update is not None and next_update < now:
            problems.append('%s of %s is past its nextUpdate (%s): issue a new CRL (an Exim built with OpenSSL '
                            'refuses every client of that CA with it)' % (
                                where, issuer['subject'], next_update.strftime('%Y-%m-%dT%H:%M:%SZ')))
        if issuer['fingerprint'] in covered:
            problems.append('%s: %s has a second CRL (%s); give one CRL per CA' % (where, issuer['subject'], covered[issuer['fingerprint']]))
            continue
        covered[issuer['fingerprint']] = where
        facts.append(dict(issuer=issuer['subject'], revoked=len(crl),
                          next_update=next_update.strftime('%Y-%m-%dT%H:%M:%SZ') if next_update else None))
    if not problems:
        missing = [info['subject'] for cert, info in cas if info['fingerprint'] not in covered]
        if missing:
            problems.append('%s has no CRL for %s: with a CRL configured, an Exim built with OpenSSL checks '
                            'every CA and refuses every client of a CA without one; give one CRL per CA'
                            % (what, ', '.join(missing)))
    return facts, problems


def check_client_ca(ca_texts, crl_text, policy, entries, weak_option, options, allow_weak=False, now=None):
    """Everything the private-CA mode is given: (facts, problems).

    options names the variables (certificates, crl, policy, client_certs) for the messages;
    entries are the client list's present entries as check_entries() reports them (name,
    fingerprint, signs).
    """
    problems = []
    if policy not in POLICIES:
        return {}, ['%s must be allowlist or ca (got %s)' % (options['policy'], policy)]
    cas, found = check_cas(ca_texts, options['certificates'], weak_option, allow_weak=allow_weak, now=now)
    problems += found
    if policy == 'ca' and not cas and not found:
        problems.append('%s is ca but %s is empty: name the client CA whose certificates may relay'
                        % (options['policy'], options['certificates']))
    if cas or not crl_text or not str(crl_text).strip():
        crls, found = check_crl(crl_text, options['crl'], cas, options['certificates'], now=now)
    elif not ca_texts:
        crls, found = [], ['%s is given but %s is empty: a CRL needs its CA' % (options['crl'], options['certificates'])]
    else:
        crls, found = [], []  # no usable CA to judge the CRL by: the CA problems above say why
    problems += found
    if cas or policy == 'ca':
        problems += _clients_that_are_cas(entries, dict((info['fingerprint'], index) for index, (cert, info)
                                                        in enumerate(cas)), options)
    return dict(fingerprints=[info['fingerprint'] for cert, info in cas],
                subjects=[info['subject'] for cert, info in cas], crls=crls), problems


def _clients_that_are_cas(present, ca_fingerprints, options):
    """A CA among the client certificates would make every certificate it issued verify."""
    bad = [str(item['name']) for item in present or [] if item['fingerprint'] in ca_fingerprints or item.get('signs')]
    if not bad:
        return []
    return ['%s lists CA certificates (key usage keyCertSign, or one of %s) as client certificates: %s; every '
            'certificate such a CA issued would verify - give CAs in %s only'
            % (options['client_certs'], options['certificates'], ', '.join(bad), options['certificates'])]
