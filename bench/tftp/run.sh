#!/usr/bin/env bash
# TFTP throughput: N concurrent atftp downloads (blksize 1468) of each iPXE
# binary from gitboot's TFTP package (bench/tftp/tftpserve) and from
# tftpd-hpa (in.tftpd), in the same run, same root, rounds interleaved.
# Prints MB/s per round and the median ratio gitboot / tftpd-hpa.
#
#   bash bench/tftp/run.sh                 # N=64 ROUNDS=5
#   N=128 ROUNDS=3 FILES=ipxe.efi bash bench/tftp/run.sh
#
# Loopback only. Needs go, atftp, tftpd-hpa and ipxe (root for in.tftpd -s).
set -euo pipefail

N=${N:-64}
ROUNDS=${ROUNDS:-5}
FILES=${FILES:-"undionly.kpxe ipxe.efi"}
BLKSIZE=${BLKSIZE:-1468}
GPORT=${GPORT:-16969}
HPORT=${HPORT:-16970}
IPXE=${IPXE:-/usr/lib/ipxe}

for tool in atftp in.tftpd go; do
	command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/gitboot-tftp-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	cleanup_cg
	rm -rf "$work"
}
trap cleanup EXIT
cleanup_cg() { :; }

# One root for both servers. tftpd-hpa -s cannot follow Debian's ipxe.efi
# symlink out of its root, so copy the binaries (cp -L).
mkdir -p "$work/root" "$work/out"
for f in $FILES; do cp -L "$IPXE/$f" "$work/root/$f"; done
chmod 755 "$work" "$work/root"
chmod 644 "$work/root"/*

(cd "$repo" && go build -o "$work/tftpserve" ./bench/tftp/tftpserve)
# Each server runs in a cpuacct cgroup of its own, so its CPU time counts
# every process it forks (in.tftpd forks one per transfer). Without cgroup v1
# cpuacct the CPU column shows -1.
cgbase=/sys/fs/cgroup/cpuacct
cg_g="" cg_h=""
if [[ -w $cgbase ]] && mkdir "$cgbase/${work##*/}-g" "$cgbase/${work##*/}-h" 2>/dev/null; then
	cg_g=$cgbase/${work##*/}-g cg_h=$cgbase/${work##*/}-h
fi
cleanup_cg() {
	local cg
	for cg in "$cg_g" "$cg_h"; do [[ -n $cg ]] && rmdir "$cg" 2>/dev/null || true; done
}
# start CGROUP CMD...: runs CMD in the cgroup (if any), in the background.
start() {
	local cg=$1
	shift
	if [[ -n $cg ]]; then
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@" &
	else
		"$@" &
	fi
}
start "$cg_g" "$work/tftpserve" -dir "$work/root" -addr "127.0.0.1:$GPORT"
pids+=($!)
start "$cg_h" in.tftpd -L -a "127.0.0.1:$HPORT" -s "$work/root"
pids+=($!)
sleep 1

# cpu_ms CGROUP: CPU milliseconds used in the cgroup so far (-1: unknown).
cpu_ms() {
	if [[ -z $1 ]]; then echo -1; return; fi
	echo $(($(cat "$1/cpuacct.usage") / 1000000))
}

# fetch NAME PORT CGROUP FILE: N parallel downloads; prints MB/s and the
# server's CPU milliseconds for them.
fetch() {
	local name=$1 port=$2 cg=$3 file=$4 size start end i c0 c1
	size=$(stat -c %s "$work/root/$file")
	rm -f "$work/out"/*
	c0=$(cpu_ms "$cg")
	start=$(date +%s.%N)
	for ((i = 0; i < N; i++)); do
		atftp --option "blksize $BLKSIZE" -g -r "$file" -l "$work/out/$i" 127.0.0.1 "$port" >/dev/null 2>&1 &
	done
	wait # in this $(...) subshell: only the atftp clients
	end=$(date +%s.%N)
	sleep 0.2 # let in.tftpd's children exit
	c1=$(cpu_ms "$cg")
	for ((i = 0; i < N; i++)); do
		cmp -s "$work/out/$i" "$work/root/$file" || { echo "$name: download $i of $file differs" >&2; exit 1; }
	done
	awk -v n="$N" -v s="$size" -v a="$start" -v b="$end" -v c="$((c1 - c0))" \
		'BEGIN { printf "%.1f %d\n", n * s / (b - a) / 1e6, c }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# $N concurrent atftp downloads, blksize $BLKSIZE, $ROUNDS rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in $FILES; do
	: >"$work/g" && : >"$work/h" && : >"$work/gc" && : >"$work/hc"
	for ((r = 1; r <= ROUNDS; r++)); do
		if ((r % 2)); then
			g=$(fetch gitboot "$GPORT" "$cg_g" "$f"); h=$(fetch tftpd-hpa "$HPORT" "$cg_h" "$f")
		else
			h=$(fetch tftpd-hpa "$HPORT" "$cg_h" "$f"); g=$(fetch gitboot "$GPORT" "$cg_g" "$f")
		fi
		[[ -n $g && -n $h ]] || exit 1
		read -r gr gc <<<"$g"
		read -r hr hc <<<"$h"
		echo "$gr" >>"$work/g"; echo "$hr" >>"$work/h"; echo "$gc" >>"$work/gc"; echo "$hc" >>"$work/hc"
		printf '%-14s round %d  gitboot %7.1f MB/s %5d ms CPU   tftpd-hpa %7.1f MB/s %5d ms CPU\n' "$f" "$r" "$gr" "$gc" "$hr" "$hc"
	done
	gm=$(median <"$work/g"); hm=$(median <"$work/h"); gcm=$(median <"$work/gc"); hcm=$(median <"$work/hc")
	printf '%-14s median   gitboot %7.1f MB/s %5d ms CPU   tftpd-hpa %7.1f MB/s %5d ms CPU\n' "$f" "$gm" "$gcm" "$hm" "$hcm"
	printf '%-14s gitboot/tftpd-hpa: throughput %.2fx, server CPU %.2fx (lower is better)\n' "$f" \
		"$(awk -v a="$gm" -v b="$hm" 'BEGIN { print a / b }')" "$(awk -v a="$gcm" -v b="$hcm" 'BEGIN { print (b > 0) ? a / b : 0 }')"
done
