"""The private-CA mode's per-RCPT check with a CRL of 1,000 revoked serials vs an empty CRL.

The role deploys a relay with exim_server_relay_policy ca on the GnuTLS build (and on the OpenSSL
build when scripts/build-exim-openssl.sh has built it), first with an empty CRL, then with one
revoking 1,000 other serials; a CA-issued client certificate that is not revoked runs, against a
real daemon, R RCPT commands in one TLS session (the ACL's check, once per RCPT) and S whole
sessions (connect, STARTTLS with the certificate - where the library reads the CRL - EHLO, MAIL,
one RCPT, QUIT). The two CRLs alternate ROUNDS times in the same run; the best of each counts.
Results: benchmarks/results/ca_crl.json.
"""

import contextlib
import sys
import time

import common
import rcpt_check
from common import scratch

from tests.integration.conftest import RelayServer
from tests.lib import exim, openssl, pki
from tests.lib.ansible import role_playbook, run_playbook

REVOKED = 1000
ROUNDS = 3


def measure(relay, binary, context):
    with exim.daemon(relay.config, relay.port, binary=binary):
        rcpt_check.smtp_session(relay.port, 1, context)  # warm-up: first connection after start
        rcpt_s = rcpt_check.smtp_session(relay.port, rcpt_check.RCPTS, context)[1]
        sessions = [rcpt_check.smtp_session(relay.port, 1, context)[0] for _session in range(rcpt_check.SESSIONS)]
    return rcpt_s * 1000 / rcpt_check.RCPTS, sorted(sessions)[len(sessions) // 2] * 1000


def builds():
    yield 'gnutls', exim.EXIM, contextlib.nullcontext()
    if openssl.BINARY.exists():
        yield 'openssl', str(openssl.BINARY), openssl.rhel_exim_user()


def main():
    ca = pki.ca_cert('bench-ca', 'Bench Fleet CA')
    client = pki.issue_cert('bench-laptop', ca)
    crls = {'empty': pki.make_crl(ca), 'revoked': pki.make_crl(ca, range(10 ** 6, 10 ** 6 + REVOKED))}
    results = {'machine': common.machine(), 'revoked': REVOKED, 'rcpts': rcpt_check.RCPTS, 'by_build': {}}
    print(f'CA mode: per-RCPT check and TLS session, CRL with {REVOKED} revoked serials vs an empty CRL', flush=True)
    for name, binary, user in builds():
        row = results['by_build'][name] = {}
        with user, scratch(f'bench-ca-{name}-') as root:
            cert, key = client.write(root / 'client')
            context = rcpt_check.tls_context(cert, key)
            relay = RelayServer(root=root, port=exim.free_port(), server=pki.server_cert(), binary=binary,
                                rhel=name == 'openssl')
            relay.extra_vars = {'exim_server_relay_policy': 'ca', 'exim_server_client_ca_certificates': [ca.cert_pem],
                                'exim_server_reload': False}
            playbook = role_playbook(root, 'server', gather_facts=False)
            for _round in range(ROUNDS):
                for label, crl in crls.items():
                    start = time.perf_counter()
                    result = run_playbook(playbook, relay.variables(clients=[], exim_server_client_crl=crl), timeout=600)
                    if result.returncode != 0:
                        sys.exit(f'{name} {label}: role failed: {result.output[-1500:]}')
                    applied = time.perf_counter() - start
                    rcpt_ms, session_ms = measure(relay, binary, context)
                    best = row.setdefault(label, {'rcpt_ms': rcpt_ms, 'session_ms': session_ms, 'apply_s': applied})
                    best.update(rcpt_ms=min(best['rcpt_ms'], rcpt_ms), session_ms=min(best['session_ms'], session_ms))
            for label in crls:
                print(f'  {name:<7} {label:<7} RCPT {row[label]["rcpt_ms"]:7.3f} ms   '
                      f'session {row[label]["session_ms"]:7.1f} ms', flush=True)
    common.save('ca_crl', results)
    return results


if __name__ == '__main__':
    main()
