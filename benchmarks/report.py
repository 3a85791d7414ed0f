"""Summarise benchmarks/results/*.json: goal verdicts, Markdown tables, docs/performance.png."""

import re
import sys

import common
from common import REPO, RESULTS

PNG = REPO / 'docs' / 'performance.png'
FLOOR_MS = 0.01


def log_axes(axes, xlabel, ylabel, title, legend_size):
    axes.set_xscale('log')
    axes.set_yscale('log')
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=legend_size)
    axes.grid(True, which='both', alpha=0.3)


def verdict(ok):
    return 'MET' if ok else 'NOT MET'


def cell(value):
    # The -be figure is a difference of two timings: below ~0.01 ms it is noise.
    if value is None:
        return ''
    return '< 0.01' if value < 0.01 else f'{value:.2f}'


def converge_summary(conv, lines):
    role, naive, n = conv['role'], conv['naive'], str(conv['ratio_n'])
    lines += ['| N | role first run (s) | role re-run (s) | naive first run (s) | naive re-run (s) |',
              '|---:|---:|---:|---:|---:|']
    for count in sorted(role, key=int):
        row = role[count]
        nv = naive.get(count)
        lines.append(f'| {count} | {row["first_s"]:.1f} | {row["rerun_s"]:.1f} | '
                     f'{nv["first_s"]:.1f} | {nv["rerun_s"]:.1f} |' if nv else
                     f'| {count} | {row["first_s"]:.1f} | {row["rerun_s"]:.1f} | | |')
    first = naive[n]['first_s'] / role[n]['first_s']
    rerun = naive[n]['rerun_s'] / role[n]['rerun_s']
    counts = sorted(role, key=int)
    flat_first = role[counts[-1]]['first_s'] / role[counts[0]]['first_s']
    flat_rerun = role[counts[-1]]['rerun_s'] / role[counts[0]]['rerun_s']
    goals = [
        (f'role vs naive at N={n}: first run {first:.1f}x, re-run {rerun:.1f}x (goal >= 30x)',
         first >= 30 and rerun >= 30),
        (f'role re-run at N={n} reports changed={role[n]["rerun_changed"]} (goal 0)', role[n]['rerun_changed'] == 0),
        (f'flatness: role N={counts[-1]} / N={counts[0]}: first run {flat_first:.2f}x, re-run {flat_rerun:.2f}x '
         f'(goal <= 2x)', counts[-1] == '1000' and flat_first <= 2 and flat_rerun <= 2),
    ]
    return goals


def lookup_summary(runs, lines):
    """The README form (one lookup per certificate): N=10 vs the largest N, side by side."""
    lines += ['', '| N (README form: a lookup per certificate) | first run (s) | first run CPU (s) | re-run (s) | re-run CPU (s) |',
              '|---:|---:|---:|---:|---:|']
    counts = sorted(runs, key=int)
    for count in counts:
        first, again = runs[count]['first'], runs[count]['rerun']
        lines.append(f'| {count} | {first["wall_s"]:.1f} | {first["cpu_s"]:.1f} | {again["wall_s"]:.1f} | {again["cpu_s"]:.1f} |')
    low, high = runs[counts[0]], runs[counts[-1]]
    goals = []
    for run, label in (('first', 'first run'), ('rerun', 're-run')):
        wall, cpu = (high[run][k] / low[run][k] for k in ('wall_s', 'cpu_s'))
        goals.append((f'README form, N={counts[-1]} / N={counts[0]}, {label}: {wall:.2f}x wall, {cpu:.2f}x CPU '
                      f'(goal <= 2x, both)', counts[-1] == '10000' and max(wall, cpu) <= 2))
    return goals


def per_extra_laptop(site, counts, key):
    low, high = counts[0], counts[-1]
    return (site[high][key] - site[low][key]) / (int(high) - int(low))


def fleet_summary(fleet, lines):
    site, one = fleet['site'], fleet['one_laptop']
    counts = sorted(site, key=int)
    lines += ['', '| laptops N | site first run (s) | site re-run (s) | naive laptop play first run (s) | naive re-run (s) |',
              '|---:|---:|---:|---:|---:|']
    for count in counts:
        row = site[count]
        lines.append(f'| {count} | {row["site_first_s"]:.1f} | {row["site_rerun_s"]:.1f} | '
                     f'{row["naive_first_s"]:.1f} | {row["naive_rerun_s"]:.1f} |')
    lines += ['', '| enrolled | enroll one laptop (s) | revoke one laptop (s) |', '|---:|---:|---:|']
    sizes = sorted(one, key=int)
    for size in sizes:
        lines.append(f'| {size} | {one[size]["enroll_s"]:.1f} | {one[size]["revoke_s"]:.1f} |')
    if fleet.get('settings'):
        lines += ['', f'| site, N={counts[-1]}, first run | s |', '|---|---:|']
        lines += [f'| {label} | {seconds:.1f} |' for label, seconds in fleet['settings'].items()]
    extra = per_extra_laptop(site, counts, 'site_first_s')
    naive = per_extra_laptop(site, counts, 'naive_first_s')
    top = site[counts[-1]]
    goals = [
        (f'site per extra laptop {extra:.2f} s vs naive laptop play {naive:.2f} s (goal <=)', extra <= naive),
        (f'site re-run at N={counts[-1]} {top["site_rerun_s"]:.1f} s vs first run {top["site_first_s"]:.1f} s '
         '(goal <=)', top['site_rerun_s'] <= top['site_first_s']),
    ]
    for key, what in (('enroll_s', 'enroll'), ('revoke_s', 'revoke')):
        ratio = one[sizes[-1]][key] / one[sizes[0]][key]
        goals.append((f'{what} one laptop, {sizes[-1]} enrolled / {sizes[0]} enrolled: {ratio:.2f}x (goal <= 1.2x)',
                      ratio <= 1.2))
    ca = fleet.get('ca')
    if ca:
        lines += ['', '| private-CA mode, CA-issued laptops recorded | site -l relays (s) | enroll one more (s) | '
                  'revoke one (s) | relay changed (site / enroll / revoke) |', '|---:|---:|---:|---:|---|',
                  f'| {ca["enrolled"]} | {ca["site_relays_s"]:.1f} | {ca["enroll_s"]:.1f} | {ca["revoke_s"]:.1f} | '
                  f'{ca["site_relay_changed"]} / {ca["enroll_relay_changed"]} / {ca["revoke_relay_changed"]} |']
        quiet = ca['site_relay_changed'] == 0 and ca['enroll_relay_changed'] == 0 and ca['relay_files_unchanged']
        goals.append((f'private-CA mode: the relay side of enrolling {ca["enrolled"]} laptops reports changed='
                      f'{ca["site_relay_changed"]} (site) / {ca["enroll_relay_changed"]} (enroll), relay files '
                      f'{"unchanged" if ca["relay_files_unchanged"] else "changed"} (goal changed=0, unchanged)', quiet))
    return goals


def rcpt_summary(rcpt, lines):
    by_n = rcpt['by_n']
    lines += ['', '| N | mode | allowlist test, worst case (ms) | RCPT in a session (ms) | TLS session, 1 RCPT (ms) | note |',
              '|---:|---|---:|---:|---:|---|']
    for count in sorted(by_n, key=int):
        for mode in ('macro', 'file', 'dbm'):
            row = by_n[count].get(mode)
            if not row:
                continue
            cells = [cell(row.get(k)) for k in ('lookup_ms', 'rcpt_ms', 'session_ms')]
            note = row.get('note', '')
            lines.append(f'| {count} | {mode} | {" | ".join(cells)} | {note.splitlines()[0][:90]} |')
    counts = sorted(by_n, key=int)
    return [flat_goal(by_n, counts, 'file', 'rcpt_ms', 'RCPT in a session'),
            flat_goal(by_n, counts, 'dbm', 'rcpt_ms', 'RCPT in a session'),
            flat_goal(by_n, counts, 'dbm', 'lookup_ms', 'allowlist test, worst case')]


def ca_crl_summary(result, lines):
    """Private-CA mode: a CRL of N revoked serials vs an empty one, per build, measured in one run."""
    lines += ['', '| build | CRL | RCPT in a session (ms) | TLS session, 1 RCPT (ms) |', '|---|---|---:|---:|']
    goals = []
    for build, row in sorted(result['by_build'].items()):
        for label in ('empty', 'revoked'):
            what = 'empty CRL' if label == 'empty' else f'{result["revoked"]} revoked serials'
            lines.append(f'| {build} | {what} | {cell(row[label]["rcpt_ms"])} | {row[label]["session_ms"]:.1f} |')
        for key, what in (('rcpt_ms', 'RCPT in a session'), ('session_ms', 'TLS session')):
            low, high = row['empty'][key], row['revoked'][key]
            goals.append((f'CA mode ({build}) {what}: {high:.3f} ms with {result["revoked"]} revoked serials vs '
                          f'{low:.3f} ms with an empty CRL (goal: within 2x or below {NOISE_MS} ms)',
                          high <= max(2 * low, NOISE_MS)))
    return goals


# Below this a timing is at the noise floor of a shared machine: "not grown" whatever the ratio.
NOISE_MS = 0.05


def flat_goal(by_n, counts, mode, key, what):
    low, high = by_n[counts[0]].get(mode, {}).get(key), by_n[counts[-1]].get(mode, {}).get(key)
    if low is None or high is None:
        return (f'{mode} mode {what}: not measured', False)
    return (f'{mode} mode {what}: {high:.3f} ms at N={counts[-1]} vs {low:.3f} ms at N={counts[0]} '
            f'(goal: does not grow with N; within 2x or below {NOISE_MS} ms)', high <= max(2 * low, NOISE_MS))


def fingerprint_goal():
    path = RESULTS / 'fingerprint.txt'
    match = re.search(r'ratio\s*:\s*([\d.]+)x', path.read_text()) if path.exists() else None
    if not match:
        return []
    ratio = float(match.group(1))
    return [(f'cert_fingerprint filter vs one openssl per certificate: {ratio:.0f}x (goal >= 100x)', ratio >= 100)]


def plot(conv, rcpt):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    if conv:
        counts = sorted(conv['role'], key=int)
        xs = [int(c) for c in counts]
        left.plot(xs, [conv['role'][c]['first_s'] for c in counts], 'o-', label='role, first run')
        left.plot(xs, [conv['role'][c]['rerun_s'] for c in counts], 's--', label='role, re-run (changed=0)')
        for count, row in conv['naive'].items():
            left.plot([int(count)], [row['first_s']], 'rv', markersize=9, label=f'naive, first run (N={count})')
            left.plot([int(count)], [row['rerun_s']], 'r^', markersize=9, label=f'naive, re-run (N={count})')
        log_axes(left, 'client certificates N', 'ansible-playbook wall time (s)', 'Server converge time', 8)
    if rcpt:
        counts = sorted(rcpt['by_n'], key=int)
        for mode, style in (('macro', 'o-'), ('file', 's-'), ('dbm', 'd:')):
            # Below the noise floor the value means "too small to see": drawn on the floor.
            pts = [(int(c), max(rcpt['by_n'][c][mode]['lookup_ms'], FLOOR_MS)) for c in counts
                   if 'lookup_ms' in rcpt['by_n'][c].get(mode, {})]
            if pts:
                right.plot(*zip(*pts, strict=True), style,
                           label=f'{mode}: allowlist test (exim -be, worst case; < {FLOOR_MS} ms drawn at {FLOOR_MS})')
        for mode, style in (('macro', 'o--'), ('file', 's--'), ('dbm', 'd--')):
            pts = [(int(c), rcpt['by_n'][c][mode]['rcpt_ms']) for c in counts
                   if 'rcpt_ms' in rcpt['by_n'][c].get(mode, {})]
            if pts:
                right.plot(*zip(*pts, strict=True), style, alpha=0.6, label=f'{mode}: RCPT over TLS (daemon)')
        log_axes(right, 'fingerprints in the allowlist N', 'ms per check', 'Exim per-RCPT allowlist check', 7)
    fig.tight_layout()
    fig.savefig(PNG)
    print(f'plot: {PNG.relative_to(REPO)} ({PNG.stat().st_size // 1024} KiB)')


def main():
    conv, rcpt, lookup = common.load('converge'), common.load('rcpt'), common.load('converge_lookup')
    fleet, ca_crl = common.load('fleet'), common.load('ca_crl')
    lines, goals = [], []
    if conv:
        goals += converge_summary(conv, lines)
    if lookup:
        goals += lookup_summary(lookup['runs'], lines)
    if rcpt:
        goals += rcpt_summary(rcpt, lines)
    if fleet:
        goals += fleet_summary(fleet, lines)
    if ca_crl:
        goals += ca_crl_summary(ca_crl, lines)
    goals += fingerprint_goal()
    summary = '\n'.join(lines) + '\n'
    (RESULTS / 'summary.md').write_text(summary)
    print(summary)
    print('goals:')
    for text, ok in goals:
        print(f'  [{verdict(ok):>7}] {text}')
    if '--no-plot' not in sys.argv:
        plot(conv, rcpt)


if __name__ == '__main__':
    main()
