"""certrelay.exim.relay_state run in-process on real files, with the real openssl rehash and
exim_dbmbuild; Exim validation is off here (the integration tests run it against a real Exim)."""

import errno
import json
import os
import re
import shutil
import subprocess

import pytest
from ansible.module_utils import basic

from ansible_collections.certrelay.exim.plugins.module_utils import generations
from ansible_collections.certrelay.exim.plugins.modules import relay_state
from tests.lib.module import run_module
from tests.lib.pki import client_cert, make_cert, server_cert

EXIM = shutil.which('exim4') or shutil.which('exim')
needs_dbmbuild = pytest.mark.skipif(not shutil.which('exim_dbmbuild', path='/usr/sbin:/usr/bin'),
                                    reason='exim_dbmbuild not installed')


@pytest.fixture(scope='module')
def creds():
    return [client_cert('alice'), client_cert('bob', kind='ec'), client_cert('carol', kind='ed25519')]


@pytest.fixture(scope='module')
def relay():
    return server_cert()


def entry(cred, state='present'):
    return {'name': cred.name, 'certificate': cred.cert_pem, 'state': state}


def args(state, relay, certs, **extra):
    # rehash=openssl: links whatever the build (auto writes none for the GnuTLS exim of this host)
    return dict({'state_directory': str(state), 'group': 'daemon', 'validate': False, 'rehash': 'openssl',
                 'server_certificate': relay.cert_pem, 'server_privatekey': relay.key_pem,
                 'certificates': [c if isinstance(c, dict) else entry(c) for c in certs]}, **extra)


def run(arguments, check=False):
    return run_module(relay_state.main, arguments, check)


@pytest.fixture
def state(tmp_path):
    path = tmp_path / 'state'
    path.mkdir()
    return path


def current(state):
    return state / 'current'


def test_first_run_publishes_one_complete_generation(state, relay, creds):
    result = run(args(state, relay, creds, allowlist='file'))
    assert result['changed'] and result['added'] == ['alice', 'bob', 'carol']
    assert os.readlink(current(state)).startswith('g-')
    trust = current(state) / 'trust'
    assert sorted(p.name for p in trust.glob('*.pem')) == ['alice.pem', 'bob.pem', 'carol.pem']
    assert len([p for p in trust.iterdir() if p.is_symlink()]) == 3
    assert (current(state) / 'server.key').stat().st_mode & 0o777 == 0o640
    assert (current(state) / 'server.key').group() == 'daemon'
    allowlist = (current(state) / 'allowlist').read_text()
    assert f'{creds[1].fingerprint}: bob' in allowlist
    macros = (current(state) / 'allowlist.conf').read_text()
    assert 'lsearch{RELAY_FROM_CERTS_FILE}' in macros and str(state / 'current' / 'allowlist') in macros
    assert relay.key_pem.splitlines()[1] not in str(result)


def test_second_run_changes_nothing(state, relay, creds):
    run(args(state, relay, creds))
    generation = os.readlink(current(state))
    again = run(args(state, relay, creds))
    assert not again['changed'] and os.readlink(current(state)) == generation


def test_a_change_makes_a_new_generation_and_removes_the_old(state, relay, creds):
    run(args(state, relay, creds))
    old = os.readlink(current(state))
    result = run(args(state, relay, [creds[0], entry(creds[1], 'absent')]))
    assert result['changed'] and result['removed'] == ['bob', 'carol']
    assert result['unmanaged'] == []  # a revocation is not a stray
    assert os.readlink(current(state)) != old and not (state / old).exists()
    assert sorted(p.name for p in (current(state) / 'trust').glob('*.pem')) == ['alice.pem']
    assert 'bob.pem ' + creds[1].fingerprint in result['diff'][0]['before']


def test_macro_mode_lists_fingerprints_and_acl_gets_the_condition(state, relay, creds):
    acl = 'accept verify = certificate\n       condition = CERTRELAY_ALLOWED\n'
    run(args(state, relay, creds[:2], allowlist='macro', acl=acl))
    macros = (current(state) / 'allowlist.conf').read_text()
    assert creds[0].fingerprint in macros and 'CERTRELAY_ALLOWED = ${if inlist' in macros
    written = (current(state) / 'acl_check_rcpt').read_text()
    assert 'CERTRELAY_ALLOWED' not in written
    assert '${if inlist{${sha256:$tls_in_peercert}}{%s : %s}}' % (creds[0].fingerprint, creds[1].fingerprint) in written


def test_check_mode_reports_and_writes_nothing(state, relay, creds):
    result = run(args(state, relay, creds), check=True)
    assert result['changed'] and result['added'] == ['alice', 'bob', 'carol']
    assert list(state.iterdir()) == []


def test_leftovers_and_planted_entries_are_removed(state, relay, creds):
    run(args(state, relay, creds[:1]))
    trust = current(state) / 'trust'
    (trust / '.certrelay-deadbeef').write_text(creds[2].cert_pem)
    (trust / 'bob.pem').symlink_to('/nonexistent')
    (trust / 'planted.pem').write_text(creds[2].cert_pem)  # a valid certificate nobody listed
    (state / '.build-12345678').mkdir()
    (state / '.current-abcd').symlink_to('g-x')
    result = run(args(state, relay, creds[:1]))
    assert result['changed']
    assert sorted(result['unmanaged']) == ['trust/.certrelay-deadbeef', 'trust/bob.pem', 'trust/planted.pem']
    assert sorted(result['removed_leftovers']) == ['.build-12345678', '.current-abcd']
    assert sorted(p.name for p in (current(state) / 'trust').iterdir() if not p.is_symlink()) == ['alice.pem']
    assert sorted(p.name for p in state.iterdir()) == sorted(['.lock', 'current', os.readlink(current(state))])


def test_a_missing_hash_link_is_rebuilt(state, relay, creds):
    run(args(state, relay, creds))
    link = next(p for p in (current(state) / 'trust').iterdir() if p.is_symlink())
    link.unlink()
    result = run(args(state, relay, creds))
    assert result['changed']
    assert len([p for p in (current(state) / 'trust').iterdir() if p.is_symlink()]) == 3


def test_unchanged_files_are_hard_links_of_the_previous_generation(state, relay, creds):
    run(args(state, relay, creds))
    before = (current(state) / 'trust' / 'alice.pem').stat().st_ino
    run(args(state, relay, creds[:2]))
    assert (current(state) / 'trust' / 'alice.pem').stat().st_ino == before


def test_a_failed_build_still_publishes_the_revocations(state, relay, creds, monkeypatch):
    run(args(state, relay, creds[:2]))
    newcomer = client_cert('dave', kind='ec')
    original = generations.Builder.write

    def full_disk(self, relpath, wanted):
        if relpath == 'trust/dave.pem':
            raise generations.worded(OSError(errno.ENOSPC, 'No space left on device'), self._target(relpath))
        return original(self, relpath, wanted)

    monkeypatch.setattr(generations.Builder, 'write', full_disk)
    result = run(args(state, relay, [creds[0], entry(creds[1], 'absent'), newcomer]))
    assert result['failed']
    assert 'no space left writing' in result['msg'] and 'dave.pem' in result['msg']
    assert 'bob' in result['msg'] and 'no longer trusted' in result['msg']
    assert sorted(p.name for p in (current(state) / 'trust').glob('*.pem')) == ['alice.pem']
    assert 'bob' not in (current(state) / 'allowlist').read_text()
    assert not [p for p in state.iterdir() if p.name.startswith('.build-')]


def test_the_lock_is_exclusive_and_names_the_holder(state, relay, creds):
    with generations.Lock(str(state), 1, 'the first run'):
        result = run(args(state, relay, creds, lock_timeout=1))
    assert result['failed'] and 'the first run' in result['msg'] and 'nothing was changed' in result['msg']
    assert not current(state).exists()


@pytest.mark.parametrize('bad, message', [
    ({'name': '.hidden', 'certificate': 'x'}, 'invalid name'),
    ({'name': 'a/b', 'certificate': 'x'}, 'invalid name'),
    ({'name': 'nocert'}, 'certificate is required'),
])
def test_bad_entries_change_nothing(state, relay, bad, message):
    result = run(args(state, relay, [dict(bad, state='present')]))
    assert result['failed'] and message in result['msg']
    assert list(state.iterdir()) == []


def test_a_private_key_as_client_certificate_is_refused_without_quoting_it(state, relay):
    result = run(args(state, relay, [{'name': 'x', 'certificate': relay.key_pem}]))
    assert result['failed'] and 'private key' in result['msg']
    assert relay.key_pem.splitlines()[1] not in result['msg']


def test_one_certificate_under_two_names_is_refused(state, relay, creds):
    result = run(args(state, relay, [entry(creds[0]), {'name': 'alias', 'certificate': creds[0].cert_pem}]))
    assert result['failed'] and 'alias = alice' in result['msg']


def dbm_lookup(dbm, key):
    proc = subprocess.run([EXIM, '-C', '/dev/null', '-be', '${lookup{%s}dbm{%s}{$value}}' % (key, dbm)],
                          check=True, capture_output=True, text=True, timeout=60)
    return proc.stdout.strip()


@needs_dbmbuild
def test_dbm_index_is_what_exim_looks_up_and_follows_revocation(state, relay, creds):
    run(args(state, relay, creds, allowlist='dbm'))
    dbm = current(state) / 'allowlist.db'
    assert dbm_lookup(dbm, creds[1].fingerprint) == 'bob'
    assert dbm_lookup(dbm, creds[1].fingerprint.lower()) == ''  # case-exact: -nolc
    assert not run(args(state, relay, creds, allowlist='dbm'))['changed']
    run(args(state, relay, creds[:1], allowlist='dbm'))
    assert dbm_lookup(current(state) / 'allowlist.db', creds[1].fingerprint) == ''


@needs_dbmbuild
def test_a_failed_dbm_build_switches_nothing(state, relay, creds, monkeypatch):
    run(args(state, relay, creds, allowlist='dbm'))
    before = os.readlink(current(state))
    original = basic.AnsibleModule.run_command

    def failing(self, cmd, *a, **kw):
        if 'exim_dbmbuild' in cmd[0]:
            return 1, '', 'simulated failure'
        return original(self, cmd, *a, **kw)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', failing)
    failed = run(args(state, relay, creds + [client_cert('erin', kind='ec')], allowlist='dbm'))
    assert failed['failed'] and 'simulated failure' in failed['msg']
    assert os.readlink(current(state)) == before


def test_config_is_installed_after_the_switch_and_legacy_paths_go(tmp_path, state, relay, creds):
    config = tmp_path / 'exim.conf'
    legacy = tmp_path / 'trust'
    legacy.mkdir()
    (legacy / 'old.pem').write_text(creds[0].cert_pem)
    text = '.include %s/current/allowlist.conf\n' % state
    result = run(args(state, relay, creds, config_file=str(config), config=text, legacy_paths=[str(legacy)]))
    assert result['config_changed'] and config.read_text() == text
    assert result['removed_legacy'] == [str(legacy)] and not legacy.exists()
    assert not run(args(state, relay, creds, config_file=str(config), config=text, legacy_paths=[str(legacy)]))['changed']


def test_something_else_than_the_link_at_current_is_replaced(state, relay, creds):
    planted = current(state)
    planted.mkdir()
    (planted / 'trust').mkdir()
    (planted / 'trust' / 'evil.pem').write_text(creds[2].cert_pem)
    result = run(args(state, relay, creds[:1]))
    assert result['changed'] and gen_current_is_ours(state)
    assert 'current' in result['unmanaged']
    assert sorted(p.name for p in (current(state) / 'trust').glob('*.pem')) == ['alice.pem']


def gen_current_is_ours(state):
    return current(state).is_symlink() and os.readlink(current(state)).startswith('g-')


def test_a_state_directory_others_can_write_is_refused(state, relay, creds):
    state.chmod(0o777)
    result = run(args(state, relay, creds))
    assert result['failed'] and 'writable by nobody else' in result['msg']
    assert not current(state).exists()


@pytest.mark.skipif(not EXIM or os.geteuid() != 0, reason='needs exim and root')
def test_validation_reads_the_new_generation_as_exim_does(tmp_path, relay, creds):
    """An ACL file named by the configuration is read by Exim's user during the probe: the
    generation being built must already be readable by it (the Debian layout's case)."""
    from tests.lib import exim
    root = exim.make_traversable(tmp_path)
    state = root / 'state'
    state.mkdir()
    for sub in ('spool', 'log'):
        (root / sub).mkdir()
    exim.chown_exim(root / 'spool', root / 'log')
    config = root / 'exim.conf'
    config.write_text(f'primary_hostname = relay.example.com\nspool_directory = {root}/spool\n'
                      f'log_file_path = {root}/log/%slog\nacl_smtp_rcpt = {state}/current/acl_check_rcpt\n')
    acl = 'accept  verify = certificate\n        condition = CERTRELAY_ALLOWED\ndeny    message = relay not permitted\n'
    common = dict(group='Debian-exim', validate=True, exim=EXIM, acl=acl, config_file=str(config), allowlist='file')
    first = run(dict(args(state, relay, creds), **common))
    assert not first.get('failed'), first
    second = run(dict(args(state, relay, [creds[0], entry(creds[1], 'absent')]), **common))
    assert not second.get('failed'), second
    assert second['removed'] == ['bob', 'carol']


def test_revoke_only_keeps_everything_but_the_removed_certificates(state, relay, creds):
    acl = 'accept verify = certificate\n       condition = CERTRELAY_ALLOWED\n'
    run(args(state, relay, creds, allowlist='macro', acl=acl))
    crt_before = (current(state) / 'server.crt').read_bytes()
    other = server_cert('other')
    # the requested server certificate and mode are ignored: only the current ones stay
    result = run(dict(args(state, other, [], allowlist='file'), revoke_only=True, keep=['alice', 'carol']))
    assert result['changed'] and result['removed'] == ['bob']
    assert (current(state) / 'server.crt').read_bytes() == crt_before
    assert sorted(p.name for p in (current(state) / 'trust').glob('*.pem')) == ['alice.pem', 'carol.pem']
    written = (current(state) / 'acl_check_rcpt').read_text()
    assert creds[1].fingerprint not in written and creds[0].fingerprint in written and 'inlist' in written
    assert creds[1].fingerprint not in (current(state) / 'allowlist.conf').read_text()
    again = run(dict(args(state, other, []), revoke_only=True, keep=['alice', 'carol']))
    assert not again['changed']


def test_revoke_only_without_a_state_changes_nothing(tmp_path, relay):
    result = run(dict(args(tmp_path / 'none', relay, []), revoke_only=True, keep=[]))
    assert not result['changed'] and not result.get('failed')
    assert not (tmp_path / 'none').exists()


def test_when_nothing_can_be_written_the_revoked_files_are_deleted_in_place(state, relay, creds, monkeypatch):
    run(args(state, relay, creds))
    original = generations.Builder.write

    def full_disk(self, relpath, wanted):
        raise generations.worded(OSError(errno.ENOSPC, 'No space left on device'), self._target(relpath))

    monkeypatch.setattr(generations.Builder, 'write', full_disk)
    result = run(args(state, relay, [creds[0], entry(creds[1], 'absent'), client_cert('dave', kind='ec')]))
    monkeypatch.setattr(generations.Builder, 'write', original)
    assert result['failed'] and 'deleted from the current trust directory' in result['msg']
    trust = current(state) / 'trust'
    assert sorted(p.name for p in trust.glob('*.pem')) == ['alice.pem']
    assert all(os.readlink(p) == 'alice.pem' for p in trust.iterdir() if p.is_symlink())
    done = run(args(state, relay, [creds[0], entry(creds[1], 'absent')]))
    assert done['changed'] and sorted(p.name for p in (current(state) / 'trust').glob('*.pem')) == ['alice.pem']
    assert 'bob' not in (current(state) / 'allowlist').read_text()


def test_a_planted_hash_link_to_a_trusted_certificate_is_removed(state, relay, creds):
    run(args(state, relay, creds))
    (current(state) / 'trust' / 'deadbeef.7').symlink_to('alice.pem')
    result = run(args(state, relay, creds))
    assert result['changed'] and result['unmanaged'] == ['trust/deadbeef.7']
    assert not (current(state) / 'trust' / 'deadbeef.7').exists()
    assert not run(args(state, relay, creds))['changed']


def test_certificates_json_is_the_same_list_as_certificates(tmp_path, relay, creds):
    listed, as_json = tmp_path / 'listed', tmp_path / 'json'
    listed.mkdir(), as_json.mkdir()
    first = run(args(listed, relay, creds))
    arguments = args(as_json, relay, [])
    del arguments['certificates']
    arguments['certificates_json'] = json.dumps([entry(c) for c in creds] + [{'name': 'dave', 'state': 'absent'}])
    second = run(arguments)
    assert second['added'] == first['added'] == ['alice', 'bob', 'carol']
    assert (current(as_json) / 'allowlist').read_bytes() == (current(listed) / 'allowlist').read_bytes()


@pytest.mark.parametrize('text, message', [
    ('[{"name": "a"', 'certificates_json is not JSON'),
    ('{"name": "a"}', 'must be a JSON list of objects'),
    ('[{"name": "a", "certificat": "x"}]', r'certificates_json\[0\] must be an object with the keys'),
    ('[{"name": 1}]', r'certificates_json\[0\]: name \(required\) and certificate must be strings'),
    ('[{"name": "a", "state": "gone"}]', 'state must be present or absent'),
])
def test_certificates_json_is_checked_like_the_option(state, relay, text, message):
    arguments = args(state, relay, [])
    del arguments['certificates']
    arguments['certificates_json'] = text
    result = run(arguments)
    assert result['failed'] and re.search(message, result['msg'])
    assert not current(state).exists()


def fake_exim(directory, support):
    """An `exim` that answers -bV with the given "Support for:" words (none: no such line)."""
    path = directory / f'exim-{support or "bare"}'
    line = f'echo "Support for: iconv() {support} DKIM"' if support else 'true'
    path.write_text(f'#!/bin/sh\necho "Exim version 4.96 #2"\n{line}\n')
    path.chmod(0o755)
    return str(path)


def hide_rehash_tools(monkeypatch):
    original = basic.AnsibleModule.get_bin_path

    def get_bin_path(self, name, *rest, **kwargs):
        return None if name in ('openssl', 'c_rehash') else original(self, name, *rest, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)


@pytest.fixture
def no_rehash_tools(monkeypatch):
    hide_rehash_tools(monkeypatch)


def links(state):
    return sorted(p.name for p in (current(state) / 'trust').iterdir() if p.is_symlink())


@pytest.mark.parametrize('support, library', [('OpenSSL', 'openssl'), ('GnuTLS', 'gnutls'), ('', '')])
def test_rehash_auto_reports_the_tls_library_of_the_binary(tmp_path, state, relay, creds, support, library):
    result = run(args(state, relay, creds, exim=fake_exim(tmp_path, support), rehash='auto'))
    assert not result.get('failed'), result
    assert result['tls_library'] == library
    # GnuTLS never looks at links; an OpenSSL build, or one that cannot be told, gets them
    assert len(links(state)) == (0 if library == 'gnutls' else len(creds))


def test_moving_to_an_openssl_build_adds_the_links(tmp_path, state, relay, creds):
    assert run(args(state, relay, creds, exim=fake_exim(tmp_path, 'GnuTLS'), rehash='auto'))['changed']
    assert links(state) == []
    assert run(args(state, relay, creds, exim=fake_exim(tmp_path, 'GnuTLS'), rehash='auto'))['changed'] is False
    moved = run(args(state, relay, creds, exim=fake_exim(tmp_path, 'OpenSSL'), rehash='auto'))
    assert moved['changed'] and len(links(state)) == len(creds)


def test_rehash_auto_without_tools_refuses_an_openssl_build_before_touching_anything(
        tmp_path, state, relay, creds, no_rehash_tools):
    result = run(args(state, relay, creds, exim=fake_exim(tmp_path, 'OpenSSL'), rehash='auto'))
    assert result['failed'] and 'is built with OpenSSL' in result['msg'] and 'nothing was changed' in result['msg']
    assert list(state.iterdir()) == []


def test_rehash_auto_without_tools_is_quiet_for_gnutls_and_warns_when_unknown(tmp_path, state, relay, creds,
                                                                              no_rehash_tools, monkeypatch):
    # recorded here: where a controller is loaded in-process, warnings go to its display instead
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, message, **kw: warned.append(message))
    result = run(args(state, relay, creds, exim=fake_exim(tmp_path, 'GnuTLS'), rehash='auto'))
    assert not result.get('failed') and not warned, (result, warned)
    assert links(state) == []
    other = tmp_path / 'other'
    other.mkdir()
    unknown = run(args(other, relay, creds, exim=str(tmp_path / 'no-such-exim'), rehash='auto'))
    assert unknown['tls_library'] == '' and any('no hash links written' in message for message in warned)


def test_revoking_on_an_openssl_build_without_tools_still_revokes(tmp_path, state, relay, creds, monkeypatch):
    exim = fake_exim(tmp_path, 'OpenSSL')
    assert not run(args(state, relay, creds, exim=exim, rehash='auto')).get('failed')
    hide_rehash_tools(monkeypatch)
    result = run({'state_directory': str(state), 'group': 'daemon', 'validate': False, 'exim': exim,
                  'revoke_only': True, 'keep': [creds[0].name]})
    assert not result.get('failed') and result['removed'] == sorted(c.name for c in creds[1:]), result
    assert sorted(p.name for p in (current(state) / 'trust').iterdir()) == [f'{creds[0].name}.pem']


def test_shared_subjects_without_key_identifiers_are_warned_about(tmp_path, state, relay, monkeypatch):
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, message, **kw: warned.append(message))
    plain = [make_cert(f'twin{i}', 'twin.example.com', kind='ec') for i in range(2)]
    with_ids = [make_cert(f'kid{i}', 'kid.example.com', kind='ec', key_ids=True) for i in range(2)]
    result = run(args(state, relay, plain + with_ids, exim=fake_exim(tmp_path, 'OpenSSL'), rehash='auto'))
    assert not result.get('failed'), result
    assert len(warned) == 1 and 'twin0, twin1' in warned[0] and 'kid' not in warned[0], warned
    other = tmp_path / 'gnutls'
    other.mkdir()
    warned.clear()
    run(args(other, relay, plain, exim=fake_exim(tmp_path, 'GnuTLS'), rehash='auto'))
    assert warned == []


@pytest.mark.parametrize('mode, lookup', [('macro', '${extract{${sha256:$tls_in_peercert}}{%s=alice %s=bob}}'),
                                          ('file', '${lookup{${sha256:$tls_in_peercert}}lsearch{%s}}'),
                                          ('dbm', '${lookup{${sha256:$tls_in_peercert}}dbm{%s}}')])
def test_both_acl_files_get_the_client_name_lookup(state, relay, creds, mode, lookup):
    if mode == 'dbm' and not shutil.which('exim_dbmbuild'):
        pytest.skip('needs exim_dbmbuild')
    acl = 'accept condition = CERTRELAY_ALLOWED\n       set acl_m_certrelay_client = CERTRELAY_CLIENT_NAME\n'
    data = 'warn logwrite = CERTRELAY_CLIENT_NAME\n'
    run(args(state, relay, creds[:2], allowlist=mode, acl=acl, data_acl=data))
    live = state / 'current'
    expected = lookup % ((creds[0].fingerprint, creds[1].fingerprint) if mode == 'macro'
                         else (live / ('allowlist.db' if mode == 'dbm' else 'allowlist'),))
    for name in ('acl_check_rcpt', 'acl_check_data'):
        written = (current(state) / name).read_text()
        assert 'CERTRELAY_' not in written and expected in written
    macros = (current(state) / 'allowlist.conf').read_text()
    assert 'CERTRELAY_CLIENT_NAME = ' in macros


def test_revoke_only_takes_the_name_out_of_both_acl_files(state, relay, creds):
    acl = 'accept condition = CERTRELAY_ALLOWED\n       set acl_m_certrelay_client = CERTRELAY_CLIENT_NAME\n'
    run(args(state, relay, creds, allowlist='macro', acl=acl, data_acl='warn logwrite = CERTRELAY_CLIENT_NAME\n'))
    result = run(dict(args(state, relay, []), revoke_only=True, keep=['alice']))
    assert result['removed'] == ['bob', 'carol']
    for name in ('acl_check_rcpt', 'acl_check_data'):
        written = (current(state) / name).read_text()
        assert f'{creds[0].fingerprint}=alice' in written
        assert creds[1].fingerprint not in written and '=bob' not in written


@pytest.fixture(scope='module')
def fleet_ca():
    from tests.lib.pki import ca_cert
    return ca_cert('fleet-ca', 'Fleet CA'), ca_cert('second-ca', 'Second CA')


def ca_file(ca):
    return f'ca+{ca.fingerprint[:16]}.pem'


def test_client_cas_and_their_crl_are_part_of_the_generation(state, relay, creds, fleet_ca):
    from tests.lib.pki import issue_cert, make_crl
    ca, second = fleet_ca
    crl = make_crl(ca)
    result = run(args(state, relay, creds[:1], ca_certificates=[ca.cert_pem], crl=crl, cert_acl='accept\n'))
    assert result['changed']
    trust = current(state) / 'trust'
    assert (trust / ca_file(ca)).read_text() == ca.cert_pem
    assert sorted(os.readlink(p) for p in trust.iterdir() if p.is_symlink()) == ['alice.pem', ca_file(ca)]
    assert (current(state) / 'crl.pem').read_text() == crl
    assert (current(state) / 'acl_tls_cert').read_text() == 'accept\n'
    # the CA is no client: not in the allowlist
    assert ca.fingerprint not in (current(state) / 'allowlist').read_text()
    assert not run(args(state, relay, creds[:1], ca_certificates=[ca.cert_pem], crl=crl, cert_acl='accept\n'))['changed']
    # a new CRL alone: a new generation, the CA file a hard link of the old one
    generation = os.readlink(current(state))
    inode = (trust / ca_file(ca)).stat().st_ino
    newer = make_crl(ca, [issue_cert('ann', ca)], number=2)
    result = run(args(state, relay, creds[:1], ca_certificates=[ca.cert_pem], crl=newer, cert_acl='accept\n'))
    assert result['changed'] and os.readlink(current(state)) != generation
    assert '(replaced) crl.pem' in result['diff'][0]['after']
    assert (current(state) / 'crl.pem').read_text() == newer
    assert (current(state) / 'trust' / ca_file(ca)).stat().st_ino == inode
    # another CA instead: the old file and its link go, no CRL file without a CRL
    result = run(args(state, relay, creds[:1], ca_certificates=[second.cert_pem]))
    assert result['changed']
    names = sorted(p.name for p in (current(state) / 'trust').iterdir() if not p.is_symlink())
    assert names == ['alice.pem', ca_file(second)]
    assert sorted(os.readlink(p) for p in (current(state) / 'trust').iterdir() if p.is_symlink()) == \
        ['alice.pem', ca_file(second)]
    assert not (current(state) / 'crl.pem').exists() and not (current(state) / 'acl_tls_cert').exists()
    assert result['unmanaged'] == []


def test_revoke_only_keeps_the_cas_and_the_crl(state, relay, creds, fleet_ca):
    from tests.lib.pki import make_crl
    ca = fleet_ca[0]
    crl = make_crl(ca)
    run(args(state, relay, creds, ca_certificates=[ca.cert_pem], crl=crl, cert_acl='accept\n'))
    result = run(dict(args(state, relay, []), revoke_only=True, keep=['alice']))
    assert result['removed'] == ['bob', 'carol']
    assert (current(state) / 'trust' / ca_file(ca)).is_file()
    assert (current(state) / 'crl.pem').read_text() == crl
    assert (current(state) / 'acl_tls_cert').read_text() == 'accept\n'


@pytest.mark.parametrize('extra, message', [
    ({'crl': 'not a crl'}, 'crl must hold only PEM "X509 CRL" blocks'),
    ({'crl': '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\ntrailing words'}, 'crl must hold only PEM'),
    ({'ca_certificates': ['garbage']}, 'ca_certificates[0]'),
])
def test_bad_ca_input_changes_nothing(state, relay, creds, extra, message):
    result = run(args(state, relay, creds[:1], **extra))
    assert result['failed'] and message in result['msg'], result
    assert list(state.iterdir()) == []


def test_a_ca_that_is_also_a_client_is_refused(state, relay, fleet_ca):
    ca = fleet_ca[0]
    result = run(args(state, relay, [{'name': 'ca', 'certificate': ca.cert_pem}], ca_certificates=[ca.cert_pem]))
    assert result['failed'] and 'ca_certificates[0] is also listed as a client certificate' in result['msg']
