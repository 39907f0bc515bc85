package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stage one's network: load the drivers of the devices the node has (from
// the stage-one initramfs's modules.alias and modules.dep), find the boot
// interface by its MAC, give it the node's address and bring it up, and
// add the default route.

// modAliases is a modules.alias: patterns and the module each names.
type modAliases []struct{ pattern, module string }

func readModAliases(p string) (modAliases, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out modAliases
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) == 3 && fl[0] == "alias" {
			out = append(out, struct{ pattern, module string }{fl[1], strings.ReplaceAll(fl[2], "-", "_")})
		}
	}
	return out, sc.Err()
}

// readModDeps reads modules.dep: module name -> its path and its
// dependencies' paths (relative to dir).
func readModDeps(p string) (map[string][]string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if ok {
			out[modName(mod)] = append([]string{strings.TrimSpace(mod)}, strings.Fields(rest)...)
		}
	}
	return out, nil
}

func modName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// matching returns the modules whose aliases match modalias.
func (a modAliases) matching(modalias string) []string {
	var out []string
	for _, x := range a {
		if ok, _ := path.Match(x.pattern, modalias); ok {
			out = append(out, x.module)
		}
	}
	return out
}

// loadDrivers loads, in rounds, the modules matching the devices in
// /sys/bus/*/devices/*/modalias (each with its dependencies first), until
// a round loads nothing new or the interface with mac exists.
func loadDrivers(dir string, mac net.HardwareAddr, log *slog.Logger) {
	aliases, err1 := readModAliases(filepath.Join(dir, "modules.alias"))
	deps, err2 := readModDeps(filepath.Join(dir, "modules.dep"))
	if err := errors.Join(err1, err2); err != nil {
		log.Warn("stage one: no module index; relying on built-in drivers", "err", err)
		return
	}
	loaded := map[string]bool{}
	for round := 0; round < 6; round++ {
		if ifaceByMAC(mac) != nil {
			return
		}
		mods, _ := filepath.Glob("/sys/bus/*/devices/*/modalias")
		n := 0
		for _, m := range mods {
			data, err := os.ReadFile(m)
			if err != nil {
				continue
			}
			for _, mod := range aliases.matching(strings.TrimSpace(string(data))) {
				n += loadModule(dir, mod, deps, loaded, log)
			}
		}
		if n == 0 && round > 0 {
			return
		}
		time.Sleep(time.Duration(round+1) * 300 * time.Millisecond) // new buses (virtio) probe their devices
	}
}

// loadModule loads mod after its dependencies; it returns how many
// modules it loaded.
func loadModule(dir, mod string, deps map[string][]string, loaded map[string]bool, log *slog.Logger) int {
	if loaded[mod] {
		return 0
	}
	loaded[mod] = true
	paths, ok := deps[mod]
	if !ok {
		return 0
	}
	n := 0
	for i := len(paths) - 1; i >= 1; i-- { // dependencies, deepest last in modules.dep
		n += loadModule(dir, modName(paths[i]), deps, loaded, log)
	}
	f, err := os.Open(filepath.Join(dir, paths[0]))
	if err != nil {
		log.Warn("stage one: module missing", "module", mod, "err", err)
		return n
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		log.Warn("stage one: loading module failed", "module", mod, "err", err)
		return n
	}
	log.Info("stage one: module loaded", "module", mod)
	return n + 1
}

func ifaceByMAC(mac net.HardwareAddr) *net.Interface {
	ifs, _ := net.Interfaces()
	for i := range ifs {
		if strings.EqualFold(ifs[i].HardwareAddr.String(), mac.String()) {
			return &ifs[i]
		}
	}
	return nil
}

// ifUp gives ifc the address pfx, brings it and lo up, and adds a default
// route via gw when gw is valid.
func ifUp(ifc *net.Interface, pfx netip.Prefix, gw netip.Addr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, name := range []string{"lo", ifc.Name} {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return fmt.Errorf("%s: flags: %w", name, err)
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
			return fmt.Errorf("%s: up: %w", name, err)
		}
	}
	a4 := pfx.Addr().As4()
	ifr, _ := unix.NewIfreq(ifc.Name)
	if err := ifr.SetInet4Addr(a4[:]); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr); err != nil {
		return fmt.Errorf("%s: address %s: %w", ifc.Name, pfx, err)
	}
	mask := net.CIDRMask(pfx.Bits(), 32)
	ifr, _ = unix.NewIfreq(ifc.Name)
	if err := ifr.SetInet4Addr(mask); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFNETMASK, ifr); err != nil {
		return fmt.Errorf("%s: netmask /%d: %w", ifc.Name, pfx.Bits(), err)
	}
	if gw.IsValid() && gw.Is4() {
		if err := addDefaultRoute(ifc.Index, gw); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// ifDown removes the address and takes ifc down again, so gitboot's /init
// sets the interface up from scratch, as in a one-stage boot.
func ifDown(name string) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	ifr, _ := unix.NewIfreq(name)
	ifr.SetInet4Addr([]byte{0, 0, 0, 0})
	unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr)
	ifr, _ = unix.NewIfreq(name)
	if unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr) == nil {
		ifr.SetUint16(ifr.Uint16() &^ unix.IFF_UP)
		unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	}
}

// addDefaultRoute adds 0.0.0.0/0 via gw on interface index oif with one
// rtnetlink RTM_NEWROUTE request and waits for its acknowledgement.
func addDefaultRoute(oif int, gw netip.Addr) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	g := gw.As4()
	attr := func(b []byte, typ uint16, val []byte) []byte {
		b = binary.NativeEndian.AppendUint16(b, uint16(4+len(val)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		return append(b, val...)
	}
	body := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST, 0, 0, 0, 0}
	body = attr(body, unix.RTA_GATEWAY, g[:])
	body = attr(body, unix.RTA_OIF, binary.NativeEndian.AppendUint32(nil, uint32(oif)))
	msg := binary.NativeEndian.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	msg = binary.NativeEndian.AppendUint16(msg, unix.RTM_NEWROUTE)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	msg = binary.NativeEndian.AppendUint32(msg, 1) // sequence
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	msg = append(msg, body...)
	if err := unix.Sendto(s, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(s, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				return unix.Errno(-code)
			}
		}
	}
	return nil
}
