# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Lists of named certificates ({name, certificate, state}) checked in one pass on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.certrelay.exim.plugins.module_utils.entries import (
    NAME,
    STATES,
    names_seen_twice,
    shared_certificates,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.certificates import (
    CertificateError,
    certificate_summary,
    der_bytes,
    load_certificates,
    weakness,
)
from ansible_collections.certrelay.exim.plugins.plugin_utils.tls_validation import is_ca

# The key usage extension's OID (2.5.29.15) in DER: only a certificate that carries it can say
# keyCertSign, and parsing every certificate's extensions would cost ~2.5 s per 10,000.
KEY_USAGE_OID = b'\x06\x03\x55\x1d\x0f'


def check_entries(entries, now=None, allow_weak=True):
    """Everything the roles need to know about a list of entries, in one pass.

    Returns entries (state defaulted to present), present (name, fingerprint, expired, not_after,
    subject and signs - key usage keyCertSign - of every present entry whose certificate parses, in input order), listed (the names of
    every entry whose state is present, usable or not) and problems (lists
    of names per kind of problem, name and reason for unusable certificates; all empty when the
    input is fine). A bundle is unusable (one certificate per name); with allow_weak false, short
    RSA/DSA keys and MD5/SHA-1 signatures are problems (weak: name and reason). Never raises for bad entries: the caller words the error, naming every bad
    entry at once.
    """
    problems = dict(invalid_names=[], duplicate_names=[], no_certificate=[], invalid_states=[],
                    unusable=[], expired=[], not_yet_valid=[], weak=[], duplicate_certificates=[])
    normalized, present = [], []
    for index, item in enumerate(entries):
        item = item if isinstance(item, dict) else {'name': item}
        name = item.get('name')
        label = name if isinstance(name, str) and name else 'entry %d' % index
        state = item.get('state') or 'present'
        normalized.append(dict(item, state=state))
        if not isinstance(name, str) or not NAME.fullmatch(name):
            problems['invalid_names'].append(str(label))
        if state not in STATES:
            problems['invalid_states'].append(label)
            continue
        if state == 'absent':
            continue
        if not item.get('certificate'):
            problems['no_certificate'].append(label)
            continue
        try:
            certificates = load_certificates(item['certificate'], 'the certificate')
        except CertificateError as exc:
            problems['unusable'].append(dict(name=label, reason=str(exc)))
            continue
        if len(certificates) > 1:
            # Only the first would be trusted: say so rather than cut the bundle silently.
            problems['unusable'].append(dict(name=label, reason='it holds %d certificates (a bundle); give the '
                                                                'client\'s own certificate only' % len(certificates)))
            continue
        info = certificate_summary(certificates[0], now=now)
        if info['expired']:
            problems['expired'].append(label)
        elif info['not_yet_valid']:
            problems['not_yet_valid'].append(label)
        weak = None if allow_weak else weakness(certificates[0])
        if weak:
            problems['weak'].append(dict(name=label, reason=weak))
        present.append(dict(name=label, fingerprint=info['fingerprint'], expired=info['expired'],
                            not_after=info['not_after'], subject=info['subject'], signs=KEY_USAGE_OID in der_bytes(certificates[0]) and is_ca(certificates[0])))
    problems['duplicate_names'] = names_seen_twice(item['name'] for item in normalized
                                                   if isinstance(item.get('name'), str))
    problems['duplicate_certificates'] = shared_certificates((c['name'], c['fingerprint']) for c in present)
    listed = [item['name'] for item in normalized if item['state'] == 'present' and isinstance(item.get('name'), str)]
    return dict(entries=normalized, present=present, listed=listed, problems=problems)
