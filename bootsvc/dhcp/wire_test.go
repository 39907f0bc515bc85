package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// lab is one test network: a bridge in its own namespace, the gitboot
// server in another (10.99.0.1/24), and clients plugged in as needed.
type lab struct {
	t     *testing.T
	lan   *netnstest.NS
	br    string
	srv   *netnstest.NS
	srvIf string
	s     *Server
	rec   *memRecorder
}

// memRecorder keeps every event.
type memRecorder struct {
	mu     sync.Mutex
	events []status.Event
}

func (m *memRecorder) Record(e status.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
}

func (m *memRecorder) find(mac string) (status.Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.events {
		if e.MAC == mac {
			return e, true
		}
	}
	return status.Event{}, false
}

func newLab(t *testing.T, o snapOpts) *lab {
	t.Helper()
	netnstest.Require(t)
	l := &lab{t: t, lan: netnstest.New(t, "lan"), srv: netnstest.New(t, "srv"), rec: &memRecorder{}}
	l.br = l.lan.Bridge(t)
	l.srvIf = netnstest.Attach(t, l.lan, l.br, l.srv, "10.99.0.1/24")
	s, err := New(Config{StateDir: t.TempDir(), Recorder: l.rec, Workers: 2,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	mustNoErr(t, err)
	s.Update(testSnapshot(o))
	l.s = s
	ports := []int{ServerPort}
	if o.mode == bootsvc.DHCPProxy {
		ports = append(ports, ProxyPort)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, port := range ports {
		var conn net.PacketConn
		mustNoErr(t, l.srv.Do(func() error {
			var err error
			ifname := l.srvIf
			if o.anyIf {
				ifname = ""
			}
			conn, err = Listen(ctx, ListenConfig{Interface: ifname, Port: port, Shared: o.mode == bootsvc.DHCPProxy})
			return err
		}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			if err := s.Serve(ctx, conn); err != nil {
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	return l
}

// client makes a client namespace plugged into the lab with the given MAC
// and returns it and its interface.
func (l *lab) client(mac string) (*netnstest.NS, string) {
	ns := netnstest.New(l.t, "cli")
	return ns, netnstest.AttachMAC(l.t, l.lan, l.br, ns, mac, "")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// envScript writes a DHCP client hook script that dumps its environment to
// DIR/<reason>.env and returns the script path.
func envScript(t *testing.T, dir string, reasonVar string) string {
	t.Helper()
	p := filepath.Join(dir, "hook.sh")
	// Written to a temp file and renamed, so a reader never sees half of it.
	body := fmt.Sprintf("#!/bin/sh\nenv | sort > %[1]s/.env.$$ && mv %[1]s/.env.$$ %[1]s/\"$%[2]s\".env\n", dir, reasonVar)
	mustNoErr(t, os.WriteFile(p, []byte(body), 0o755))
	return p
}

// readEnv parses a dumped environment.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("client hook did not run: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func wantEnv(t *testing.T, env map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

// dhclient runs ISC dhclient once in ns with extra dhclient.conf lines and
// returns the environment its hook saw on BOUND.
func dhclient(t *testing.T, ns *netnstest.NS, ifname, conf string) map[string]string {
	t.Helper()
	netnstest.RequireCommands(t, "dhclient")
	dir := t.TempDir()
	script := envScript(t, dir, "reason")
	cf := filepath.Join(dir, "dhclient.conf")
	mustNoErr(t, os.WriteFile(cf, []byte("timeout 20;\nrequest subnet-mask, routers, domain-name-servers, domain-name, host-name, tftp-server-name;\n"+conf), 0o644))
	// -d keeps dhclient in the foreground once bound, so Start's cleanup
	// stops it; the hook's BOUND dump is the signal it got a lease.
	_, out := ns.Start(t, "dhclient", "-1", "-d", "-v", "-cf", cf, "-sf", script, "-lf", filepath.Join(dir, "leases"),
		"-pf", filepath.Join(dir, "dhclient.pid"), ifname)
	bound := filepath.Join(dir, "BOUND.env")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(bound); err == nil {
			break
		}
		if time.Now().After(deadline) || strings.Contains(out.String(), "No DHCPOFFERS received") {
			t.Fatalf("dhclient got no lease:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return readEnv(t, filepath.Join(dir, "BOUND.env"))
}

// udhcpc runs busybox udhcpc once in ns and returns the environment its
// hook saw on "bound", or nil when it got no lease.
func udhcpc(t *testing.T, ns *netnstest.NS, ifname string, args ...string) map[string]string {
	t.Helper()
	netnstest.RequireCommands(t, "udhcpc")
	dir := t.TempDir()
	script := envScript(t, dir, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append([]string{"-n", "-q", "-f", "-i", ifname, "-s", script, "-t", "3", "-T", "2", "-O", "tftp", "-O", "bootfile"}, args...)
	out, err := ns.Output(ctx, "udhcpc", args...)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "bound.env")); serr != nil {
			t.Logf("udhcpc: %v\n%s", err, out)
			return nil
		}
	}
	return readEnv(t, filepath.Join(dir, "bound.env"))
}

func TestWireDhclientBIOS(t *testing.T) {
	l := newLab(t, snapOpts{})
	ns, ifname := l.client(macC001)
	env := dhclient(t, ns, ifname, `option arch code 93 = unsigned integer 16;
send arch 0;
send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";
`)
	wantEnv(t, env, map[string]string{
		"new_ip_address": "10.99.0.11", "new_subnet_mask": "255.255.255.0", "new_routers": "10.99.0.1",
		"new_domain_name_servers": "10.99.0.1 10.99.0.2", "new_domain_name": "cluster.local",
		"new_host_name": "c001", "new_filename": "undionly.kpxe", "new_next_server": "10.99.0.1",
		"new_tftp_server_name": "10.99.0.1", "new_dhcp_server_identifier": "10.99.0.1",
		"new_dhcp_lease_time": "3600",
	})
	e, ok := l.rec.find(macC001)
	if !ok || e.Node != "c001" || e.Stage != status.StageDHCP || e.Addr.String() != "10.99.0.11" {
		t.Fatalf("status event %+v (found %v)", e, ok)
	}
}

func TestWireDhclientUEFIAndIPXE(t *testing.T) {
	l := newLab(t, snapOpts{})
	ns, ifname := l.client(macC002)
	env := dhclient(t, ns, ifname, `option arch code 93 = unsigned integer 16;
send arch 7;
send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003016";
`)
	wantEnv(t, env, map[string]string{"new_ip_address": "10.99.0.12", "new_filename": "snponly.efi"})

	ns2, if2 := l.client(macC001)
	env = dhclient(t, ns2, if2, `send user-class "iPXE";
`)
	wantEnv(t, env, map[string]string{"new_ip_address": "10.99.0.11",
		"new_filename": "http://10.99.0.1:9873/ipxe/52:54:00:00:00:01"})
}

func TestWireUdhcpc(t *testing.T) {
	l := newLab(t, snapOpts{})
	ns, ifname := l.client(macC002)
	env := udhcpc(t, ns, ifname, "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "93:0007")
	if env == nil {
		t.Fatal("udhcpc got no lease")
	}
	wantEnv(t, env, map[string]string{
		"ip": "10.99.0.12", "subnet": "255.255.255.0", "router": "10.99.0.1", "dns": "10.99.0.1 10.99.0.2",
		"domain": "cluster.local", "hostname": "c002", "boot_file": "snponly.efi", "siaddr": "10.99.0.1",
		"tftp": "10.99.0.1", "serverid": "10.99.0.1", "lease": "3600",
	})
}

func TestWireUnknownMAC(t *testing.T) {
	l := newLab(t, snapOpts{})
	ns, ifname := l.client(macOther)
	if env := udhcpc(t, ns, ifname); env != nil {
		t.Fatalf("unknown MAC got a lease: %v", env)
	}
	e, ok := l.rec.find(macOther)
	if !ok || e.Node != "" || e.Stage != status.StageDHCP {
		t.Fatalf("unknown MAC not recorded for discovery: %+v %v", e, ok)
	}
	if st := l.s.Stats(); st.Unknown == 0 || st.Offers != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWireUnknownMACDynamic(t *testing.T) {
	l := newLab(t, snapOpts{dynamic: true})
	ns, ifname := l.client(macOther)
	env := udhcpc(t, ns, ifname)
	if env == nil {
		t.Fatal("unknown MAC got no dynamic lease")
	}
	// 10.99.0.200 is reserved for node c201, so the first dynamic address is .201.
	wantEnv(t, env, map[string]string{"ip": "10.99.0.201", "router": "10.99.0.1", "boot_file": "undionly.kpxe"})
	if _, ok := env["hostname"]; ok {
		t.Errorf("unknown MAC got a hostname %q", env["hostname"])
	}
	leases := l.s.Leases().All()
	if len(leases) != 1 || leases[0].MAC != macOther || leases[0].State != stateBound {
		t.Fatalf("leases %+v", leases)
	}
}

// TestWireAllInterfaces listens without SO_BINDTODEVICE on a server with two
// links and no default route: broadcast replies still leave through the
// interface the request came in on.
func TestWireAllInterfaces(t *testing.T) {
	l := newLab(t, snapOpts{anyIf: true})
	netnstest.Veth(t, l.srv, "192.168.77.1/24", netnstest.New(t, "other"), "") // a second link
	ns, ifname := l.client(macC002)
	env := udhcpc(t, ns, ifname)
	if env == nil || env["ip"] != "10.99.0.12" {
		t.Fatalf("no lease through the unbound socket: %v", env)
	}
}
