#!/bin/sh
# /sbin/init of the image the QEMU tests boot (busybox sh). gitboot's /init
# (system overlay) brought the network up and execs it. It proves the boot
# reached the image's userspace with all four initrds unpacked and the
# network up: one marker line with the node name from the kernel command
# line (the iPXE script), /etc/hostname (runtime overlay "hostname"),
# /etc/gitboot/cluster (system overlay "init"), the kernel's hostname and
# addresses (set by gitboot's /init) and whether gitboot answers over HTTP.
# Then it powers off, unless the kernel command line says e2e.stay: then it
# runs the image's own DHCP client once (a booted node's DHCP must not
# reset its boot stage) and prints /etc/motd whenever the agent changes it.
# With e2e.rootcheck it first prints what / is (root = "tmpfs") and whether
# pivot_root works in a new mount namespace (as container runtimes do).
export PATH=/bin:/sbin
# gitboot's /init mounted these; mount what is missing.
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
[ -c /dev/console ] || mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
node=
server=
stay=
rootcheck=
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case "$arg" in
	gitboot.node=*) node="${arg#gitboot.node=}" ;;
	gitboot.server=*) server="${arg#gitboot.server=}" ;;
	e2e.stay) stay=1 ;;
	e2e.rootcheck) rootcheck=1 ;;
	esac
done
hostname=$(cat /etc/hostname 2>/dev/null)
cluster=$(cat /etc/gitboot/cluster 2>/dev/null)
net=$(ip -o -4 addr show | awk '$2 != "lo" { printf "%s%s=%s", sep, $2, $4; sep = "," }')
# The whole kernel command line, so a test sees the kernel arguments a
# node booted with (a rollout's new ones).
echo "GITBOOT-E2E-CMDLINE $cmdline"
# busybox-static's wget crashes without libc's NSS files: ask with nc.
hostport=${server#http://}
http=fail
if printf 'GET /healthz HTTP/1.0\r\n\r\n' | nc -w 5 "${hostport%:*}" "${hostport##*:}" | head -n 1 | grep -q ' 200 '; then
	http=ok
fi
if [ -n "$rootcheck" ]; then
	# The last mount on /: device and type (the initramfs reads rootfs).
	mnt=$(awk '$2 == "/" { m = $1 ":" $3 } END { print m }' /proc/mounts)
	size=$(df -k / | awk 'NR == 2 { print $2 }')
	pivot=fail
	if unshare -m --propagation private sh -c 'mkdir -p /tmp/pr && mount -t tmpfs pr /tmp/pr &&
		mkdir /tmp/pr/old && cp -a /bin /tmp/pr/ && cd /tmp/pr && pivot_root . old && exec /bin/busybox true' >/dev/null 2>&1; then
		pivot=ok
	fi
	echo "GITBOOT-E2E-ROOT mount=$mnt size=$size pivot=$pivot"
fi
echo "GITBOOT-E2E-BOOTED node=$node hostname=$hostname cluster=$cluster uname=$(uname -n) net=${net:-none} http=$http"
if [ -z "$stay" ]; then
	# Let the UART drain before the power goes.
	sleep 2
	poweroff -f
fi
iface=$(ip -o -4 addr show | awk '$2 != "lo" { print $2; exit }')
udhcpc -i "$iface" -n -q -t 3 -T 2 -s /bin/true >/dev/null 2>&1
echo "GITBOOT-E2E-DHCP done rc=$?"
last=
while :; do
	sum=$(md5sum /etc/motd 2>/dev/null)
	if [ "$sum" != "$last" ]; then
		sed 's/^/GITBOOT-E2E-MOTD| /' /etc/motd 2>/dev/null
		echo "GITBOOT-E2E-MOTD end"
		last=$sum
	fi
	sleep 1
done
