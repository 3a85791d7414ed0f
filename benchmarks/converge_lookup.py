"""Converge time of certrelay.exim.server with the certificates given the way the README shows them.

Every entry of exim_server_client_certs is `certificate: "{{ lookup('ansible.builtin.file',
'fleet/laptop-NNNNN.pem') }}"` in the inventory's host_vars, N certificate files in fleet/ beside
the playbook; standalone layout on localhost, first run and re-run (which must report changed=0),
N = 10 and N = 10,000 in the same run (BENCH_QUICK=1: 10 and 1,000). Wall time and the CPU time of
the ansible-playbook process tree. Results: benchmarks/results/converge_lookup.json.
"""

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import common
from common import scratch

from tests.lib import exim, pki
from tests.lib.ansible import ansible_env
from tests.lib.roles import loopback_relay_vars


def write_tree(root: Path, files, server):
    fleet = root / 'fleet'
    fleet.mkdir()
    entries = []
    for path in files:
        name = f'laptop-{path.stem}'
        shutil.copyfile(path, fleet / f'{name}.pem')
        entries.append({'name': name, 'certificate': "{{ lookup('ansible.builtin.file', 'fleet/%s.pem') }}" % name})
    variables = dict(loopback_relay_vars(root, exim.free_port(), server), exim_server_client_certs=entries,
                     ansible_connection='local', ansible_python_interpreter=sys.executable)
    (root / 'inventory' / 'host_vars').mkdir(parents=True)
    (root / 'inventory' / 'hosts.yml').write_text('all:\n  hosts:\n    localhost:\n')
    # JSON is YAML: the variables as users keep them, in host_vars (templated lazily, like theirs).
    (root / 'inventory' / 'host_vars' / 'localhost.yml').write_text(json.dumps(variables, indent=1))
    (root / 'apply.yml').write_text('- name: Apply certrelay.exim.server\n  hosts: all\n  gather_facts: false\n'
                                    '  roles:\n    - role: certrelay.exim.server\n')


def run(root: Path) -> dict:
    cmd = [str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(root / 'inventory'), str(root / 'apply.yml')]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), cwd=root, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f'failed:\n{proc.stdout[-4000:]}{proc.stderr[-3000:]}')
    recap = [line for line in proc.stdout.splitlines() if line.startswith('localhost')][-1]
    return {'wall_s': round(wall, 2), 'cpu_s': round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2),
            'changed': int(recap.split('changed=')[1].split()[0])}


def main():
    counts = [10, 1000] if common.quick() else [10, 10000]
    files = common.cert_files(max(counts))
    server = pki.server_cert()
    results = {'machine': common.machine(), 'runs': {}}
    print('converge, README form (one lookup(file) per certificate in host_vars):', flush=True)
    for count in counts:
        with scratch(f'bench-lookup-{count}-') as root:
            write_tree(root, files[:count], server)
            first, again = run(root), run(root)
        if again['changed'] != 0:
            sys.exit(f'N={count}: the re-run reported changed={again["changed"]}, expected 0')
        results['runs'][count] = {'first': first, 'rerun': again}
        print(f'  N={count:<6} first {first["wall_s"]:6.2f} s (cpu {first["cpu_s"]:6.2f} s)   '
              f're-run {again["wall_s"]:6.2f} s (cpu {again["cpu_s"]:6.2f} s, changed=0)', flush=True)
    results['machine']['loadavg_after'] = list(__import__('os').getloadavg())
    common.save('converge_lookup', results)
    return results


if __name__ == '__main__':
    main()
