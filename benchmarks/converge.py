"""Converge time of certrelay.exim.server vs the naive playbook.

Role: N = 10, 100, 300, 1000 client certificates, first run and re-run (the re-run must report
changed=0). Naive playbook (benchmarks/naive/naive.yml): N = 300 only, first run and re-run, in
the same run. BENCH_QUICK=1: role N = 10, 100; naive N = 50. Results: benchmarks/results/converge.json.
"""

import sys

import common
from common import REPO, scratch, timed

from tests.integration.conftest import RelayServer
from tests.lib import exim, pki
from tests.lib.ansible import role_playbook, run_playbook

NAIVE = REPO / 'benchmarks' / 'naive' / 'naive.yml'


def role_run(root, server, entries, allowlist='macro'):
    relay = RelayServer(root=root, port=exim.free_port(), server=server, allowlist=allowlist)
    playbook = role_playbook(root, 'server', gather_facts=False)
    variables = relay.variables(clients=entries)
    return [timed(run_playbook, playbook, variables, timeout=1800) for _run in range(2)]


def naive_run(root, files):
    variables = {'naive_cert_files': [str(f) for f in files],
                 'naive_trust_dir': str(root / 'trust'),
                 'naive_macros_file': str(root / 'relay-macros.conf')}
    return [timed(run_playbook, NAIVE, variables, timeout=3600) for _run in range(2)]


def check(label, runs, rerun_unchanged):
    (first_s, first), (again_s, again) = runs
    for result in (first, again):
        if result.returncode != 0:
            sys.exit(f'{label} failed:\n{result.output[-3000:]}')
    if rerun_unchanged and again.changed != 0:
        sys.exit(f'{label}: the re-run reported changed={again.changed}, expected 0:\n{again.output[-3000:]}')
    print(f'  {label:<24} first {first_s:7.2f} s (changed={first.changed})   '
          f're-run {again_s:7.2f} s (changed={again.changed})', flush=True)
    return {'first_s': first_s, 'rerun_s': again_s, 'first_changed': first.changed,
            'rerun_changed': again.changed}


def main():
    role_counts = [10, 100] if common.quick() else [10, 100, 300, 1000]
    naive_count = 50 if common.quick() else 300
    files = common.cert_files(max(role_counts + [naive_count]))
    server = pki.server_cert()
    results = {'machine': common.machine(), 'role': {}, 'naive': {}, 'ratio_n': naive_count}

    print('converge: certrelay.exim.server (standalone layout, localhost, gather_facts: false)', flush=True)
    for count in role_counts:
        with scratch(f'bench-role-{count}-') as root:
            runs = role_run(root, server, common.client_entries(files[:count]))
            results['role'][count] = check(f'role N={count}', runs, rerun_unchanged=True)
    if naive_count not in role_counts:
        with scratch(f'bench-role-{naive_count}-') as root:
            runs = role_run(root, server, common.client_entries(files[:naive_count]))
            results['role'][naive_count] = check(f'role N={naive_count}', runs, rerun_unchanged=True)

    print(f'converge: naive playbook (benchmarks/naive/naive.yml), N={naive_count}', flush=True)
    with scratch(f'bench-naive-{naive_count}-') as root:
        runs = naive_run(root, files[:naive_count])
        results['naive'][naive_count] = check(f'naive N={naive_count}', runs, rerun_unchanged=False)
    results['machine']['loadavg_after'] = list(__import__('os').getloadavg())
    common.save('converge', results)
    return results


if __name__ == '__main__':
    main()
