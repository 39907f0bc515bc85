#!/usr/bin/env bash
# `gitboot power status --all` against N simulated IPMI BMCs (OpenIPMI's
# ipmi_sim, one process per BMC, lanplus on 127.0.0.1 ports BASE..BASE+N-1),
# against the same BMCs asked by ipmitool (xargs -P, cipher suite 3 so it does
# not wait for the cipher suite list ipmi_sim never sends). Loopback only.
#
#   bench/power/run.sh                 # N=200, PARALLEL=32, RUNS=3
#   N=50 PARALLEL=8 bench/power/run.sh
#
# Prints the wall time of each run and the median; needs openipmi, ipmitool, git.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-200}
PARALLEL=${PARALLEL:-32}
RUNS=${RUNS:-3}
BASE=${BASE:-21000}
for cmd in ipmi_sim ipmitool git go; do
  command -v "$cmd" >/dev/null || { echo "bench/power: $cmd is not installed (apt-get install -y openipmi ipmitool)" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/gitboot" ./cmd/gitboot

# The BMCs.
cat > "$work/cmds.emu" <<'EMU'
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
EMU
for i in $(seq 0 $((N - 1))); do
  d="$work/bmc/$i"
  mkdir -p "$d/state"
  cat > "$d/lan.conf" <<LAN
name "bmc$i"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $((BASE + i))
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  startcmd "true"
  startnow false
  user 2 true "admin" "secret" admin 10 none md2 md5 straight
LAN
  ipmi_sim -c "$d/lan.conf" -f "$work/cmds.emu" -n -s "$d/state" >"$d/log" 2>&1 &
  pids+=($!)
done

# The cluster: N nodes, each with its BMC.
repo="$work/repo"
mkdir -p "$repo"
cat > "$repo/cluster.hcl" <<HCL
network "bench" {
  subnet = "10.90.0.0/16"
}
image "tiny" {
  source = "/nonexistent"
}
node "b" {
  for_each = { for i in range($N) : format("b%04d", i) => i }
  mac      = format("52:54:00:90:%02x:%02x", floor(each.value / 256), each.value % 256)
  ip       = cidrhost("10.90.0.0/16", 10 + each.value)
  image    = image.tiny
  bmc {
    driver      = "ipmi"
    address     = "127.0.0.1"
    port        = $BASE + each.value
    credentials = "bench"
  }
}
HCL
printf 'credentials "bench" {\n  username = "admin"\n  password = "secret"\n}\n' > "$work/creds.hcl"
chmod 600 "$work/creds.hcl"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@example.invalid commit -qm bench

# Wait until the last BMC answers.
for _ in $(seq 1 50); do
  ipmitool -I lanplus -C 3 -H 127.0.0.1 -p $((BASE + N - 1)) -U admin -P secret power status >/dev/null 2>&1 && break
  sleep 0.2
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

echo "== gitboot power status --all: $N ipmi_sim BMCs, --parallel $PARALLEL"
times=()
for r in $(seq 1 "$RUNS"); do
  t0=$(now)
  "$work/gitboot" power status --all --parallel "$PARALLEL" --timeout 30s --repo "$repo" \
    --bmc-credentials "$work/creds.hcl" --json > "$work/out.json" || { echo "run $r: some BMCs failed:"; grep -c '"ok": false' "$work/out.json"; }
  t1=$(now)
  ok=$(grep -c '"ok": true' "$work/out.json" || true)
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  times+=("$t")
  echo "run $r: ${t} s, $ok of $N ok"
done
g=$(printf '%s\n' "${times[@]}" | median)
echo "gitboot median: $g s"

echo "== reference: ipmitool -I lanplus -C 3 power status, xargs -P $PARALLEL"
times=()
for r in $(seq 1 "$RUNS"); do
  t0=$(now)
  seq 0 $((N - 1)) | xargs -P "$PARALLEL" -I{} sh -c \
    "ipmitool -I lanplus -C 3 -H 127.0.0.1 -p \$(( $BASE + {} )) -U admin -P secret power status >/dev/null 2>&1 || echo fail" > "$work/ref.out"
  t1=$(now)
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  times+=("$t")
  echo "run $r: ${t} s, $(grep -c fail "$work/ref.out" || true) failed"
done
i=$(printf '%s\n' "${times[@]}" | median)
echo "ipmitool median: $i s"
echo "RESULT power-status N=$N parallel=$PARALLEL gitboot=${g}s ipmitool=${i}s"
