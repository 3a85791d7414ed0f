"""certrelay.exim.relay_log, run in-process on logs and a relay state written here."""

import datetime

from ansible_collections.certrelay.exim.plugins.modules import relay_log
from tests.lib.module import run_module
from tests.lib.pki import client_cert


def state_with(tmp_path, *creds):
    current = tmp_path / 'state' / 'g-1'
    (current / 'trust').mkdir(parents=True)
    (tmp_path / 'state' / 'current').symlink_to('g-1')
    (current / 'allowlist').write_text('# header\n' + ''.join(f'{c.fingerprint}: {c.name}\n' for c in creds))
    for cred in creds:
        (current / 'trust' / f'{cred.name}.pem').write_text(cred.cert_pem)
    return tmp_path / 'state'


def test_trusted_clients_come_with_expiry_and_refused_allowlisted_certificates_are_left_out(tmp_path):
    ann, bob, new = client_cert('ann', days=10), client_cert('bob', kind='ec', days=400), client_cert('new')
    now = datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')
    (tmp_path / 'mainlog').write_text(
        f'{now} 1xYOAA-000001-AA certrelay: client ann fingerprint {ann.fingerprint}\n'
        f'{now} 1xYOAA-000001-AA <= u@l H=(vm) [127.0.0.1] P=esmtps S=1\n'
        # enrolled since it was refused: no longer pending
        f'{now} certrelay: verified certificate not in the allowlist: {bob.fingerprint} H=[192.0.2.1]:1 DN="CN=bob"\n'
        f'{now} certrelay: verified certificate not in the allowlist: {new.fingerprint} H=[192.0.2.1]:1 DN="CN=new"\n')
    result = run_module(relay_log.main, dict(logs=[str(tmp_path / 'mainlog*')], days=1,
                                             state_directory=str(state_with(tmp_path, ann, bob))), check=True)
    assert not result['changed']
    clients = {c['name']: c for c in result['clients']}
    assert clients['ann']['messages'] == 1 and clients['ann']['expires_in_days'] in (9, 10)
    assert clients['ann']['not_after'] == ann.cert.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')
    assert clients['bob']['messages'] == 0 and clients['bob']['last_seen'] is None and clients['bob']['trusted']
    assert [e['fingerprint'] for e in result['refused']['verified']] == [new.fingerprint]
    assert result['report']['clients'][0].startswith('ann: 1 message(s) in the last 1 days, last seen ')


def test_days_must_be_positive(tmp_path):
    result = run_module(relay_log.main, dict(logs=[str(tmp_path / 'mainlog')], days=0))
    assert result['failed'] and 'at least 1' in result['msg']
