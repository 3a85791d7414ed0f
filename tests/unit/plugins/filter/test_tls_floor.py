"""certrelay.exim.tls_floor: one TLS floor, in the form of each TLS library of Exim."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.tls_floor import tls_floor


@pytest.mark.parametrize('version, gnutls, openssl', [
    ('1.0', 'NORMAL', ''),
    ('1.1', 'NORMAL:-VERS-TLS1.0', '+no_tlsv1'),
    ('1.2', 'NORMAL:-VERS-TLS1.0:-VERS-TLS1.1', '+no_tlsv1 +no_tlsv1_1'),
    ('1.3', 'NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.2', '+no_tlsv1 +no_tlsv1_1 +no_tlsv1_2'),
])
def test_every_version_below_the_floor_is_taken_out(version, gnutls, openssl):
    assert tls_floor(version) == {'version': version, 'gnutls': gnutls, 'openssl': openssl}


def test_a_yaml_float_is_the_same_version():
    assert tls_floor(1.2)['version'] == '1.2'


@pytest.mark.parametrize('bad', ['1.4', 'TLSv1.2', '', None])
def test_an_unknown_version_is_refused_by_name(bad):
    with pytest.raises(AnsibleFilterError, match='the TLS floor must be one of 1.0, 1.1, 1.2, 1.3'):
        tls_floor(bad)
