#!/bin/sh
# gitboot netconfig: installs the node's network configuration for the
# image's own network stack. gitboot renders it on the server for every
# stack it knows, under /usr/lib/gitboot/net/ (see gitboot.conf there);
# /init runs this script after its own network step, before the image's
# init. It
#
#   1. picks the stack: STACK= of gitboot.conf (the node's network_config),
#      else the image's: NetworkManager enabled -> networkmanager,
#      systemd-networkd enabled -> networkd, NetworkManager present ->
#      networkmanager, ifup present -> ifupdown, systemd-networkd present
#      -> networkd;
#   2. installs the .link files (udev names each interface as declared)
#      and that stack's files into /etc, enabling systemd-networkd when it
#      chose it and the image does not enable it;
#   3. writes /etc/resolv.conf (the node's DNS servers and search domains)
#      for networkd and ifupdown, unless it is a link (systemd-resolved,
#      resolvconf: they take the servers and domains from the stack);
#   4. prints one line: "gitboot init: netconfig: STACK: N interfaces".
#
# The implicit boot NIC (no interface block has the node's mac) is named
# in the files as @BOOTIF@: the name it has now, found by BOOT_MAC (the
# .link file keeps it). Problems print a line and never stop the boot.
#
# For tests: ROOT= is the root to work on (default /), SYSNET= the
# directory of network devices (default /sys/class/net); with ROOT set the
# boot NIC's address is left alone unless FIX_ADDR=1.
#
# POSIX sh only: it runs under busybox sh and dash alike.

ROOT=${ROOT:-}
SYSNET=${SYSNET:-/sys/class/net}
NET=$ROOT/usr/lib/gitboot/net

say() {
	echo "gitboot init: netconfig: $*"
}

STACK='' BOOT_MAC='' BOOT_NAME='' BOOT_ADDR='' BOOT_GATEWAY='' INTERFACES=0
if [ ! -r "$NET/gitboot.conf" ]; then
	say "no /usr/lib/gitboot/net/gitboot.conf: nothing to configure"
	exit 0
fi
while IFS='=' read -r key value; do
	case $key in
	STACK) STACK=$value ;;
	BOOT_MAC) BOOT_MAC=$value ;;
	BOOT_NAME) BOOT_NAME=$value ;;
	BOOT_ADDR) BOOT_ADDR=$value ;;
	BOOT_GATEWAY) BOOT_GATEWAY=$value ;;
	INTERFACES) INTERFACES=$value ;;
	esac
done <"$NET/gitboot.conf"

lower() {
	echo "$1" | tr 'ABCDEF' 'abcdef'
}

# executable PATH...: one of the paths (in the image) is an executable file.
executable() {
	for p in "$@"; do
		if [ -f "$ROOT$p" ] && [ -x "$ROOT$p" ]; then
			return 0
		fi
	done
	return 1
}

# enabled UNIT: a *.wants directory of /etc/systemd/system holds UNIT.
enabled() {
	for w in "$ROOT"/etc/systemd/system/*.wants/"$1"; do
		if [ -e "$w" ] || [ -L "$w" ]; then
			return 0
		fi
	done
	return 1
}

# unit_path UNIT: prints where the image has UNIT.
unit_path() {
	for d in /etc/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
		if [ -f "$ROOT$d/$1" ]; then
			echo "$d/$1"
			return 0
		fi
	done
	return 1
}

# enable UNIT TARGET: links UNIT into TARGET.wants unless it is enabled.
enable() {
	enabled "$1" && return 0
	if [ -L "$ROOT/etc/systemd/system/$1" ] && [ ! -e "$ROOT/etc/systemd/system/$1" ]; then
		say "$1 is masked in the image; not enabled"
		return 1
	fi
	p=$(unit_path "$1") || {
		say "the image has no $1"
		return 1
	}
	mkdir -p "$ROOT/etc/systemd/system/$2.wants" &&
		ln -sf "$p" "$ROOT/etc/systemd/system/$2.wants/$1" || {
		say "could not enable $1"
		return 1
	}
	say "enabled $1"
}

detect() {
	if enabled NetworkManager.service; then
		echo networkmanager
	elif enabled systemd-networkd.service; then
		echo networkd
	elif executable /usr/sbin/NetworkManager /sbin/NetworkManager; then
		echo networkmanager
	elif executable /sbin/ifup /usr/sbin/ifup; then
		echo ifupdown
	elif executable /usr/lib/systemd/systemd-networkd /lib/systemd/systemd-networkd; then
		echo networkd
	fi
}

# The boot NIC's name now: declared, else the device with BOOT_MAC.
BOOTIF=$BOOT_NAME
if [ -z "$BOOTIF" ] && [ -n "$BOOT_MAC" ]; then
	for dev in "$SYSNET"/*; do
		[ -r "$dev/address" ] || continue
		read -r addr <"$dev/address" 2>/dev/null || continue
		if [ "$(lower "$addr")" = "$BOOT_MAC" ]; then
			BOOTIF=${dev##*/}
			break
		fi
	done
	[ -n "$BOOTIF" ] || say "no interface has the boot mac $BOOT_MAC: its files are left out"
fi

# The boot NIC's address as the stacks set it: with its broadcast address.
# The kernel never changes the broadcast of an existing address, and
# systemd-networkd (252) retries such a change until the link fails: an
# address /init added without one is added again with it (and the default
# route, which went with it). Not in tests (ROOT set) unless FIX_ADDR=1.
[ -n "$ROOT" ] || FIX_ADDR=1
if [ "${FIX_ADDR:-}" = 1 ] && [ -n "$BOOTIF" ] && [ -n "$BOOT_ADDR" ] && command -v ip >/dev/null 2>&1; then
	cur=$(ip -4 -o addr show dev "$BOOTIF" 2>/dev/null)
	case $cur in
	*" $BOOT_ADDR brd "*) ;;
	*" $BOOT_ADDR "*)
		if ip addr del "$BOOT_ADDR" dev "$BOOTIF" && ip addr add "$BOOT_ADDR" brd + dev "$BOOTIF"; then
			say "$BOOTIF: $BOOT_ADDR again with its broadcast address"
		else
			ip addr replace "$BOOT_ADDR" dev "$BOOTIF" 2>/dev/null
			say "$BOOTIF: could not add the broadcast address to $BOOT_ADDR"
		fi
		if [ -n "$BOOT_GATEWAY" ]; then
			ip route replace default via "$BOOT_GATEWAY" dev "$BOOTIF" || say "could not restore the default route via $BOOT_GATEWAY"
		fi
		;;
	esac
fi

# put SRC DEST MODE: installs SRC as DEST (in the image), @BOOTIF@
# replaced; an existing DEST is replaced whole.
put() {
	dir=${2%/*}
	mkdir -p "$ROOT$dir" &&
		sed "s/@BOOTIF@/$BOOTIF/g" "$1" >"$ROOT$2.gitboot-tmp" &&
		chmod "$3" "$ROOT$2.gitboot-tmp" &&
		mv -f "$ROOT$2.gitboot-tmp" "$ROOT$2" || {
		rm -f "$ROOT$2.gitboot-tmp"
		say "could not write $2"
		return 1
	}
}

# put_dir SRCDIR DESTDIR MODE: puts each file of SRCDIR; a file naming
# the boot NIC is left out when its name is unknown.
put_dir() {
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		if [ -z "$BOOTIF" ] && grep -q '@BOOTIF@' "$f"; then
			continue
		fi
		put "$f" "$2/${f##*/}" "$3"
	done
}

resolv() {
	[ -f "$NET/resolv.conf" ] || return 0
	if [ -L "$ROOT/etc/resolv.conf" ]; then
		return 0 # systemd-resolved's or resolvconf's: the stack feeds it
	fi
	put "$NET/resolv.conf" /etc/resolv.conf 644
}

how="network_config"
if [ -z "$STACK" ]; then
	STACK=$(detect)
	how="detected"
fi
case $STACK in
networkd | networkmanager | ifupdown) ;;
'')
	say "no network stack in the image (NetworkManager, systemd-networkd, ifupdown): the interfaces stay as /init set them"
	exit 0
	;;
*)
	say "unknown network_config $STACK: nothing configured"
	exit 0
	;;
esac

put_dir "$NET/link" /etc/systemd/network 644
case $STACK in
networkd)
	put_dir "$NET/networkd" /etc/systemd/network 644
	if enable systemd-networkd.service multi-user.target; then
		if unit_path systemd-networkd.socket >/dev/null; then
			enable systemd-networkd.socket sockets.target
		fi
	fi
	resolv
	;;
networkmanager)
	put_dir "$NET/networkmanager" /etc/NetworkManager/system-connections 600
	enable NetworkManager.service multi-user.target
	;;
ifupdown)
	if [ -z "$BOOTIF" ]; then
		# Without the boot NIC's stanza (up to the blank line after it).
		mkdir -p "$ROOT/etc/network/interfaces.d" &&
			sed '/^auto @BOOTIF@$/,/^$/d' "$NET/ifupdown/gitboot" >"$ROOT/etc/network/interfaces.d/gitboot" ||
			say "could not write /etc/network/interfaces.d/gitboot"
	else
		put "$NET/ifupdown/gitboot" /etc/network/interfaces.d/gitboot 644
	fi
	ifaces=$ROOT/etc/network/interfaces
	if [ ! -e "$ifaces" ]; then
		printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' >"$ifaces" ||
			say "could not write /etc/network/interfaces"
	elif ! grep -Eq '^[[:space:]]*source(-directory)?[[:space:]]+/etc/network/interfaces\.d' "$ifaces"; then
		printf '\n# gitboot: its interfaces\nsource /etc/network/interfaces.d/*\n' >>"$ifaces" ||
			say "could not add interfaces.d to /etc/network/interfaces"
	fi
	resolv
	;;
esac
say "$STACK: $INTERFACES interfaces ($how${BOOTIF:+; boot NIC $BOOTIF})"
