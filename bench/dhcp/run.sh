#!/usr/bin/env bash
# bench/dhcp/run.sh: DHCP load test of gitboot's DHCP server against dnsmasq
# and ISC Kea, all in the same run, with perfdhcp (package kea-admin).
#
# Every server gets the same 1,000 reservations: MAC 00:0c:01:02:00:00 + i ->
# 10.100.1.0 + i (perfdhcp -b mac=00:0c:01:02:00:00 -R 1000 generates exactly
# these MACs). Each server runs in its own network namespace, with its own
# client namespace for perfdhcp (which acts as a relay: giaddr 10.100.0.2),
# so all three stay up and the rates are interleaved: rate 1 for each, then
# rate 2 for each, ... A server drops out at the first rate where 0.01 % or
# more of the packets were lost, or perfdhcp could not send at that rate,
# twice in a row (a failed rate is retried once: other work on the machine
# can cost a run). The cpu% column is the server's own CPU use during the
# run (100 = one core): the cost of the same load for each server; s-drop
# and c-drop count datagrams the kernel dropped because a socket buffer was
# full, at the server and at perfdhcp (the load generator's own limit).
#
# Needs root, perfdhcp, dnsmasq, kea-dhcp4, go. Not part of `make test`.
#   sudo bench/dhcp/run.sh                     # defaults below
#   RATES="2000 4000" PERIOD=10 bench/dhcp/run.sh
#   SERVERS="gitboot kea" bench/dhcp/run.sh
#   GITBOOT_READ_BUFFER=212992 bench/dhcp/run.sh   # gitboot with the peers' (kernel default) buffer
#   KEEP=1 bench/dhcp/run.sh                   # keep logs (perfdhcp output, server logs)
set -euo pipefail
cd "$(dirname "$0")/../.."

RATES=${RATES:-"1000 2000 4000 6000 8000 10000 12000 15000 20000 25000 30000"}
PERIOD=${PERIOD:-30}          # seconds per perfdhcp run
SERVERS=${SERVERS:-"gitboot dnsmasq kea"}
N=1000
BASE_MAC=00:0c:01:02:00:00
MAX_DROP_PPM=100              # 0.01 % = 100 per million
KEA_THREADS=${KEA_THREADS:-2}

ID=gbb$$
WORK=$(mktemp -d /tmp/gitboot-dhcp-bench.XXXXXX)
PIDS=()
declare -A SPID
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for s in $SERVERS; do
    ip netns del "$ID-$s-s" 2>/dev/null || true
    ip netns del "$ID-$s-c" 2>/dev/null || true
  done
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

for cmd in perfdhcp dnsmasq kea-dhcp4 go ip; do
  command -v "$cmd" >/dev/null || { echo "missing $cmd" >&2; exit 1; }
done

# mac I, ip I: the reservation table, shared by all servers.
mac() { printf '00:0c:01:02:%02x:%02x' $(($1 >> 8)) $(($1 & 255)); }
ip_of() { local n=$((256 + $1)); printf '10.100.%d.%d' $((n >> 8)) $((n & 255)); }

# net NAME: namespaces NAME-s (server, 10.100.0.1/16 on veth "srv") and
# NAME-c (perfdhcp, 10.100.0.2/16 on veth "cli").
net() {
  local s=$1-s c=$1-c
  ip netns add "$s"; ip netns add "$c"
  ip link add srv netns "$s" type veth peer name cli netns "$c"
  ip -n "$s" addr add 10.100.0.1/16 dev srv
  ip -n "$c" addr add 10.100.0.2/16 dev cli
  for ns in "$s" "$c"; do ip -n "$ns" link set lo up; done
  ip -n "$s" link set srv up; ip -n "$c" link set cli up
}

start_gitboot() {
  go build -o "$WORK/benchserver" ./bench/dhcp/benchserver
  ip netns exec "$ID-gitboot-s" "$WORK/benchserver" -iface srv -n $N -base-mac $BASE_MAC -read-buffer "${GITBOOT_READ_BUFFER:-0}" \
    >"$WORK/gitboot.log" 2>&1 &
  PIDS+=($!); SPID[gitboot]=$!
}

start_dnsmasq() {
  local conf=$WORK/dnsmasq.conf
  {
    echo "port=0"; echo "interface=srv"; echo "bind-interfaces"; echo "no-ping"
    echo "dhcp-authoritative"; echo "dhcp-range=10.100.0.0,static,255.255.0.0,1h"
    echo "dhcp-option=3,10.100.0.1"; echo "dhcp-option=6,10.100.0.1"
    echo "dhcp-boot=undionly.kpxe,,10.100.0.1"
    # As Kea (memfile, persist off) and gitboot (reservations are not
    # written): no lease file; and no log line per DHCP packet.
    echo "leasefile-ro"; echo "quiet-dhcp"; echo "pid-file=$WORK/dnsmasq.pid"
    for ((i = 0; i < N; i++)); do echo "dhcp-host=$(mac $i),$(ip_of $i)"; done
  } >"$conf"
  ip netns exec "$ID-dnsmasq-s" dnsmasq -k -C "$conf" --user=root >"$WORK/dnsmasq.log" 2>&1 &
  PIDS+=($!); SPID[dnsmasq]=$!
}

start_kea() {
  local conf=$WORK/kea.json res=""
  for ((i = 0; i < N; i++)); do
    res+="${res:+,}{\"hw-address\": \"$(mac $i)\", \"ip-address\": \"$(ip_of $i)\"}"
  done
  cat >"$conf" <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["srv"], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": false},
  "multi-threading": {"enable-multi-threading": true, "thread-pool-size": $KEA_THREADS, "packet-queue-size": 64},
  "host-reservation-identifiers": ["hw-address"],
  "valid-lifetime": 3600,
  "next-server": "10.100.0.1", "boot-file-name": "undionly.kpxe",
  "option-data": [{"name": "routers", "data": "10.100.0.1"}, {"name": "domain-name-servers", "data": "10.100.0.1"}],
  "subnet4": [{"id": 1, "subnet": "10.100.0.0/16", "reservations": [$res]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stderr"}], "severity": "WARN"}]
}}
JSON
  mkdir -p "$WORK/kea"
  KEA_PIDFILE_DIR=$WORK/kea KEA_LOCKFILE_DIR=$WORK/kea \
    ip netns exec "$ID-kea-s" kea-dhcp4 -c "$conf" >"$WORK/kea.log" 2>&1 &
  PIDS+=($!); SPID[kea]=$!
}

# rcvbuf NS: UDP datagrams the kernel dropped in namespace NS because a
# socket's receive buffer was full.
rcvbuf() {
  ip netns exec "$1" cat /proc/net/snmp |
    awk '$1 == "Udp:" && !h {for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next}
         $1 == "Udp:" {print $c["RcvbufErrors"]}'
}

# cputicks PID: user + system CPU time of a process, in clock ticks.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# perf SERVER RATE SECONDS: one perfdhcp run; prints "achieved sent drops
# cpu sdrop cdrop" (cpu: the server's CPU use during the run, % of one core;
# sdrop/cdrop: datagrams dropped by full socket buffers at the server and at
# perfdhcp).
perf() {
  local out t0 t1 s0 s1 c0 c1
  t0=$(cputicks "${SPID[$1]}"); s0=$(rcvbuf "$ID-$1-s"); c0=$(rcvbuf "$ID-$1-c")
  out=$(ip netns exec "$ID-$1-c" perfdhcp -4 -r "$2" -R $N -p "$3" -W 1000000 -b mac=$BASE_MAC -l cli 10.100.0.1 2>&1) || true
  t1=$(cputicks "${SPID[$1]}"); s1=$(rcvbuf "$ID-$1-s"); c1=$(rcvbuf "$ID-$1-c")
  echo "$out" >>"$WORK/$1.perfdhcp.log"
  local achieved sent drops
  # DISCOVERs sent per second of the test period (perfdhcp's own "Rate:"
  # also counts the exit wait).
  achieved=$(echo "$out" | awk -v p="$3" '/^sent packets:/ {printf "%.0f", $3 / p; exit}')
  sent=$(echo "$out" | awk '/^sent packets:/ {s += $3} END {print s + 0}')
  drops=$(echo "$out" | awk '/^drops:/ {d += $2} END {print d + 0}')
  local cpu=$(( (t1 - t0) * 100 / $(getconf CLK_TCK) / $3 ))
  echo "${achieved:-0} $sent $drops $cpu $((s1 - s0)) $((c1 - c0))"
}

echo "gitboot DHCP benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "perfdhcp -4 -r RATE -R $N -p $PERIOD -W 1000000 -b mac=$BASE_MAC -l IFACE; pass: drops < 0.01 %"
for s in $SERVERS; do net "$ID-$s"; "start_$s"; done
sleep 2
for s in $SERVERS; do
  kill -0 "${PIDS[@]}" 2>/dev/null || { echo "a server died at start:"; cat "$WORK"/*.log; exit 1; }
  read -r a sent drops cpu sdrop cdrop < <(perf "$s" 200 2)     # warm up: ARP, caches
  [ "$sent" -gt 0 ] && [ "$drops" -lt "$sent" ] || { echo "$s does not answer:"; cat "$WORK/$s.log"; exit 1; }
done

declare -A best alive
for s in $SERVERS; do best[$s]=0; alive[$s]=1; done
printf '%-8s %6s %8s %8s %6s %5s %6s %6s %s\n' server rate achieved sent drops cpu% s-drop c-drop result
# One try at a rate: sets ok to "pass" or the reason it failed.
try_rate() {
  read -r a sent drops cpu sdrop cdrop < <(perf "$1" "$2" "$PERIOD")
  ok=pass
  if [ "$sent" -eq 0 ] || [ $((drops * 1000000)) -ge $((sent * MAX_DROP_PPM)) ]; then ok=FAIL; fi
  if awk -v a="$a" -v r="$2" 'BEGIN {exit !(a < 0.95 * r)}'; then ok="FAIL (client reached only $a/s)"; fi
  printf '%-8s %6d %8s %8d %6d %5d %6d %6d %s\n' "$1" "$2" "$a" "$sent" "$drops" "$cpu" "$sdrop" "$cdrop" "$ok"
}
for r in $RATES; do
  for s in $SERVERS; do
    [ "${alive[$s]}" = 1 ] || continue
    try_rate "$s" "$r"
    # Other work on the machine can cost a run: a failed rate gets one retry.
    [ "$ok" = pass ] || try_rate "$s" "$r"
    if [ "$ok" = pass ]; then best[$s]=$r; else alive[$s]=0; fi
  done
done
echo
echo "highest rate with < 0.01 % drops (exchanges/s):"
for s in $SERVERS; do printf '  %-8s %6d\n' "$s" "${best[$s]}"; done
if [ -n "${best[gitboot]:-}" ]; then
  for s in $SERVERS; do
    [ "$s" = gitboot ] || [ "${best[$s]}" -eq 0 ] ||
      awk -v g="${best[gitboot]}" -v p="${best[$s]}" -v s="$s" 'BEGIN {printf "  gitboot / %s = %.2f\n", s, g / p}'
  done
fi
