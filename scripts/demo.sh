#!/usr/bin/env bash
# `make demo`: boot the two QEMU nodes of examples/lab (n1 and n2) through
# `gitboot serve`, print what they booted into and `gitboot status`, then
# show the GitOps loop: edit the motd template in the operator's work tree,
# commit, review it with `gitboot plan --server URL`, `git push` to the bare
# repository gitboot serves, and show the server applying the commit (its
# log line, the time from push to applied) and serving the new motd. Then
# clean up. Debian 12, as root; it installs the Debian packages it needs.
#
# Everything runs inside two network namespaces made for this run: "lan"
# holds a bridge and one tap per VM, "srv" holds gitboot serve on
# 10.99.0.1/24, plugged into the bridge with a veth pair. DHCP and all boot
# traffic stay inside them; the host's own interfaces are never touched.
# Both are deleted on exit, with the VMs, gitboot and the temp files, also
# after a failure or Ctrl-C.
#
# The image is tiny: static busybox, scripts/demo-init.sh as /sbin/init and
# a Debian 6.1 kernel with its network modules (gitboot's /init loads them
# and brings the node's network up before it execs the image's init), fetched with `apt-get download` into the cache
# test/e2e uses ($GITBOOT_TEST_CACHE/linux-6.1, default
# /var/cache/gitboot-test/linux-6.1) unless $GITBOOT_TEST_KERNEL names one.
set -euo pipefail
export LC_ALL=C # also makes $EPOCHREALTIME use a decimal point

readonly SERVER_IP=10.99.0.1
readonly SERVER_URL="http://$SERVER_IP:9873"
# The management listener (status, plan, the web page): loopback of the
# server's namespace, apart from what nodes fetch on $SERVER_URL.
readonly ADMIN_URL="http://127.0.0.1:9875"
readonly DEADLINE=180 # seconds from power-on for both nodes to reach init
readonly NODES=(n1 n2)
declare -A MAC=([n1]=52:54:00:99:00:01 [n2]=52:54:00:99:00:02)
readonly PACKAGES=(qemu-system-x86 ipxe ipxe-qemu busybox-static cpio git iproute2 curl)

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}
now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$(id -u)" -ne 0 ]; then
	die "must run as root (it creates network namespaces, taps and runs a DHCP server inside them): sudo make demo"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
t0=$(now)

# --- cleanup: runs on every exit, including failures and Ctrl-C ---------
tmp=
lan=
srv=
serve_pid=
declare -A qemu_pid=()

stop_pid() { # TERM, then KILL after 3 s
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? pid ns
	trap - EXIT INT TERM
	set +e
	for pid in "${qemu_pid[@]}" $serve_pid; do
		stop_pid "$pid"
	done
	for ns in $lan $srv; do
		if ip netns list | grep -qw "$ns"; then
			# Anything else still running in there (nothing should be).
			for pid in $(ip netns pids "$ns" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null
			done
			ip netns del "$ns"
		fi
	done
	[ -n "$tmp" ] && rm -rf "$tmp"
	case $rc in
	0) ;;
	130 | 143) printf 'demo: interrupted; cleaned up\n' >&2 ;;
	*) printf 'demo: failed (exit %d); cleaned up\n' "$rc" >&2 ;;
	esac
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. packages, gitboot, kernel ---------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]} (apt-get)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -e /usr/lib/ipxe/qemu/efi-virtio.rom ] && [ ! -e /usr/share/qemu/efi-virtio.rom ]; then
	die "QEMU's iPXE ROM efi-virtio.rom is missing: apt-get install ipxe-qemu"
fi

command -v go >/dev/null || die "Go is needed to build gitboot: install Go $(awk '/^go /{print $2}' "$root/go.mod") or newer (https://go.dev/dl) and put it on PATH"
say "building bin/gitboot (make build)"
if ! out=$(make -C "$root" --no-print-directory build 2>&1); then
	printf '%s\n' "$out" >&2
	die "make build failed"
fi
gitboot=$root/bin/gitboot

newest_kernel() { # newest non-empty DIR/boot/vmlinuz-6.1.*, or nothing
	local k best=
	for k in "$1"/boot/vmlinuz-6.1.*; do
		[ -s "$k" ] && best=$(printf '%s\n%s\n' "$best" "$k" | sed '/^$/d' | sort -V | tail -n 1)
	done
	printf '%s' "$best"
}

fetch_kernel() { # into $1: the newest linux-image-6.1.0-N-amd64 apt knows
	local dest=$1 re='^linux-image-6\.1\.0-[0-9]+-amd64$' pkgs pkg dl k
	pkgs=$(apt-cache search --names-only "$re" | awk '{print $1}' | sort -V -r)
	if [ -z "$pkgs" ]; then
		apt-get update -qq
		pkgs=$(apt-cache search --names-only "$re" | awk '{print $1}' | sort -V -r)
	fi
	[ -n "$pkgs" ] || die "apt-cache search lists no linux-image-6.1.0-N-amd64 package"
	dl=$(mktemp -d "$(dirname "$dest")/fetch-XXXXXX")
	chmod 755 "$dl" # apt's _apt user writes there
	for pkg in $(printf '%s\n' "$pkgs" | head -n 3); do
		say "fetching a kernel for the nodes: apt-get download $pkg"
		if (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) &&
			dpkg-deb --fsys-tarfile "$dl/${pkg}"_*.deb | tar -x -C "$dl" ./boot; then
			k=$(newest_kernel "$dl")
			if [ -n "$k" ]; then
				mkdir -p "$dest/boot"
				mv "$k" "$dest/boot/"
				rm -rf "$dl"
				return 0
			fi
		fi
		rm -rf "${dl:?}"/*
	done
	rm -rf "$dl"
	die "could not fetch a kernel; apt-get download linux-image-6.1.0-N-amd64 and dpkg -x it into $dest, or set GITBOOT_TEST_KERNEL"
}

if [ -n "${GITBOOT_TEST_KERNEL:-}" ]; then
	kernel=$GITBOOT_TEST_KERNEL
	[ -f "$kernel" ] || die "\$GITBOOT_TEST_KERNEL=$kernel is not a file"
else
	cache=${GITBOOT_TEST_CACHE:-/var/cache/gitboot-test}
	kernel=$(newest_kernel "$cache/linux-6.1")
	if [ -z "$kernel" ]; then
		mkdir -p "$cache/linux-6.1"
		exec 9>"$cache/.lock" # one fetch at a time, shared with test/e2e
		flock 9
		kernel=$(newest_kernel "$cache/linux-6.1")
		if [ -z "$kernel" ]; then
			fetch_kernel "$cache/linux-6.1"
			kernel=$(newest_kernel "$cache/linux-6.1")
		fi
		exec 9>&-
	fi
fi
say "kernel for the nodes: $kernel"

# The kernel's network modules (Debian builds virtio_net as a module):
# gitboot's /init loads them from the image's /lib/modules. They come from
# the kernel's own package, cached next to it like test/e2e does.
kver=$(basename "$kernel")
kver=${kver#vmlinuz-}
readonly NET_MODULES=(kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
	kernel/drivers/virtio/virtio_pci.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko
	kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/net/core/failover.ko
	kernel/drivers/net/net_failover.ko kernel/drivers/net/virtio_net.ko
	kernel/drivers/net/ethernet/intel/e1000/e1000.ko modules.builtin modules.order)
moddir=${GITBOOT_TEST_CACHE:-/var/cache/gitboot-test}/linux-6.1/lib/modules/$kver
have_modules() {
	local m
	for m in "${NET_MODULES[@]}"; do
		[ -f "$moddir/$m" ] || return 1
	done
}
if ! have_modules; then
	say "fetching the network modules of $kver: apt-get download linux-image-$kver"
	mkdir -p "$moddir"
	dl=$(mktemp -d "$(dirname "$moddir")/fetch-XXXXXX")
	chmod 755 "$dl"
	members=()
	for m in "${NET_MODULES[@]}"; do
		members+=("./lib/modules/$kver/$m")
	done
	if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "linux-image-$kver" >/dev/null) ||
		! dpkg-deb --fsys-tarfile "$dl/linux-image-${kver}"_*.deb | tar -x -C "$dl" "${members[@]}"; then
		rm -rf "$dl"
		die "could not fetch the network modules of $kver (apt-get download linux-image-$kver)"
	fi
	cp -r "$dl/lib/modules/$kver/." "$moddir/"
	rm -rf "$dl"
fi

# --- 2. the cluster repository and the image ----------------------------
# Like a site: gitboot serves a bare repository ($bare); the operator's
# work tree ($work) commits and pushes to it.
tmp=$(mktemp -d /tmp/gitboot-demo.XXXXXX)
work=$tmp/lab
bare=$tmp/lab.git
say "making the bare repository $bare and a work tree $work (examples/lab) that pushes to it"
mkdir -p "$work"
cp -r "$root/examples/lab/." "$work/"
# The agents pull the runtime overlay every 5 s (60 s by default), so the
# pushed change below reaches the consoles quickly.
sed -i 's/^\(  address  = "10.99.0.1"\)$/\1\n  runtime_interval = "5s"/' "$work/cluster.hcl"
grep -q 'runtime_interval = "5s"' "$work/cluster.hcl" || die "could not set runtime_interval in the demo repository"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.org \
	GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.org GIT_CONFIG_GLOBAL=/dev/null
git init -q --bare -b main "$bare"
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" commit -q -m "lab cluster"
git -C "$work" remote add origin "$bare"
git -C "$work" push -q origin main

image=$tmp/image
say "building the node image in $image (static busybox, scripts/demo-init.sh as /sbin/init, $(basename "$kernel"))"
mkdir -p "$image"/{bin,sbin,boot,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$image/bin/busybox"
for applet in $(/bin/busybox --list); do
	case "$applet" in busybox | init | */*) continue ;; esac
	ln -s busybox "$image/bin/$applet"
done
install -m 755 "$root/scripts/demo-init.sh" "$image/sbin/init"
cp "$kernel" "$image/boot/"
mkdir -p "$image/lib/modules/$kver" "$image/run"
cp -r "$moddir/." "$image/lib/modules/$kver/"
/bin/busybox depmod -b "$image" "$kver"
printf 'NAME="gitboot demo"\nID=gitboot-demo\n' >"$image/etc/os-release"

# --- 3. namespaces -------------------------------------------------------
id=$$
lan=gitboot-demo-lan-$id
srv=gitboot-demo-srv-$id
br=gbd${id}br
say "making network namespaces $lan (bridge, 2 taps) and $srv (gitboot, $SERVER_IP/24)"
ip netns add "$lan"
ip netns add "$srv"
ip -n "$lan" link set lo up
ip -n "$srv" link set lo up
ip -n "$lan" link add "$br" type bridge
ip -n "$lan" link set "$br" type bridge forward_delay 0 stp_state 0
ip -n "$lan" link set "$br" up
ip -n "$lan" link add "gbd${id}vl" type veth peer name "gbd${id}vs" netns "$srv"
ip -n "$lan" link set "gbd${id}vl" master "$br"
ip -n "$lan" link set "gbd${id}vl" up
# No IPv6 duplicate address detection on the server's port: its link-local
# address is usable at once, so gitboot's first router advertisements go out.
ip netns exec "$srv" sysctl -qw "net.ipv6.conf.gbd${id}vs.accept_dad=0"
ip -n "$srv" addr add "$SERVER_IP/24" dev "gbd${id}vs"
ip -n "$srv" link set "gbd${id}vs" up
declare -A tap=()
for n in "${NODES[@]}"; do
	tap[$n]=gbd${id}t${n#n}
	ip -n "$lan" tuntap add dev "${tap[$n]}" mode tap
	ip -n "$lan" link set "${tap[$n]}" master "$br"
	ip -n "$lan" link set "${tap[$n]}" up
done

logs() { # the tail of every log, for a failure
	local f
	for f in "$tmp"/serial-*.log "$tmp"/qemu-*.log "$tmp"/serve.log; do
		[ -e "$f" ] || continue
		printf '\n--- %s (last 30 lines) ---\n' "$(basename "$f")" >&2
		tail -n 30 "$f" | tr -d '\r' >&2
	done
}

# --- 4. gitboot serve ----------------------------------------------------
say "starting gitboot serve in $srv (DHCP, TFTP, HTTP on $SERVER_IP)"
ip netns exec "$srv" "$gitboot" serve --repo "$bare" --state "$tmp/state" \
	--var "image_source=$image" --image-root "$(dirname "$image")" --notes-interval 2s >"$tmp/serve.log" 2>&1 &
serve_pid=$!
ready=
for _ in $(seq 300); do
	if ip netns exec "$srv" curl -sf -o /dev/null "http://127.0.0.1:9873/healthz"; then
		ready=1
		break
	fi
	kill -0 "$serve_pid" 2>/dev/null || break
	sleep 0.2
done
if [ -z "$ready" ]; then
	logs
	die "gitboot serve did not become ready"
fi
say "gitboot serve is ready ($SERVER_URL)"

# --- 5. the two VMs ------------------------------------------------------
say "booting n1 and n2 (QEMU, BIOS, software emulation: ~10-30 s)"
boot_start=$(now)
for n in "${NODES[@]}"; do
	ip netns exec "$lan" qemu-system-x86_64 \
		-name "gitboot-demo-$n" -accel tcg -machine pc -m 384 -smp 1 \
		-nographic -monitor none -serial "file:$tmp/serial-$n.log" \
		-no-reboot -boot n \
		-netdev "tap,id=n0,ifname=${tap[$n]},script=no,downscript=no" \
		-device "virtio-net-pci,netdev=n0,mac=${MAC[$n]}" \
		</dev/null >"$tmp/qemu-$n.log" 2>&1 &
	qemu_pid[$n]=$!
done

declare -A booted=() shown=()
failed=
while [ ${#shown[@]} -lt ${#NODES[@]} ]; do
	for n in "${NODES[@]}"; do
		[ -n "${shown[$n]:-}" ] && continue
		log=$tmp/serial-$n.log
		alive=1
		kill -0 "${qemu_pid[$n]}" 2>/dev/null || alive=
		if [ -z "${booted[$n]:-}" ] && grep -aq "gitboot demo: $n booted" "$log" 2>/dev/null; then
			booted[$n]=$(since "$boot_start")
		fi
		# Show the node's lines once it printed them all (or stopped).
		if [ -n "${booted[$n]:-}" ] && { grep -aq "gitboot demo: $n running" "$log" || [ -z "$alive" ]; }; then
			printf '\n%s reached its init %s s after power-on:\n' "$n" "${booted[$n]}"
			# gitboot's /init, then the image's init. (The firmware's
			# screen codes may precede the first line.)
			tr -d '\r' <"$log" | grep -ao 'gitboot init: .*' | sed 's/^/  /'
			tr -d '\r' <"$log" | sed -n "/gitboot demo: $n booted/,/gitboot demo: $n running/p" |
				sed 's/^.*\(gitboot demo: \)/\1/; s/^/  /'
			want="gitboot demo: $n booted (hostname $n, cluster lab)"
			got=$(tr -d '\r' <"$log" | grep -ao "gitboot demo: $n booted.*" | head -n 1)
			if [ "$got" != "$want" ]; then
				printf 'demo: %s booted, but not as expected: want "%s"\n' "$n" "$want" >&2
				failed=1
			fi
			shown[$n]=1
		elif [ -z "$alive" ] && [ -z "${booted[$n]:-}" ]; then
			logs
			die "$n stopped $(since "$boot_start") s after power-on without reaching the image's init"
		fi
	done
	[ ${#shown[@]} -eq ${#NODES[@]} ] && break
	if awk -v s="$(since "$boot_start")" -v d="$DEADLINE" 'BEGIN { exit !(s > d) }'; then
		logs
		for n in "${NODES[@]}"; do
			[ -n "${booted[$n]:-}" ] || printf 'demo: %s did not reach its init\n' "$n" >&2
		done
		die "not every node booted within $DEADLINE s"
	fi
	sleep 0.25
done

# --- 6. status and times --------------------------------------------------
printf '\n'
say "gitboot status --server $ADMIN_URL"
if ! ip netns exec "$srv" "$gitboot" status --server "$ADMIN_URL"; then
	logs
	die "gitboot status failed"
fi

printf '\n'
say "boot times (QEMU power-on to the image's /sbin/init, both VMs in parallel under TCG):"
for n in "${NODES[@]}"; do
	printf '    %s  %s s\n' "$n" "${booted[$n]}"
done
[ -z "$failed" ] || die "a node booted with the wrong hostname or cluster (see above)"

# --- 7. a push: edit, plan, git push, applied, served --------------------
motd=overlays/generic/etc/motd.tmpl
added="Changed by a git push during make demo ($(date -u +%H:%M:%S) UTC)."
printf '\n'
say "the operator adds a line to $motd in the work tree (a template: sprig's upper on the node's name) and commits:"
printf '{{ .Node.Name | upper }}: %s\n' "$added" >>"$work/$motd"
git -C "$work" commit -q -am "motd: a line from make demo"
git -C "$work" --no-pager diff --no-color HEAD~1 HEAD | sed 's/^/    /'

# The review: the committed tip against what the server runs
# (GET /inventory). It runs in the server's namespace to reach the server.
printf '\n'
say "gitboot plan --repo $work --server $ADMIN_URL"
if ! out=$(ip netns exec "$srv" "$gitboot" plan --repo "$work" --server "$ADMIN_URL" \
	--var "image_source=$image" 2>&1); then
	printf '%s\n' "$out" >&2
	logs
	die "gitboot plan failed"
fi
printf '%s\n' "$out" | sed 's/^/    /'

commit=$(git -C "$work" rev-parse HEAD)
short=${commit:0:12}
printf '\n'
say "git push origin main (to $bare, which gitboot serve watches)"
push_start=$(now)
git -C "$work" push -q origin main
push_done=$(now)
applied=
while awk -v s="$(since "$push_done")" 'BEGIN { exit !(s < 30) }'; do
	applied=$(grep -a "msg=\"applied commit\" commit=$short" "$tmp/serve.log" || true)
	[ -n "$applied" ] && break
	grep -aq "msg=\"commit rejected.* commit=$short" "$tmp/serve.log" && break
	sleep 0.02
done
if [ -z "$applied" ]; then
	logs
	die "gitboot serve did not apply commit $short within 30 s of the push"
fi
say "gitboot serve logged:"
printf '%s\n' "$applied" | sed 's/^/    /'
# The time from the push to applied: the log line's own timestamp.
applied_at=$(date -d "$(printf '%s\n' "$applied" | head -n 1 | sed -n 's/^time=\([^ ]*\).*/\1/p')" +%s.%N)
awk -v a="$push_start" -v b="$push_done" -v c="$applied_at" 'BEGIN {
	printf "    git push took %.2f s; gitboot applied the commit %.2f s after git push returned\n", b - a, c - b }'

# The running nodes: each agent pulls the new runtime overlay (every 5 s
# here) and the image's init prints the changed /etc/motd on the console.
printf '\n'
say "the running nodes pick it up (gitboot-agent, every 5 s, no reboot: needs_reboot=0):"
declare -A arrived=()
while [ ${#arrived[@]} -lt ${#NODES[@]} ]; do
	for n in "${NODES[@]}"; do
		[ -n "${arrived[$n]:-}" ] && continue
		if tr -d '\r' <"$tmp/serial-$n.log" | grep -aqF "motd| ${n^^}: $added"; then
			arrived[$n]=$(since "$push_done")
			printf '  %s console, %s s after git push returned:\n' "$n" "${arrived[$n]}"
			tr -d '\r' <"$tmp/serial-$n.log" | sed -n "/gitboot demo: $n \/etc\/motd changed/,\$p" |
				sed 's/^.*\(gitboot demo: \)/\1/; s/^/    /'
		fi
	done
	[ ${#arrived[@]} -eq ${#NODES[@]} ] && break
	if awk -v s="$(since "$push_done")" 'BEGIN { exit !(s > 60) }'; then
		logs
		die "the pushed motd did not reach every node's console within 60 s"
	fi
	sleep 0.25
done

printf '\n'
say "gitboot status --server $ADMIN_URL (the agents keep LASTSEEN fresh)"
ip netns exec "$srv" "$gitboot" status --server "$ADMIN_URL" || die "gitboot status failed"

say "gitboot status n1 (this boot's timeline: when each stage was reached)"
ip netns exec "$srv" "$gitboot" status --server "$ADMIN_URL" n1 || die "gitboot status n1 failed"

say "git notes on the pushed commit (written by gitboot serve; no server needed to read them)"
notes=
for _ in $(seq 50); do
	notes=$(git -C "$bare" notes --ref=gitboot show main 2>/dev/null || true)
	case $notes in *"node server="*) break ;; esac
	sleep 0.2
done
[ -n "$notes" ] || die "no git notes on the pushed commit"
git -C "$bare" log --notes=gitboot -1 --format='%h %s%n%N' main | sed 's/^/    /'

say "gitboot overlay render n1 (every file n1 gets from its overlays: overlay, mode, owner, size)"
"$gitboot" overlay render n1 --repo "$bare" --state "$tmp/state" --var "image_source=$image" --image-root "$(dirname "$image")" 2>&1 | sed 's/^/    /' ||
	die "gitboot overlay render failed"

say "gitboot secrets recipient --state $tmp/state (made at serve's first start; operators encrypt to it: age -r RECIPIENT -o overlays/x/etc/munge/munge.key.age)"
"$gitboot" secrets recipient --state "$tmp/state" 2>&1 | sed 's/^/    /' || die "gitboot secrets recipient failed"

say "the web status page: $ADMIN_URL/ (live over /events; here fetched once with curl)"
page=$(ip netns exec "$srv" curl -sf "$ADMIN_URL/") || die "GET / failed"
printf '    GET / : %d bytes, rows for %s\n' "${#page}" "$(printf '%s' "$page" | grep -o 'n[12]</a>' | sort -u | sed 's,</a>,,' | tr '\n' ' ')"

say "done in $(since "$t0") s; removing the VMs, gitboot serve, namespaces and $tmp"
