#!/bin/sh
# /sbin/init of the image TestQEMUBootBIOS boots (busybox sh). gitboot's
# /init (system overlay) execs it. It proves the boot reached the image's
# userspace with all four initrds unpacked: the node name from the kernel
# command line (the iPXE script), /etc/gitboot/cluster (system overlay
# "init") and /etc/hostname (runtime overlay "hostname"), then powers off.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# An initramfs has no /dev/console until devtmpfs is mounted: reopen it.
exec </dev/console >/dev/console 2>&1
node=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	gitboot.node=*) node="${arg#gitboot.node=}" ;;
	esac
done
hostname=$(cat /etc/hostname 2>/dev/null)
cluster=$(cat /etc/gitboot/cluster 2>/dev/null)
echo "GITBOOT-E2E-BOOTED node=$node hostname=$hostname cluster=$cluster"
# Let the UART drain before the power goes.
sleep 2
poweroff -f
