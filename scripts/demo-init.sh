#!/bin/sh
# /sbin/init of the image `make demo` boots (busybox sh; scripts/demo.sh
# builds the image). gitboot's /init (from the system overlay) execs it once
# it brought the node's network up (its "gitboot init:" lines come first). It prints one line naming what each layer
# brought: the node name from the kernel command line (the iPXE script),
# the hostname from the runtime overlay "hostname" and the cluster name
# from the system overlay "init", then /etc/motd (runtime overlay
# "generic", a template rendered for this node), then keeps printing
# /etc/motd whenever the node agent changes it.
export PATH=/bin:/sbin
# gitboot's /init mounted these; mount what is missing.
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
[ -c /dev/console ] || mount -t devtmpfs devtmpfs /dev
# An initramfs has no /dev/console until devtmpfs is mounted: reopen it.
exec </dev/console >/dev/console 2>&1
node=
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case "$arg" in
	gitboot.node=*) node="${arg#gitboot.node=}" ;;
	esac
done
hostname=$(cat /etc/hostname 2>/dev/null)
cluster=$(cat /etc/gitboot/cluster 2>/dev/null)
[ -n "$hostname" ] && hostname "$hostname"
echo "gitboot demo: $node booted (hostname $hostname, cluster $cluster)"
if [ -f /etc/motd ]; then
	sed 's/^/    motd| /' /etc/motd
fi
# The node keeps running: gitboot-agent (started by gitboot's /init) pulls
# the runtime overlay every runtime_interval; print /etc/motd whenever a
# pushed commit changed it. make demo stops the VMs when it is done.
echo "gitboot demo: $node running, watching /etc/motd"
last=$(cat /etc/motd 2>/dev/null)
i=0
while [ "$i" -lt 600 ]; do
	sleep 1
	i=$((i + 1))
	now=$(cat /etc/motd 2>/dev/null)
	if [ "$now" != "$last" ]; then
		last=$now
		echo "gitboot demo: $node /etc/motd changed:"
		sed 's/^/    motd| /' /etc/motd
	fi
done
echo "gitboot demo: $node powering off"
sleep 2
poweroff -f
