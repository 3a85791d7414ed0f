"""The filter's fingerprint equals what a real Exim computes for the peer certificate."""

import re

import pytest

from ansible_collections.certrelay.exim.plugins.filter.cert_fingerprint import cert_fingerprint
from tests.lib import exim
from tests.lib.pki import client_cert, server_cert

ACL = """\
begin acl
acl_rcpt:
  warn    logwrite = PEER sha256=${sha256:$tls_in_peercert} \\
                     sha1=${sha1:$tls_in_peercert} md5=${md5:$tls_in_peercert}
  deny    message = fingerprint logged
"""


@pytest.fixture(scope='module')
def relay(tmp_path_factory):
    base = exim.make_traversable(tmp_path_factory.mktemp('fp-relay'))
    for sub in ('spool', 'log'):
        (base / sub).mkdir()
    clients = [client_cert(f'fp-{kind}', kind=kind) for kind in ('rsa', 'ec', 'ed25519')]
    for cred in clients:
        cred.write(base / 'trust', mode=0o644)
        (base / 'trust' / f'{cred.name}.key').unlink()
    relay_cred = server_cert()
    relay_cred.write(base, mode=0o644)
    port = exim.free_port()
    config = base / 'exim.conf'
    config.write_text(exim.minimal_relay_config(base, port, ACL))
    checked = exim.check_config(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # exim drops to its own user for spool and log: give it the tree
    exim.chown_exim(base / 'spool', base / 'log')
    with exim.daemon(config, port):
        yield port, base, clients


@pytest.mark.parametrize('index', [0, 1, 2], ids=['rsa', 'ec', 'ed25519'])
def test_filter_equals_exim(relay, index, tmp_path):
    port, base, clients = relay
    cred = clients[index]
    crt, key = cred.write(tmp_path)
    result = exim.swaks(port, cert=crt, key=key, subject=cred.name)
    assert result.rcpt_reply.startswith('550'), result.transcript
    mainlog = base / 'log' / 'mainlog'
    expected = cert_fingerprint(cred.cert_pem)
    assert exim.wait_for(lambda: exim.file_has(mainlog, f'PEER sha256={expected} '))
    logged = re.search(rf'PEER sha256={expected} sha1=(\w+) md5=(\w+)', mainlog.read_text())
    assert logged.group(1) == cert_fingerprint(cred.cert_pem, 'sha1')
    assert logged.group(2) == cert_fingerprint(cred.cert_pem, 'md5')
    # and neither colon form nor lower case would have matched Exim's string
    assert cert_fingerprint(cred.cert_pem, format='hex') not in mainlog.read_text()
