#!/usr/bin/env bash
# The certrelay.exim demo: a relay and a laptop on this machine, built by the collection's own
# site playbook (docs/demo/inventory.yml, standalone layout, loopback ports, no containers), then
# shown to do what the collection promises. Exit 0 only when every check passed.
# Re-runnable: everything lives under $CERTRELAY_DEMO_DIR (default demo-run/, git-ignored) and every
# daemon it starts is stopped on exit.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (Exim's daemon and its Debian-exim user need it)" >&2
  exit 1
fi

# ---------------------------------------------------------------- what it needs (cached re-runs)
scripts/install-deps.sh --demo
scripts/venv.sh
scripts/collections.sh >/dev/null
# shellcheck source=scripts/env.sh
. scripts/env.sh
EXIM=$(command -v exim4 || command -v exim)

DEMO=${CERTRELAY_DEMO_DIR:-$REPO/demo-run}
# Exim drops to Debian-exim for a -C configuration: the demo tree must be reachable by it.
mkdir -p "$DEMO"
if ! runuser -u Debian-exim -- test -x "$DEMO"; then
  DEMO=/var/tmp/certrelay-demo
  echo "demo: $REPO is not reachable by Debian-exim, using $DEMO"
fi
rm -rf "$DEMO"
mkdir -p "$DEMO/pki"
chmod 755 "$DEMO"
export CERTRELAY_DEMO_DIR=$DEMO

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
RESULTS=()
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pass() { RESULTS+=("PASS  $*"); printf '   PASS  %s\n' "$*"; }
fail() { RESULTS+=("FAIL  $*"); printf '   FAIL  %s\n' "$*"; FAILS=$((FAILS + 1)); }
show() { sed 's/^/   | /'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Exim's form of a fingerprint: SHA-256 over DER, upper-case hex, no colons
fingerprint() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64 | tr a-f A-F; }
self_signed() { # name CN SAN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 30 \
    -subj "/CN=$2" ${3:+-addext "subjectAltName=$3"} \
    -keyout "$DEMO/pki/$1.key" -out "$DEMO/pki/$1.crt" 2>/dev/null
}
wait_port() { for _ in $(seq 100); do ss -ltnH "sport = :$1" | grep -q . && return 0; sleep 0.05; done; return 1; }
wait_file_has() { for _ in $(seq 100); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
start_exim() { # config port
  "$EXIM" -C "$1" -bdf 2>>"$DEMO/exim-stderr.log" &
  PIDS+=($!)
  wait_port "$2" || { echo "demo: Exim ($1) did not listen on $2" >&2; exit 1; }
}
send() { # config subject
  printf 'From: user@laptop.demo.example\nTo: friend@example.org\nSubject: %s\n\nSent by the certrelay.exim demo.\n' "$2" |
    "$EXIM" -C "$1" -odi friend@example.org 2>>"$DEMO/exim-stderr.log"
}

START=$SECONDS
RELAY_PORT=$(free_port)
IMPOSTOR_PORT=$(free_port)
export CERTRELAY_DEMO_RELAY_PORT=$RELAY_PORT

# ---------------------------------------------------------------- certificates
step "Certificates (self-signed, made now under $DEMO/pki)"
self_signed relay relay.demo.example "DNS:relay.demo.example,DNS:localhost,IP:127.0.0.1"
# the impostor claims the very same names, with a certificate of its own
self_signed impostor relay.demo.example "DNS:relay.demo.example,DNS:localhost,IP:127.0.0.1"
self_signed stranger stranger.demo.example
echo "   relay    $(fingerprint "$DEMO/pki/relay.crt")"
echo "   impostor $(fingerprint "$DEMO/pki/impostor.crt")"
echo "   stranger $(fingerprint "$DEMO/pki/stranger.crt")  (a client nobody enrolled)"
echo "   the laptop generates its own key and certificate during the playbook run"

# ---------------------------------------------------------------- the collection at work
step "ansible-playbook -i docs/demo/inventory.yml certrelay.exim.site"
if ansible-playbook -i docs/demo/inventory.yml certrelay.exim.site >"$DEMO/site.log" 2>&1; then
  grep -A1 '^PLAY RECAP' "$DEMO/site.log" >/dev/null && sed -n '/^PLAY RECAP/,$p' "$DEMO/site.log" | sed '/^$/d' | show
  pass "site playbook configured relay and laptop, and enrolled the laptop's certificate (log: $DEMO/site.log)"
else
  tail -30 "$DEMO/site.log" | show
  fail "site playbook (log: $DEMO/site.log)"
  exit 1
fi
LAPTOP_FP=$(fingerprint "$DEMO/laptop/tls/client.crt")

# ---------------------------------------------------------------- daemons
# The impostor: the relay's own configuration with the impostor's certificate and its own
# port, spool and mailbox; it trusts and allows the laptop too, so it would relay if asked.
mkdir -p "$DEMO/impostor"/{spool,log,mail}
chown -R Debian-exim:Debian-exim "$DEMO/impostor"
install -m 0640 -g Debian-exim "$DEMO/pki/impostor.key" "$DEMO/impostor/impostor.key"
sed -e "s|^daemon_smtp_ports = .*|daemon_smtp_ports = $IMPOSTOR_PORT|" \
    -e "s|^tls_certificate = .*|tls_certificate = $DEMO/pki/impostor.crt|" \
    -e "s|^tls_privatekey = .*|tls_privatekey = $DEMO/impostor/impostor.key|" \
    -e "s|$DEMO/relay/spool|$DEMO/impostor/spool|g; s|$DEMO/relay/log|$DEMO/impostor/log|g" \
    -e "s|$DEMO/relay/mail|$DEMO/impostor/mail|g" \
    "$DEMO/relay/exim.conf" >"$DEMO/impostor/exim.conf"
# The laptop as it would be if DNS or the network sent it to the impostor: only the port differs.
mkdir -p "$DEMO/laptop-misrouted"/{spool,log}
chown -R Debian-exim:Debian-exim "$DEMO/laptop-misrouted"
sed -e "s|^\(  port = \).*|\1$IMPOSTOR_PORT|" \
    -e "s|$DEMO/laptop/spool|$DEMO/laptop-misrouted/spool|; s|$DEMO/laptop/log|$DEMO/laptop-misrouted/log|" \
    "$DEMO/laptop/exim.conf" >"$DEMO/laptop-misrouted/exim.conf"

step "Starting the relay (127.0.0.1:$RELAY_PORT) and the impostor (127.0.0.1:$IMPOSTOR_PORT)"
start_exim "$DEMO/relay/exim.conf" "$RELAY_PORT"
start_exim "$DEMO/impostor/exim.conf" "$IMPOSTOR_PORT"
echo "   both listening"

# ---------------------------------------------------------------- 1. mail over mutual TLS
step "1. The laptop sends a mail; the relay relays it (both certificates verified)"
SUBJECT="certrelay demo $(date +%s)"
send "$DEMO/laptop/exim.conf" "$SUBJECT"
if wait_file_has "$DEMO/relay/mail/relayed" "Subject: $SUBJECT" &&
   grep -q "certrelay: client laptop fingerprint $LAPTOP_FP" "$DEMO/relay/log/mainlog" &&
   grep -q "<= .* X=TLS.* CV=yes" "$DEMO/relay/log/mainlog" &&
   grep -q "=> friend@example.org .*CV=yes DN=\"CN=relay.demo.example\"" "$DEMO/laptop/log/mainlog"; then
  echo "   laptop log:" ; grep "=> friend@example.org" "$DEMO/laptop/log/mainlog" | tail -1 | cut -c1-220 | show
  # the relay names the laptop by its enrolled name and fingerprint, then logs the message
  echo "   relay log:"  ; grep -A1 "certrelay: client laptop fingerprint" "$DEMO/relay/log/mainlog" | tail -2 | cut -c1-220 | show
  echo "   relayed message:"; grep -E '^(Envelope-to|From|Subject):' "$DEMO/relay/mail/relayed" | tail -3 | show
  pass "mail relayed over mutual TLS (laptop $LAPTOP_FP)"
else
  grep -v 'lost privilege' "$DEMO/laptop/log/mainlog" | tail -3 | show
  fail "mail relayed over mutual TLS"
fi

# ---------------------------------------------------------------- 2. unknown certificate refused
step "2. A client with a certificate nobody enrolled tries to relay"
STRANGER_FP=$(fingerprint "$DEMO/pki/stranger.crt")
REPLY=$(swaks -s 127.0.0.1 -p "$RELAY_PORT" -f user@stranger.demo.example -t friend@example.org \
          --tls --tls-cert "$DEMO/pki/stranger.crt" --tls-key "$DEMO/pki/stranger.key" \
          --h-Subject "stranger" --timeout 10 2>&1 |
        awk '/^ *(~>|->) RCPT TO/ {f=1; next} f && /^ *<[~*-]/ {sub(/^ *<[~*-]* */, ""); print; exit}' || true)
echo "   relay answered RCPT TO with: $REPLY"
if [[ $REPLY == 550* ]] && wait_file_has "$DEMO/relay/log/mainlog" "$STRANGER_FP"; then
  echo "   relay log (the fingerprint to enrol, if this were a new laptop):"
  grep "$STRANGER_FP" "$DEMO/relay/log/mainlog" | tail -1 | cut -c1-220 | show
  pass "unknown certificate refused with 550, its fingerprint $STRANGER_FP logged"
else
  fail "unknown certificate refused (got: $REPLY)"
fi

# ---------------------------------------------------------------- 3. impostor refused by the laptop
step "3. The laptop is sent to an impostor relay with the same names but another certificate"
IMP_SUBJECT="for the impostor $(date +%s)"
send "$DEMO/laptop-misrouted/exim.conf" "$IMP_SUBJECT"
QUEUED=$("$EXIM" -C "$DEMO/laptop-misrouted/exim.conf" -bpc 2>>"$DEMO/exim-stderr.log")
# refused by the pin (the tls:cert event compares the relay's own certificate with the pinned ones)
if grep -q "verify denied by event-action: depth=0: the relay certificate is not one of the pinned ones" \
       "$DEMO/laptop-misrouted/log/mainlog" &&
   grep -q "== friend@example.org .*defer" "$DEMO/laptop-misrouted/log/mainlog" &&
   [ "$QUEUED" = 1 ] && ! grep -q "Subject: $IMP_SUBJECT" "$DEMO/impostor/mail/relayed" 2>/dev/null; then
  echo "   laptop log:"; grep "== friend@example.org" "$DEMO/laptop-misrouted/log/mainlog" | tail -1 | cut -c1-220 | show
  pass "laptop refused the impostor: deferred, still queued on the laptop ($QUEUED message), impostor got nothing"
else
  grep -v 'lost privilege' "$DEMO/laptop-misrouted/log/mainlog" | tail -3 | show
  fail "laptop refused the impostor"
fi

# ---------------------------------------------------------------- summary
cleanup
PIDS=()
step "Summary ($((SECONDS - START)) s; everything under $DEMO; daemons stopped)"
printf '   %s\n' "${RESULTS[@]}"
if [ "$FAILS" -eq 0 ]; then
  echo "   The relay relays only for enrolled certificates; the laptop talks only to its pinned relay."
  exit 0
fi
echo "   $FAILS check(s) failed"
exit 1
