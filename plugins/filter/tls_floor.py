# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: tls_floor
short_description: The lowest accepted TLS version as a GnuTLS priority string and as OpenSSL options
version_added: 0.1.0
author: certrelay.exim contributors (@certrelay)
description:
  - Takes a TLS version (C(1.0), C(1.1), C(1.2) or C(1.3)) and gives what Exim needs to refuse every
    version below it - the priority string of C(tls_require_ciphers) on GnuTLS builds (Exim's own
    default C(NORMAL) without the lower versions) and the C(openssl_options) items on OpenSSL builds
    (added to Exim's defaults).
  - Both roles write both, each inside the C(.ifdef _HAVE_GNUTLS) or C(.ifdef _HAVE_OPENSSL) block of
    the configuration, so the binary that reads the file picks its own.
options:
  _input:
    description: The lowest TLS version to accept.
    type: str
    required: true
    choices: ['1.0', '1.1', '1.2', '1.3']
"""

EXAMPLES = r"""
- name: Show the settings of a TLS 1.2 floor
  ansible.builtin.debug:
    msg: "{{ '1.2' | certrelay.exim.tls_floor }}"
"""

RETURN = r"""
_value:
  description: C(version), C(gnutls) (priority string) and C(openssl) (options, empty for C(1.0)).
  type: dict
  sample: {"version": "1.2", "gnutls": "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1", "openssl": "+no_tlsv1 +no_tlsv1_1"}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.module_utils.tls_floor import floor


def tls_floor(min_version):
    try:
        return floor(min_version)
    except ValueError as exc:
        raise AnsibleFilterError('tls_floor: %s' % exc) from None


class FilterModule(object):
    def filters(self):
        return {'tls_floor': tls_floor}
