# -*- coding: utf-8 -*-
# Copyright: certrelay.exim contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Owner, groups and modes of a key and its certificate, for the modules that make both on the host.
    DOCUMENTATION = r"""
options:
  owner:
    description: Owner of both files.
    type: str
  group:
    description: Group of the key file (the certificate's is O(certificate_group)).
    type: str
  certificate_group:
    description: Group of the certificate file.
    type: str
  privatekey_mode:
    description: Mode of the key file.
    type: raw
    default: '0640'
  certificate_mode:
    description: Mode of the certificate file.
    type: raw
    default: '0644'
"""
