#!/usr/bin/env bash
# HTTP download throughput: gitboot's httpboot vs nginx, same file, same run.
# CLIENTS concurrent curl downloads of a SIZE_MB file over loopback, ROUNDS
# rounds alternating which server goes first; prints MB/s per round, the
# means and the ratio httpboot/nginx. Needs nginx and curl. Not in make test.
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZE_MB=${SIZE_MB:-200}
CLIENTS=${CLIENTS:-64}
ROUNDS=${ROUNDS:-3}
NGINX_PORT=${NGINX_PORT:-18080}
GITBOOT_PORT=${GITBOOT_PORT:-19873}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/www"
dd if=/dev/urandom of="$tmp/www/image.img.gz" bs=1M count="$SIZE_MB" status=none
cat "$tmp/www/image.img.gz" >/dev/null # into the page cache for both
go build -o "$tmp/httpbench" ./bench/http

cat >"$tmp/nginx.conf" <<CONF
user root;
worker_processes auto;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 60;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $tmp/www;
  }
}
CONF
# Three servers of the same file: nginx; httpboot with Go's default
# GOMAXPROCS (one P per core); httpboot with GOMAXPROCS=1 (on a small,
# busy machine the runtime's thread wake-ups cost throughput: see README).
nginx -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log" & pids+=($!)
"$tmp/httpbench" -file "$tmp/www/image.img.gz" -listen "127.0.0.1:$GITBOOT_PORT" >"$tmp/httpbench.log" 2>&1 & pids+=($!)
GOMAXPROCS=1 "$tmp/httpbench" -file "$tmp/www/image.img.gz" -listen "127.0.0.1:$((GITBOOT_PORT + 1))" >"$tmp/httpbench1.log" 2>&1 & pids+=($!)
names=(nginx httpboot "httpboot(GOMAXPROCS=1)")
urls=("http://127.0.0.1:$NGINX_PORT/image.img.gz"
      "http://127.0.0.1:$GITBOOT_PORT/image/52:54:00:00:00:01"
      "http://127.0.0.1:$((GITBOOT_PORT + 1))/image/52:54:00:00:00:01")
for u in "${urls[@]}"; do
  for _ in $(seq 50); do curl -sf -o /dev/null -r 0-0 "$u" && break; sleep 0.1; done
done

size=$(stat -c %s "$tmp/www/image.img.gz")

# cpu PID: CPU ticks (user+system) used by PID and its children (nginx workers).
cpu() {
  local p t=0
  for p in $1 $(ps -o pid= --ppid "$1"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

# run URL PID: CLIENTS parallel downloads; prints MB/s (MB = 10^6 bytes)
# and the server's CPU seconds.
run() {
  local url=$1 pid=$2 start end total c0 c1
  c0=$(cpu "$pid")
  start=$(date +%s.%N)
  for _ in $(seq "$CLIENTS"); do
    curl -sf -o /dev/null -w '%{size_download}\n' "$url" >>"$tmp/sizes" &
  done
  wait # a $(run ...) subshell: its children are the curls only
  end=$(date +%s.%N)
  total=$(awk '{s+=$1} END {printf "%.0f", s}' "$tmp/sizes"); rm -f "$tmp/sizes"
  if [ "$total" != "$((size * CLIENTS))" ]; then
    echo "incomplete downloads from $url: $total of $((size * CLIENTS)) bytes" >&2; exit 1
  fi
  c1=$(cpu "$pid")
  awk -v b="$total" -v s="$start" -v e="$end" -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.0f MB/s (server CPU %.1f s)\n", b / (e - s) / 1e6, c / hz}'
}
echo "# $CLIENTS concurrent curl downloads of a $SIZE_MB MB file over loopback, $ROUNDS rounds ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
declare -A vals cpus
for r in $(seq "$ROUNDS"); do
  line="round $r:"
  for k in 0 1 2; do
    i=$(((k + r) % 3)) # rotate who goes first
    res=$(run "${urls[$i]}" "${pids[$i]}")
    vals[$i]+="${res%% *} "
    c=${res#*CPU }; cpus[$i]+="${c%% *} "
    line+="  ${names[$i]} $res"
  done
  echo "$line"
done
# stats "v1 v2 ...": mean and median.
stats() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR]=$1; s+=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.0f %.0f", s/NR, m}'; }
read -r nmean nmed <<<"$(stats "${vals[0]}")"
for i in 0 1 2; do
  read -r mean med <<<"$(stats "${vals[$i]}")"
  cpu=$(tr ' ' '\n' <<<"${cpus[$i]}" | grep . | awk '{s+=$1} END {printf "%.2f", s/NR}')
  awk -v name="${names[$i]}" -v mean="$mean" -v med="$med" -v nmean="$nmean" -v nmed="$nmed" -v cpu="$cpu" \
    'BEGIN {printf "%-24s mean %5d MB/s  median %5d MB/s  ratio to nginx: mean %.3f median %.3f  server CPU %s s/round\n", name, mean, med, mean/nmean, med/nmed, cpu}'
done
