# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lowest TLS version both roles accept, in the form each TLS library of Exim takes it.

Standard library only. GnuTLS builds take a priority string (tls_require_ciphers, main section for
the server side, smtp transport for the client side); OpenSSL builds take openssl_options (main
section, server and client side alike), which adds to Exim's own defaults (+no_sslv2 +no_sslv3 ...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

VERSIONS = ('1.0', '1.1', '1.2', '1.3')
# Exim's default priority on GnuTLS builds (tls-gnu.c), which the floor narrows.
GNUTLS_BASE = 'NORMAL'


def below(min_version):
    """The versions under min_version; ValueError for an unknown one."""
    version = str(min_version)
    if version not in VERSIONS:
        raise ValueError('the TLS floor must be one of %s (got %r)' % (', '.join(VERSIONS), min_version))
    return VERSIONS[:VERSIONS.index(version)]


def gnutls_priority(min_version):
    """GnuTLS priority string, e.g. NORMAL:-VERS-TLS1.0:-VERS-TLS1.1 for 1.2."""
    return ':'.join([GNUTLS_BASE] + ['-VERS-TLS%s' % version for version in below(min_version)])


def openssl_options(min_version):
    """openssl_options items, e.g. +no_tlsv1 +no_tlsv1_1 for 1.2; empty for 1.0."""
    return ' '.join('+no_tlsv1' + ('' if version == '1.0' else '_' + version.split('.')[1])
                    for version in below(min_version))


def floor(min_version):
    """{'version', 'gnutls', 'openssl'} for the templates."""
    return {'version': str(min_version), 'gnutls': gnutls_priority(min_version),
            'openssl': openssl_options(min_version)}
