"""Exim's per-RCPT allowlist check vs N, in every allowlist mode, with a real Exim.

For N = 10, 1,000, 10,000 (BENCH_QUICK=1: 10, 1,000) the role writes the configuration, trust
directory and allowlist (macro mode, then file, then dbm mode in the same tree). Per mode:
- `lookup`: `exim -C conf -be` evaluates the allowlist test with M distinct fingerprints that are
  not listed (worst case: full scan, no lookup cache), minus the same loop with a trivial test;
- `rcpt`: a real daemon, a TLS session with an allowlisted client certificate, R RCPT commands
  each answered 250 (the ACL runs the allowlist check once per RCPT);
- `session`: connect + STARTTLS with the client certificate + EHLO + MAIL + one RCPT + QUIT.
Results: benchmarks/results/rcpt.json.
"""

import secrets
import shutil
import smtplib
import ssl
import subprocess
import sys
import time

import common
from common import CERTS, scratch

from tests.integration.conftest import RelayServer
from tests.lib import exim, pki
from tests.lib.ansible import role_playbook, run_playbook

LOOKUPS = 400
RCPTS = 100
SESSIONS = 5
TESTS = {
    'macro': '${if inlist{%s}{RELAY_FROM_CERTS}{y}{n}}',
    'file': '${lookup{%s}lsearch{RELAY_FROM_CERTS_FILE}{y}{n}}',
    'dbm': '${lookup{%s}dbm{RELAY_FROM_CERTS_FILE}{y}{n}}',
}
BASELINE = '${if eq{%s}{x}{y}{n}}'


def expand_all(config, template, keys):
    script = ''.join(template % key + '\n' for key in keys)
    start = time.perf_counter()
    proc = subprocess.run([exim.EXIM, '-C', str(config), '-be'], check=False, input=script,
                          capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    return elapsed, [word for word in proc.stdout.split() if word in ('y', 'n')]


def lookup_ms(config, mode, member):
    """Milliseconds per allowlist test, worst case (a fingerprint that is not listed)."""
    found = expand_all(config, TESTS[mode], [member])[1]
    if found[-1:] != ['y']:
        sys.exit(f'{mode}: Exim did not find the allowlisted fingerprint {member}: {found}')
    keys = [secrets.token_hex(32).upper() for _key in range(LOOKUPS)]
    best = None
    for _attempt in range(3):  # best of three: other work on the machine only ever adds time
        checked, answers = expand_all(config, TESTS[mode], keys)
        if answers.count('n') != LOOKUPS:
            sys.exit(f'{mode}: expected {LOOKUPS} misses, got {answers[:5]}...')
        baseline = expand_all(config, BASELINE, keys)[0]
        cost = max(checked - baseline, 0.0) * 1000 / LOOKUPS
        best = cost if best is None else min(best, cost)
    return best


def tls_context(cert=CERTS / '00000.pem', key=CERTS / '00000.key'):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    return ctx


def smtp_session(port, rcpts, context=None):
    """(seconds for the whole session, seconds spent in the RCPT commands); context: the client's
    TLS context (default the allowlisted benchmark certificate)."""
    start = time.perf_counter()
    with smtplib.SMTP('127.0.0.1', port, timeout=60) as smtp:
        smtp.ehlo('laptop.example.com')
        smtp.starttls(context=context or tls_context())
        smtp.ehlo('laptop.example.com')
        smtp.mail('user@laptop.example.com')
        rcpt_start = time.perf_counter()
        for index in range(rcpts):
            code, reply = smtp.rcpt(f'dest{index}@external.example.org')
            if code != 250:
                sys.exit(f'RCPT refused for the allowlisted client: {code} {reply!r}')
        rcpt_s = time.perf_counter() - rcpt_start
        smtp.rset()
    return time.perf_counter() - start, rcpt_s


def measure_daemon(relay, config):
    with exim.daemon(config, relay.port):
        smtp_session(relay.port, 1)  # warm-up: first connection after start
        rcpt_s = smtp_session(relay.port, RCPTS)[1]
        sessions = [smtp_session(relay.port, 1)[0] for _session in range(SESSIONS)]
    return rcpt_s * 1000 / RCPTS, sorted(sessions)[len(sessions) // 2] * 1000


def apply_mode(relay, playbook, entries, mode):
    relay.allowlist = mode
    start = time.perf_counter()
    result = run_playbook(playbook, relay.variables(clients=entries), timeout=3600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        return None, f'role failed ({elapsed:.0f} s): {result.output[-1500:]}'
    copy = relay.root / f'exim-{mode}.conf'
    shutil.copy(relay.config, copy)
    return copy, f'role applied in {elapsed:.1f} s, config {copy.stat().st_size // 1024} KiB'


def main():
    counts = [10, 1000] if common.quick() else [10, 1000, 10000]
    files = common.cert_files(max(counts))
    server = pki.server_cert()
    results = {'machine': common.machine(), 'lookups': LOOKUPS, 'rcpts': RCPTS, 'by_n': {}}
    print(f'rcpt check: real Exim, allowlist of N fingerprints ({LOOKUPS} lookups, {RCPTS} RCPTs)', flush=True)
    for count in counts:
        entries = common.client_entries(files[:count])
        client_fp = exim_fingerprint(files[0])
        row = results['by_n'][count] = {}
        with scratch(f'bench-rcpt-{count}-') as root:
            relay = RelayServer(root=root, port=exim.free_port(), server=server)
            playbook = role_playbook(root, 'server', gather_facts=False)
            for mode in TESTS:
                config, note = apply_mode(relay, playbook, entries, mode)
                row[mode] = {'note': note}
                if config is None:
                    print(f'  N={count:<6} {mode:<5} {note}', flush=True)
                    continue
                row[mode]['lookup_ms'] = lookup_ms(config, mode, client_fp)
                row[mode]['rcpt_ms'], row[mode]['session_ms'] = measure_daemon(relay, config)
                print(f'  N={count:<6} {mode:<5} lookup {row[mode]["lookup_ms"]:8.3f} ms   '
                      f'RCPT {row[mode]["rcpt_ms"]:7.2f} ms   session {row[mode]["session_ms"]:7.1f} ms   '
                      f'({note})', flush=True)
    common.save('rcpt', results)
    return results


def exim_fingerprint(path):
    from ansible_collections.certrelay.exim.plugins.filter.cert_fingerprint import cert_fingerprint
    return cert_fingerprint(path.read_text())


if __name__ == '__main__':
    main()
