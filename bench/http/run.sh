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
nginx -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log" & pids+=($!)
"$tmp/httpbench" -file "$tmp/www/image.img.gz" -listen "127.0.0.1:$GITBOOT_PORT" >"$tmp/httpbench.log" 2>&1 & pids+=($!)

nginx_url="http://127.0.0.1:$NGINX_PORT/image.img.gz"
gitboot_url="http://127.0.0.1:$GITBOOT_PORT/image/52:54:00:00:00:01"
for u in "$nginx_url" "$gitboot_url"; do
  for _ in $(seq 50); do curl -sf -o /dev/null -r 0-0 "$u" && break; sleep 0.1; done
done

size=$(stat -c %s "$tmp/www/image.img.gz")

# run URL: CLIENTS parallel downloads; prints MB/s (MB = 10^6 bytes).
run() {
  local url=$1 start end total
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
  awk -v b="$total" -v s="$start" -v e="$end" 'BEGIN {printf "%.0f\n", b / (e - s) / 1e6}'
}
echo "# $CLIENTS concurrent curl downloads of a $SIZE_MB MB file over loopback, $ROUNDS rounds ($(nproc) cores)"
ns=() gs=()
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then n=$(run "$nginx_url"); g=$(run "$gitboot_url")
  else g=$(run "$gitboot_url"); n=$(run "$nginx_url"); fi
  ns+=("$n") gs+=("$g")
  echo "round $r: nginx $n MB/s  httpboot $g MB/s"
done
awk -v n="${ns[*]}" -v g="${gs[*]}" 'BEGIN {
  k = split(n, a, " "); split(g, b, " ")
  for (i = 1; i <= k; i++) { sn += a[i]; sg += b[i] }
  printf "mean: nginx %.0f MB/s  httpboot %.0f MB/s  ratio %.3f\n", sn / k, sg / k, sg / sn
}'
