"""The fleet playbooks vs a naive laptop play.

site: one relay and N laptops on this machine (standalone layouts, local connection, forks 10),
N = 1 and 20, first run and re-run (the re-run must report changed=0); the cost of an extra laptop
is (t(20) - t(1)) / 19. The naive laptop play (benchmarks/naive/laptop.yml: six tasks per laptop)
runs for the same N in the same run. revoke and enroll of one laptop: fleet directory of 20 and of
1,000 enrolled certificates. Settings for large fleets: site at N=20 with more forks, pipelining
and the free strategy. Private-CA mode: the relays' side of enrolling 1,000 laptops - with 1,000
CA-issued certificates recorded in the fleet directory (signed here, as site/enroll record them),
enroll of one more laptop and site on the relays must report changed=0 for the relay and leave its
files byte for byte; revoke of one of them changes the CRL only. BENCH_QUICK=1: N = 1, 5; 20 vs 200
enrolled; no settings.
Results: benchmarks/results/fleet.json.
"""

import json
import shutil
import sys

import common
from common import REPO, scratch, timed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.certrelay.exim.plugins.plugin_utils.fleet_ca import Authority, create
from tests.lib import exim, pki
from tests.lib.ansible import run_playbook, tree_snapshot
from tests.lib.roles import loopback_relay_vars, standalone_laptop_vars

PLAYBOOKS = REPO / 'playbooks'
NAIVE = REPO / 'benchmarks' / 'naive' / 'laptop.yml'
BASE_ENV = {'ANSIBLE_FORKS': '10'}
SETTINGS = {
    'forks 20': {'ANSIBLE_FORKS': '20'},
    'pipelining': {'ANSIBLE_PIPELINING': '1'},
    'strategy free': {'ANSIBLE_STRATEGY': 'free'},
    'forks 20 + pipelining': {'ANSIBLE_FORKS': '20', 'ANSIBLE_PIPELINING': '1'},
}


class Fleet:
    """A relay and laptops below root, in an inventory beside their fleet directory."""

    def __init__(self, root, laptops, server, **all_vars):
        self.root = root
        relay = {**loopback_relay_vars(root / 'relay', exim.free_port(), server),
                 'certrelay_relay_address': '127.0.0.1'}
        hosts = {name: standalone_laptop_vars(root / name, name) for name in laptops}
        inventory = {'all': {
            'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable, **all_vars},
            'children': {'relays': {'hosts': {'relay1': relay}}, 'laptops': {'hosts': hosts}},
        }}
        self.inventory = root / 'inventory.yml'
        self.inventory.write_text(json.dumps(inventory))
        self.fleet_dir = root / 'fleet'

    def enrol_files(self, files):
        """Pre-enrolled laptops that are not in the inventory (certificates only)."""
        self.fleet_dir.mkdir(exist_ok=True)
        for path in files:
            shutil.copy(path, self.fleet_dir / f'laptop-{path.stem}.pem')

    def play(self, name, *args, env=None, **extra_vars):
        seconds, result = timed(run_playbook, PLAYBOOKS / f'{name}.yml', extra_vars, *args,
                                inventory=self.inventory, timeout=3600, env={**BASE_ENV, **(env or {})})
        if result.returncode != 0:
            sys.exit(f'{name} {" ".join(args)} failed:\n{result.output[-3000:]}')
        return seconds, result

    def naive(self):
        # made here: the six tasks are the laptop's, as in the issue
        (self.root / 'naive-fleet').mkdir(exist_ok=True)
        variables = {'naive_fleet_dir': str(self.root / 'naive-fleet'), 'naive_pin': 'pin\n'}
        variables['naive_dir'] = str(self.root) + '/naive/{{ inventory_hostname }}'
        seconds, result = timed(run_playbook, NAIVE, variables, inventory=self.inventory, timeout=3600,
                                env=BASE_ENV)
        if result.returncode != 0:
            sys.exit(f'naive laptop play failed:\n{result.output[-3000:]}')
        return seconds


def changed(result, hosts):
    return sum(result.recap(host).get('changed', 0) for host in hosts)


def site_runs(server, count):
    laptops = [f'laptop-{i}' for i in range(count)]
    with scratch(f'bench-fleet-site-{count}-') as root:
        fleet = Fleet(root, laptops, server)
        first_s = fleet.play('site')[0]
        rerun_s, rerun = fleet.play('site')
        rerun_changed = changed(rerun, ['relay1', *laptops])
        if rerun_changed:
            sys.exit(f'site re-run at N={count} reported changed={rerun_changed}:\n{rerun.output[-3000:]}')
        naive_first = fleet.naive()
        naive_rerun = fleet.naive()
    print(f'  N={count:<3} site first {first_s:6.1f} s  re-run {rerun_s:6.1f} s (changed=0)   '
          f'naive first {naive_first:6.1f} s  re-run {naive_rerun:6.1f} s', flush=True)
    return {'site_first_s': first_s, 'site_rerun_s': rerun_s,
            'naive_first_s': naive_first, 'naive_rerun_s': naive_rerun}


def one_laptop_runs(server, files):
    """enroll and revoke of one laptop with len(files) enrolled (the relay already trusts them)."""
    with scratch(f'bench-fleet-one-{len(files)}-') as root:
        fleet = Fleet(root, ['laptop-new'], server)
        fleet.enrol_files(files)
        fleet.play('site', '-l', 'relays')
        enroll_s = fleet.play('enroll', '-l', 'relays,laptop-new')[0]
        revoke_s = fleet.play('revoke', certrelay_revoke=f'laptop-{files[-1].stem}')[0]
    print(f'  {len(files):>5} enrolled: enroll one {enroll_s:6.1f} s   revoke one {revoke_s:6.1f} s', flush=True)
    return {'enroll_s': enroll_s, 'revoke_s': revoke_s}


def ca_signed(authority, count):
    """count laptop certificates the CA signed, as a site/enroll run records them ({name: PEM})."""
    signed = {}
    for index in range(count):
        name = f'laptop-ca-{index:05d}'
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, hashes.SHA256())
        signed[name] = authority.sign(csr.public_bytes(serialization.Encoding.PEM).decode(), f'{name}.example.com')
    return signed


def ca_runs(server, count):
    """Private-CA mode: the relay's side of enrolling `count` laptops."""
    certificate, key = create('bench fleet CA')
    authority = Authority.load(certificate, key)
    with scratch(f'bench-fleet-ca-{count}-') as root:
        fleet = Fleet(root, ['laptop-new'], server, certrelay_ca_certificate=certificate, certrelay_ca_privatekey=key)
        fleet.play('site', '-l', 'relays')
        relay_files = root / 'relay'
        before = tree_snapshot(relay_files / 'etc', relay_files / 'exim.conf')
        fleet.fleet_dir.mkdir(exist_ok=True)
        for name, pem in ca_signed(authority, count).items():
            (fleet.fleet_dir / f'{name}.pem').write_text(pem + '\n')
        site_s, site = fleet.play('site', '-l', 'relays')
        enroll_s, enroll = fleet.play('enroll', '-l', 'relays,laptop-new')
        unchanged = tree_snapshot(relay_files / 'etc', relay_files / 'exim.conf') == before
        revoke_s, revoke = fleet.play('revoke', certrelay_revoke=f'laptop-ca-{count - 1:05d}')
    row = {'enrolled': count, 'site_relays_s': site_s, 'site_relay_changed': changed(site, ['relay1']),
           'enroll_s': enroll_s, 'enroll_relay_changed': changed(enroll, ['relay1']),
           'relay_files_unchanged': unchanged, 'revoke_s': revoke_s, 'revoke_relay_changed': changed(revoke, ['relay1'])}
    print(f'  CA mode, {count} CA-issued laptops recorded: site -l relays {site_s:6.1f} s (relay changed='
          f'{row["site_relay_changed"]})   enroll one more {enroll_s:6.1f} s (relay changed={row["enroll_relay_changed"]}, '
          f'relay files {"unchanged" if unchanged else "CHANGED"})   revoke one {revoke_s:6.1f} s '
          f'(relay changed={row["revoke_relay_changed"]})', flush=True)
    return row


def settings_runs(server, count):
    laptops = [f'laptop-{i}' for i in range(count)]
    results = {}
    for label, env in {'forks 10 (baseline)': {}, **SETTINGS}.items():
        with scratch('bench-fleet-settings-') as root:
            first_s = Fleet(root, laptops, server).play('site', env=env)[0]
        results[label] = first_s
        print(f'  site N={count} first run, {label:<24} {first_s:6.1f} s', flush=True)
    return results


def main():
    counts = [1, 5] if common.quick() else [1, 20]
    enrolled = [20, 200] if common.quick() else [20, 1000]
    server = pki.server_cert()
    files = common.cert_files(max(enrolled))
    results = {'machine': common.machine(), 'counts': counts, 'site': {}, 'one_laptop': {}, 'settings': {}}

    print('fleet: certrelay.exim.site vs the naive laptop play (benchmarks/naive/laptop.yml), forks 10', flush=True)
    for count in counts:
        results['site'][count] = site_runs(server, count)
    print('fleet: one laptop enrolled / revoked', flush=True)
    for count in enrolled:
        results['one_laptop'][count] = one_laptop_runs(server, files[:count])
    print('fleet: private-CA mode, the relays\' side of enrolling laptops', flush=True)
    results['ca'] = ca_runs(server, enrolled[-1])
    if not common.quick():
        print('fleet: settings for large fleets', flush=True)
        results['settings'] = settings_runs(server, counts[-1])
    results['machine']['loadavg_after'] = list(__import__('os').getloadavg())
    common.save('fleet', results)
    return results


if __name__ == '__main__':
    main()
