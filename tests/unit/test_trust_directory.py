"""certrelay.exim.trust_directory, run in-process with real files and the real openssl rehash."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from ansible.module_utils import basic

from ansible_collections.certrelay.exim.plugins.modules import trust_directory
from tests.lib.module import run_module
from tests.lib.pki import client_cert, make_cert


def run(args, check=False):
    return run_module(trust_directory.main, args, check)


def entry(cred, state='present'):
    return {'name': cred.name, 'certificate': cred.cert_pem, 'state': state}


@pytest.fixture(scope='module')
def creds():
    return [client_cert('alice'), client_cert('bob', kind='ec'), client_cert('carol', kind='ed25519')]


@pytest.fixture
def trust(tmp_path):
    return tmp_path / 'trust'


def listing(path):
    return {p.name: (os.readlink(p) if p.is_symlink() else p.read_bytes()) for p in sorted(path.iterdir())}


def test_first_run_writes_rehashes_and_reports_fingerprints(trust, creds):
    result = run({'path': str(trust), 'certificates': [entry(c) for c in creds]})
    assert result['changed'] and result['rehashed']
    assert result['added'] == ['alice', 'bob', 'carol'] and result['removed'] == []
    assert result['fingerprints'] == {c.name: c.fingerprint for c in creds}
    for cred in creds:
        assert (trust / f'{cred.name}.pem').read_text() == cred.cert_pem
        assert oct((trust / f'{cred.name}.pem').stat().st_mode & 0o777) == '0o644'
    links = [p for p in trust.iterdir() if p.is_symlink()]
    assert len(links) == 3 and all(link.resolve().exists() for link in links)


def test_second_run_touches_nothing(trust, creds):
    args = {'path': str(trust), 'certificates': [entry(c) for c in creds]}
    run(args)
    before = {p.name: p.lstat().st_mtime_ns for p in trust.iterdir()}
    result = run(args)
    assert not result['changed'] and not result['rehashed']
    assert result['added'] == result['updated'] == result['removed'] == []
    assert {p.name: p.lstat().st_mtime_ns for p in trust.iterdir()} == before


def test_equivalent_pem_text_is_not_a_change(trust, creds):
    run({'path': str(trust), 'certificates': [entry(creds[0])]})
    messy = 'subject=CN=alice\r\n\n' + creds[0].cert_pem.replace('\n', '\r\n') + '\n\n'
    result = run({'path': str(trust), 'certificates': [{'name': 'alice', 'certificate': messy}]})
    assert not result['changed']


def test_check_mode_reports_and_writes_nothing(trust, creds):
    result = run({'path': str(trust), 'certificates': [entry(c) for c in creds]}, check=True)
    assert result['changed'] and result['added'] == ['alice', 'bob', 'carol']
    assert 'alice.pem ' + creds[0].fingerprint in result['diff']['after']
    assert not trust.exists()


def test_prune_removes_stale_files_and_their_links_only(trust, creds):
    run({'path': str(trust), 'certificates': [entry(c) for c in creds]})
    (trust / 'README').write_text('not a certificate')
    result = run({'path': str(trust), 'certificates': [entry(creds[0])]})
    assert result['removed'] == ['bob', 'carol'] and result['rehashed']
    assert sorted(p.name for p in trust.glob('*.pem')) == ['alice.pem']
    assert all(p.resolve().exists() for p in trust.iterdir())
    assert len([p for p in trust.iterdir() if p.is_symlink()]) == 1
    assert (trust / 'README').exists() and result['unmanaged'] == ['README']


def test_absent_entries_are_removed_even_without_prune(trust, creds):
    run({'path': str(trust), 'certificates': [entry(c) for c in creds]})
    result = run({'path': str(trust), 'prune': False,
                  'certificates': [entry(creds[0]), {'name': 'bob', 'state': 'absent'}]})
    assert result['removed'] == ['bob']
    assert sorted(p.name for p in trust.glob('*.pem')) == ['alice.pem', 'carol.pem']


def test_replaced_certificate_is_updated(trust, creds):
    run({'path': str(trust), 'certificates': [entry(creds[0])]})
    renewed = client_cert('alice')
    result = run({'path': str(trust), 'certificates': [entry(renewed)]})
    assert result['updated'] == ['alice'] and result['rehashed']
    assert result['fingerprints']['alice'] == renewed.fingerprint
    assert (trust / 'alice.pem').read_text() == renewed.cert_pem


def test_mode_drift_is_fixed_without_rehash(trust, creds):
    run({'path': str(trust), 'certificates': [entry(creds[0])]})
    (trust / 'alice.pem').chmod(0o600)
    result = run({'path': str(trust), 'certificates': [entry(creds[0])]})
    assert result['changed'] and result['updated'] == ['alice'] and not result['rehashed']
    assert (trust / 'alice.pem').stat().st_mode & 0o777 == 0o644


def test_missing_hash_link_triggers_rehash(trust, creds):
    run({'path': str(trust), 'certificates': [entry(creds[0])]})
    for link in [p for p in trust.iterdir() if p.is_symlink()]:
        link.unlink()
    result = run({'path': str(trust), 'certificates': [entry(creds[0])]})
    assert result['changed'] and result['rehashed']
    assert any(p.is_symlink() for p in trust.iterdir())


def test_rehash_none_writes_no_links(trust, creds):
    run({'path': str(trust), 'rehash': 'none', 'certificates': [entry(creds[0])]})
    assert [p.name for p in trust.iterdir()] == ['alice.pem']


def test_allowlist_file(tmp_path, trust, creds):
    allow = tmp_path / 'allowlist'
    result = run({'path': str(trust), 'allowlist_file': str(allow), 'certificates': [entry(c) for c in creds]})
    assert result['allowlist_changed']
    lines = allow.read_text().splitlines()
    assert [line for line in lines if not line.startswith('#')] == [f'{c.fingerprint}: {c.name}' for c in creds]
    again = run({'path': str(trust), 'allowlist_file': str(allow), 'certificates': [entry(c) for c in creds]})
    assert not again['changed'] and not again['allowlist_changed']


def test_allowlist_inside_trust_dir_is_refused(trust, creds):
    result = run({'path': str(trust), 'allowlist_file': str(trust / 'allow'), 'certificates': [entry(creds[0])]})
    assert result['failed'] and 'outside the trust directory' in result['msg']
    assert not trust.exists()


@pytest.mark.parametrize('certificate, message', [
    ('garbage', 'contains no PEM certificate'),
    ('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'private key'),
])
def test_bad_certificate_fails_before_writing(trust, creds, certificate, message):
    result = run({'path': str(trust), 'certificates': [entry(creds[0]), {'name': 'bad', 'certificate': certificate}]})
    assert result['failed'] and message in result['msg'] and 'bad' in result['msg']
    assert not trust.exists()


@pytest.mark.parametrize('name', ['../x', '.hidden', 'a/b', ''])
def test_bad_names_are_refused(trust, creds, name):
    result = run({'path': str(trust), 'certificates': [{'name': name, 'certificate': creds[0].cert_pem}]})
    assert result['failed'] and 'invalid name' in result['msg']


def test_duplicate_names_are_refused(trust, creds):
    result = run({'path': str(trust), 'certificates': [entry(creds[0]), entry(creds[0])]})
    assert result['failed'] and 'duplicate name' in result['msg']


def test_works_without_cryptography_on_the_target(tmp_path, creds):
    """The module hashes DER with hashlib: block cryptography and run it as Ansible would."""
    args = {'ANSIBLE_MODULE_ARGS': {'path': str(tmp_path / 't'), 'certificates': [entry(creds[0])],
                                    'rehash': 'none'}}
    code = ('import sys; sys.modules["cryptography"] = None\n'
            'from ansible_collections.certrelay.exim.plugins.modules import trust_directory\n'
            'trust_directory.main()\n')
    proc = subprocess.run([sys.executable, '-c', code, json.dumps(args)], check=False, capture_output=True, text=True,
                          env=dict(os.environ), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)['fingerprints'] == {'alice': creds[0].fingerprint}


def test_ca_signed_leaf_writes_only_the_leaf(trust):
    ca = make_cert('ca')
    leaf = make_cert('leaf', issuer=ca)
    result = run({'path': str(trust), 'certificates': [{'name': 'leaf', 'certificate': leaf.cert_pem + ca.cert_pem}]})
    assert result['fingerprints'] == {'leaf': leaf.fingerprint}
    assert (trust / 'leaf.pem').read_text() == leaf.cert_pem


EXIM = shutil.which('exim4') or shutil.which('exim')
needs_dbmbuild = pytest.mark.skipif(not shutil.which('exim_dbmbuild', path='/usr/sbin:/usr/local/sbin:/usr/bin')
                                    or not EXIM, reason='Exim (exim_dbmbuild) is not installed')


def dbm_lookup(dbm, key):
    """What Exim's own dbm lookup finds for key ('' when nothing)."""
    proc = subprocess.run([EXIM, '-C', '/dev/null', '-be', '${lookup{%s}dbm{%s}{$value}}' % (key, dbm)],
                          check=True, capture_output=True, text=True, timeout=60)
    return proc.stdout.strip()


def dbm_args(tmp_path, trust, certs):
    return {'path': str(trust), 'allowlist_file': str(tmp_path / 'allowlist'), 'group': 'daemon',
            'allowlist_dbm': str(tmp_path / 'allowlist.db'), 'certificates': [entry(c) for c in certs]}


@needs_dbmbuild
def test_allowlist_dbm_is_what_exim_looks_up_and_follows_revocation(tmp_path, trust, creds):
    dbm = tmp_path / 'allowlist.db'
    first = run(dbm_args(tmp_path, trust, creds))
    assert first['allowlist_dbm_built']
    assert dbm.group() == 'daemon' and dbm.stat().st_mode & 0o777 == 0o644
    assert dbm_lookup(dbm, creds[1].fingerprint) == 'bob'
    assert dbm_lookup(dbm, creds[1].fingerprint.lower()) == ''  # case-exact: -nolc
    built = dbm.stat().st_mtime_ns
    again = run(dbm_args(tmp_path, trust, creds))
    assert not again['changed'] and not again['allowlist_dbm_built'] and dbm.stat().st_mtime_ns == built
    revoked = run(dbm_args(tmp_path, trust, creds[:1]))
    assert revoked['allowlist_changed'] and revoked['allowlist_dbm_built']
    assert dbm_lookup(dbm, creds[1].fingerprint) == '' and dbm_lookup(dbm, creds[0].fingerprint) == 'alice'
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.certrelay-')]


@needs_dbmbuild
def test_allowlist_dbm_is_rebuilt_when_lost_or_older_than_the_list(tmp_path, trust, creds):
    dbm = tmp_path / 'allowlist.db'
    run(dbm_args(tmp_path, trust, creds))
    dbm.unlink()
    restored = run(dbm_args(tmp_path, trust, creds))
    assert restored['changed'] and restored['allowlist_dbm_built'] and not restored['allowlist_changed']
    # file mode revokes bob (the index is not used then); back in dbm mode the index must follow.
    file_mode = dict(dbm_args(tmp_path, trust, creds[:1]), allowlist_dbm=None)
    assert run(file_mode)['allowlist_changed'] and dbm_lookup(dbm, creds[1].fingerprint) == 'bob'
    back = run(dbm_args(tmp_path, trust, creds[:1]))
    assert back['allowlist_dbm_built'] and not back['allowlist_changed']
    assert dbm_lookup(dbm, creds[1].fingerprint) == ''


@needs_dbmbuild
def test_a_failed_dbm_build_changes_neither_file_and_is_retried(tmp_path, trust, creds, monkeypatch):
    dbm, allow = tmp_path / 'allowlist.db', tmp_path / 'allowlist'
    run(dbm_args(tmp_path, trust, creds))
    before = (allow.read_bytes(), dbm.read_bytes())
    original = basic.AnsibleModule.run_command

    def failing(self, cmd, *a, **kw):
        if 'exim_dbmbuild' in cmd[0]:
            return 1, '', 'simulated failure'
        return original(self, cmd, *a, **kw)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', failing)
    failed = run(dbm_args(tmp_path, trust, creds[:1]))
    assert failed['failed'] and 'simulated failure' in failed['msg']
    assert (allow.read_bytes(), dbm.read_bytes()) == before
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', original)
    retried = run(dbm_args(tmp_path, trust, creds[:1]))
    assert retried['allowlist_changed'] and retried['allowlist_dbm_built']
    assert dbm_lookup(dbm, creds[1].fingerprint) == ''
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.certrelay-')]


def test_allowlist_dbm_in_check_mode_builds_nothing(tmp_path, trust, creds):
    result = run(dbm_args(tmp_path, trust, creds[:1]), check=True)
    assert result['changed'] and result['allowlist_dbm_built']
    assert not (tmp_path / 'allowlist.db').exists() and not (tmp_path / 'allowlist').exists()


@pytest.mark.parametrize('extra, message', [
    ({'allowlist_dbm': '/tmp/x.db'}, 'give both'),
    ({'allowlist_file': '/tmp/x', 'allowlist_dbm': 'TRUST/x.db'}, 'outside the trust directory'),
    ({'allowlist_file': '/tmp/x', 'allowlist_dbm': '/tmp/x'}, 'another file'),
])
def test_allowlist_dbm_misuse_is_refused(trust, creds, extra, message):
    extra = {k: v.replace('TRUST', str(trust)) for k, v in extra.items()}
    result = run(dict({'path': str(trust), 'certificates': [entry(creds[0])]}, **extra))
    assert result['failed'] and message in result['msg']
    assert not trust.exists()


def test_one_certificate_under_two_names_is_refused_with_an_allowlist(tmp_path, trust, creds):
    twice = [entry(creds[0]), {'name': 'alias', 'certificate': creds[0].cert_pem}]
    result = run({'path': str(trust), 'allowlist_file': str(tmp_path / 'a'), 'certificates': twice})
    assert result['failed'] and 'alias = alice' in result['msg']
    assert not trust.exists() and not (tmp_path / 'a').exists()
