"""cert_fingerprint: every input form, every refusal, compared with openssl."""

import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certrelay.exim.plugins.filter.cert_fingerprint import (
    FilterModule,
    cert_fingerprint,
)


def openssl_fingerprint(pem: str, algorithm: str) -> str:
    out = subprocess.run(['openssl', 'x509', '-noout', '-fingerprint', f'-{algorithm}'],
                         input=pem, capture_output=True, text=True, check=True).stdout
    return out.strip().split('=', 1)[1]


def test_filter_is_registered():
    assert FilterModule().filters() == {'cert_fingerprint': cert_fingerprint}


@pytest.mark.parametrize('kind', ['rsa_cert', 'ec_cert', 'ed25519_cert'])
@pytest.mark.parametrize('algorithm', ['sha256', 'sha1', 'md5'])
def test_matches_openssl_in_every_format(request, kind, algorithm):
    cred = request.getfixturevalue(kind)
    colon = openssl_fingerprint(cred.cert_pem, algorithm)
    assert cert_fingerprint(cred.cert_pem, algorithm, format='colon') == colon
    assert cert_fingerprint(cred.cert_pem, algorithm) == colon.replace(':', '')
    assert cert_fingerprint(cred.cert_pem, algorithm, format='hex') == colon.replace(':', '').lower()


def test_default_is_exim_sha256(rsa_cert):
    value = cert_fingerprint(rsa_cert.cert_pem)
    assert value == rsa_cert.fingerprint
    assert len(value) == 64 and value == value.upper() and ':' not in value


def test_der_bytes(ec_cert):
    assert cert_fingerprint(ec_cert.cert_der) == ec_cert.fingerprint


def test_crlf_and_surrounding_whitespace(rsa_cert):
    pem = '\n\n  ' + rsa_cert.cert_pem.replace('\n', '\r\n') + '\r\n\t  \n'
    assert cert_fingerprint(pem) == rsa_cert.fingerprint


def test_text_before_the_pem_block(rsa_cert):
    text = subprocess.run(['openssl', 'x509', '-text'], input=rsa_cert.cert_pem,
                          capture_output=True, text=True, check=True).stdout
    assert not text.startswith('-----BEGIN')
    assert cert_fingerprint(text) == rsa_cert.fingerprint


def test_bundle_gives_the_leaf(rsa_cert, relay_cert):
    assert cert_fingerprint(rsa_cert.cert_pem + relay_cert.cert_pem) == rsa_cert.fingerprint


def test_list_gives_a_list(rsa_cert, ec_cert, ed25519_cert):
    creds = [rsa_cert, ec_cert, ed25519_cert]
    assert cert_fingerprint([c.cert_pem for c in creds]) == [c.fingerprint for c in creds]
    assert cert_fingerprint([c.cert_pem for c in creds], 'sha1', format='colon') == [
        openssl_fingerprint(c.cert_pem, 'sha1') for c in creds]


def test_list_error_names_the_item(rsa_cert):
    with pytest.raises(AnsibleFilterError, match='item 1 of the list'):
        cert_fingerprint([rsa_cert.cert_pem, 'garbage'])


@pytest.mark.parametrize('value, message', [
    ('', 'empty'),
    ('   \n\t ', 'empty'),
    (None, 'empty'),
    ('hello world, no certificate here', 'no PEM certificate'),
    (b'\xff\xfe\x00binary', 'neither PEM text nor a DER certificate'),
    (42, 'must be PEM text or DER bytes'),
])
def test_refuses_non_certificates(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cert_fingerprint(value)


def test_refuses_a_private_key_without_echoing_it(rsa_cert):
    key = rsa_cert.key_pem
    with pytest.raises(AnsibleFilterError) as exc:
        cert_fingerprint(key)
    message = str(exc.value)
    assert 'private key' in message
    body_lines = [line for line in key.splitlines() if not line.startswith('-----')]
    assert not any(line[:20] in message for line in body_lines)


def test_refuses_a_private_key_before_a_certificate(rsa_cert):
    with pytest.raises(AnsibleFilterError, match='private key'):
        cert_fingerprint(rsa_cert.key_pem + rsa_cert.cert_pem)


def test_refuses_a_truncated_pem(rsa_cert):
    lines = rsa_cert.cert_pem.splitlines()
    with pytest.raises(AnsibleFilterError, match='truncated'):
        cert_fingerprint('\n'.join(lines[:6]))


def test_refuses_a_pem_missing_half_its_body(rsa_cert):
    lines = rsa_cert.cert_pem.splitlines()
    cut = '\n'.join(lines[:4] + lines[-1:])
    with pytest.raises(AnsibleFilterError, match='truncated or corrupt|corrupt'):
        cert_fingerprint(cut)


def test_refuses_a_corrupt_base64_body(rsa_cert):
    lines = rsa_cert.cert_pem.splitlines()
    lines[3] = '!!!!' + lines[3][4:]
    with pytest.raises(AnsibleFilterError, match='corrupt'):
        cert_fingerprint('\n'.join(lines))


def test_refuses_other_pem_blocks(rsa_cert):
    csr_like = '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'
    with pytest.raises(AnsibleFilterError, match='CERTIFICATE REQUEST'):
        cert_fingerprint(csr_like)


@pytest.mark.parametrize('option, value', [('algorithm', 'sha512'), ('format', 'base64')])
def test_refuses_unknown_options(rsa_cert, option, value):
    with pytest.raises(AnsibleFilterError, match=f'unknown fingerprint {option}'):
        cert_fingerprint(rsa_cert.cert_pem, **{option: value})
