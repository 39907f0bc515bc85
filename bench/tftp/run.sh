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
	rm -rf "$work"
}
trap cleanup EXIT

# One root for both servers. tftpd-hpa -s cannot follow Debian's ipxe.efi
# symlink out of its root, so copy the binaries (cp -L).
mkdir -p "$work/root" "$work/out"
for f in $FILES; do cp -L "$IPXE/$f" "$work/root/$f"; done
chmod 755 "$work" "$work/root"
chmod 644 "$work/root"/*

(cd "$repo" && go build -o "$work/tftpserve" ./bench/tftp/tftpserve)
"$work/tftpserve" -dir "$work/root" -addr "127.0.0.1:$GPORT" &
pids+=($!)
in.tftpd -L -a "127.0.0.1:$HPORT" -s "$work/root" &
pids+=($!)
sleep 1

# fetch SERVER PORT FILE: N parallel downloads; prints MB/s.
fetch() {
	local name=$1 port=$2 file=$3 size start end i
	size=$(stat -c %s "$work/root/$file")
	rm -f "$work/out"/*
	start=$(date +%s.%N)
	for ((i = 0; i < N; i++)); do
		atftp --option "blksize $BLKSIZE" -g -r "$file" -l "$work/out/$i" 127.0.0.1 "$port" >/dev/null 2>&1 &
	done
	wait # in this $(...) subshell: only the atftp clients
	end=$(date +%s.%N)
	for ((i = 0; i < N; i++)); do
		cmp -s "$work/out/$i" "$work/root/$file" || { echo "$name: download $i of $file differs" >&2; exit 1; }
	done
	awk -v n="$N" -v s="$size" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", n * s / (b - a) / 1e6 }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# $N concurrent atftp downloads, blksize $BLKSIZE, $ROUNDS rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in $FILES; do
	: >"$work/g" && : >"$work/h"
	for ((r = 1; r <= ROUNDS; r++)); do
		if ((r % 2)); then
			g=$(fetch gitboot "$GPORT" "$f"); h=$(fetch tftpd-hpa "$HPORT" "$f")
		else
			h=$(fetch tftpd-hpa "$HPORT" "$f"); g=$(fetch gitboot "$GPORT" "$f")
		fi
		[[ -n $g && -n $h ]] || exit 1
		echo "$g" >>"$work/g"; echo "$h" >>"$work/h"
		printf '%-14s round %d  gitboot %8.1f MB/s  tftpd-hpa %8.1f MB/s\n' "$f" "$r" "$g" "$h"
	done
	gm=$(median <"$work/g"); hm=$(median <"$work/h")
	printf '%-14s median   gitboot %8.1f MB/s  tftpd-hpa %8.1f MB/s  ratio %.2fx\n' "$f" "$gm" "$hm" \
		"$(awk -v a="$gm" -v b="$hm" 'BEGIN { print a / b }')"
done
