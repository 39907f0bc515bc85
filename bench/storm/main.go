// Command storm plays a boot storm: N simulated nodes (default 10,000),
// declared in a generated repository served by a real `gitboot serve`,
// each doing what PXE firmware and iPXE do: DHCP DISCOVER/REQUEST with PXE
// options, TFTP of undionly.kpxe (blksize 1468), DHCP again as iPXE (user
// class iPXE), GET of the script the boot file names, then the kernel,
// image, system and runtime overlay at the URLs the script names; after
// boot one agent fetch of /runtime/{mac} per interval until the last node
// has booted. Arrivals are spread evenly over -spread. A client retries as
// firmware does (DHCP after 4, 8, 16, 32 s; TFTP resends after 1 s and
// starts over 3 times; a failed download is fetched again after 10 s, 5
// tries) and power-cycles after a stage failed for good (-reboots times).
//
// The same storm then runs against the reference setup (-target both, the
// default): dnsmasq with the same reservations and TFTP root, and nginx
// serving the same artifact files and, per MAC, the same script. With
// -restart, gitboot serve is stopped (SIGTERM) and started again at half of
// -spread; every node must still boot and `gitboot status` list it.
//
// As root, from the repository root:
//
//	make build && go run ./bench/storm -nodes 10000 -spread 60s [-target gitboot|reference|both] [-restart]
//
// It makes two network namespaces (server, clients) joined by a veth pair;
// the clients' side holds every node address (local routes, so each node
// connects from its own address), and nothing is sent anywhere else. The
// last stdout line is a JSON summary (see summary).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// prefix is the /16 the storm's nodes and server live in.
const prefix = "10.64"

var (
	nodesN     = flag.Int("nodes", 10000, "simulated nodes")
	spread     = flag.Duration("spread", 60*time.Second, "nodes power on evenly over this long (5s: the worst case)")
	targetFlag = flag.String("target", "both", "gitboot, reference (dnsmasq + nginx) or both (the same storm against each, for the ratio)")
	restart    = flag.Bool("restart", false, "stop and start gitboot serve at half of -spread")
	agentEvery = flag.Duration("agent-interval", 60*time.Second, "the agents' fetch interval (the repository's runtime_interval)")
	maxActive  = flag.Int("max-active", 4096, "nodes booting at once at most (bounds sockets and goroutines)")
	reboots    = flag.Int("reboots", 2, "power cycles of a node whose boot failed for good before it counts as a failure")
	timeout    = flag.Duration("timeout", 20*time.Minute, "give up the whole storm after this long")
	bin        = flag.String("bin", "bin/gitboot", "the gitboot binary (gitboot-agent beside it); built when missing")
	profile    = flag.String("cpuprofile", "", "write gitboot serve's CPU profile here ($GITBOOT_CPUPROFILE)")
	pprofAddr  = flag.String("pprof", "", "serve gitboot serve's net/http/pprof on this address in the server namespace ($GITBOOT_PPROF; fetch with ip netns exec)")
	serveArgs  = flag.String("serve-args", "", "more arguments for gitboot serve, space-separated (e.g. \"--dhcp-max-booting 0\")")
	keep       = flag.Bool("keep", false, "keep the temporary directory (repository, state, logs)")
	inner      = flag.String("inner", "", "internal: the temporary directory; run the storm (inside the client namespace)")
	srvNS      = flag.String("srv-ns", "", "internal: the server namespace")
	srvIf      = flag.String("srv-if", "", "internal: the server's interface")
	cliIf      = flag.String("cli-if", "", "internal: the clients' interface")
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench/storm: ")
	flag.Parse()
	if *inner != "" {
		os.Exit(runInner())
	}
	os.Exit(outer())
}

// outer builds what is missing, writes the repository and image, makes the
// namespaces, runs the storm inside the client one and cleans up.
func outer() int {
	if err := benchenv.RequireRoot("storm"); err != nil {
		log.Print(err)
		return 1
	}
	switch *targetFlag {
	case "gitboot", "reference", "both":
	default:
		log.Printf("-target %q: use gitboot, reference or both", *targetFlag)
		return 2
	}
	if *nodesN < 1 || *nodesN > 60000 {
		log.Printf("-nodes %d: use 1 to 60000 (one /16)", *nodesN)
		return 2
	}
	dir, done, err := benchenv.TempDir("gitboot-bench-storm", *keep)
	if err != nil {
		log.Print(err)
		return 1
	}
	defer done()
	gitboot, err := binaries(dir)
	if err != nil {
		log.Print(err)
		return 1
	}
	pid := os.Getpid()
	sNS, cNS := fmt.Sprintf("gbstorm-s%d", pid), fmt.Sprintf("gbstorm-c%d", pid)
	sIf, cIf := fmt.Sprintf("gbss%d", pid), fmt.Sprintf("gbsc%d", pid)
	// The system overlay is the same for every node (gitboot's /init and
	// agent): per-node files go into the runtime overlays.
	repo := benchenv.Repo{Nodes: *nodesN, Prefix: prefix, Interface: sIf,
		System: "[]", Runtime: "[overlay.generic, overlay.hostname]",
		ServerExtra: fmt.Sprintf("  secure_runtime = false\n  runtime_interval = %q\n", agentEvery.String())}
	if err := errors.Join(repo.Write(filepath.Join(dir, "repo")),
		benchenv.WriteImage(filepath.Join(dir, "image"), 512<<10, 512<<10)); err != nil {
		log.Print(err)
		return 1
	}
	if err := benchenv.Commit(filepath.Join(dir, "repo"), "generated"); err != nil {
		log.Print(err)
		return 1
	}
	defer benchenv.DeleteNS(sNS)
	defer benchenv.DeleteNS(cNS)
	if err := network(dir, sNS, cNS, sIf, cIf, *nodesN); err != nil {
		log.Print(err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		log.Print(err)
		return 1
	}
	args := []string{"netns", "exec", cNS, self, "-inner", dir, "-srv-ns", sNS, "-srv-if", sIf, "-cli-if", cIf, "-bin", gitboot}
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "bin" && f.Name != "inner" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return benchenv.RunChild(cmd)
}

// binaries returns the gitboot binary, building both into dir when -bin
// does not exist.
func binaries(dir string) (string, error) {
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err == nil {
		return abs, nil
	}
	log.Printf("%s is missing: building into %s", *bin, dir)
	return benchenv.Build(".", dir)
}

// network makes the two namespaces and the veth pair between them. The
// server side has the server's address on the /16; the client side has a
// local route for every /24 that holds nodes (so a socket can bind any
// node's address) and a route to the /16 through the veth. Permanent
// neighbour entries on both sides spare ARP for thousands of addresses
// (and the kernel's neighbour table limit).
func network(dir, sNS, cNS, sIf, cIf string, n int) error {
	for _, ns := range []string{sNS, cNS} {
		if err := benchenv.Run("ip", "netns", "add", ns); err != nil {
			return err
		}
	}
	if err := benchenv.Run("ip", "link", "add", sIf, "netns", sNS, "type", "veth", "peer", "name", cIf, "netns", cNS); err != nil {
		return err
	}
	mac := func(ns, ifname string) (string, error) {
		out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+ifname+"/address").Output()
		return strings.TrimSpace(string(out)), err
	}
	sMAC, err1 := mac(sNS, sIf)
	cMAC, err2 := mac(cNS, cIf)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("reading the veth addresses: %w", err)
	}
	srv := benchenv.ServerIP(prefix)
	var s, c strings.Builder
	fmt.Fprintf(&s, "link set lo up\nlink set %s up\naddress add %s/16 dev %s\n", sIf, srv, sIf)
	fmt.Fprintf(&c, "link set lo up\nlink set %s up\naddress add %s.0.2/32 dev %s\nroute add %s.0.0/16 dev %s src %s.0.2\n", cIf, prefix, cIf, prefix, cIf, prefix)
	fmt.Fprintf(&c, "neigh replace %s lladdr %s dev %s nud permanent\n", srv, sMAC, cIf)
	fmt.Fprintf(&s, "neigh replace %s.0.2 lladdr %s dev %s nud permanent\n", prefix, cMAC, sIf)
	last := -1
	for i := range n {
		ip := benchenv.NodeIP(prefix, i)
		if b := ip.As4(); int(b[2]) != last {
			last = int(b[2])
			fmt.Fprintf(&c, "route add local %s.%d.0/24 dev lo\n", prefix, last)
		}
		fmt.Fprintf(&s, "neigh replace %s lladdr %s dev %s nud permanent\n", ip, cMAC, sIf)
	}
	for _, b := range []struct{ ns, cmds string }{{sNS, s.String()}, {cNS, c.String()}} {
		f := filepath.Join(dir, b.ns+".ip")
		if err := os.WriteFile(f, []byte(b.cmds), 0o644); err != nil {
			return err
		}
		if err := benchenv.Run("ip", "-n", b.ns, "-batch", f); err != nil {
			return err
		}
	}
	// Room for the storm's connections: the listen backlog, and source
	// ports for the agents' connections.
	for _, kv := range [][3]string{{sNS, "net.core.somaxconn", "4096"}, {sNS, "net.ipv4.tcp_max_syn_backlog", "8192"}, {cNS, "net.ipv4.ip_local_port_range", "1024 65535"}} {
		if err := benchenv.Run("ip", "netns", "exec", kv[0], "sysctl", "-qw", kv[1]+"="+kv[2]); err != nil {
			return err
		}
	}
	return nil
}

// env is what the inner half knows of the setup.
type env struct {
	dir, bin, srvNS, srvIf, base string
	macs                         []net.HardwareAddr
	ips                          []net.IP
	nodes                        map[string]bool // generated node names
}

func runInner() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	e := &env{dir: *inner, bin: *bin, srvNS: *srvNS, srvIf: *srvIf, base: "http://" + benchenv.ServerIP(prefix).String() + ":9873", nodes: map[string]bool{}}
	for i := range *nodesN {
		mac, _ := net.ParseMAC(benchenv.MAC(i))
		e.macs = append(e.macs, mac)
		e.ips = append(e.ips, net.IP(benchenv.NodeIP(prefix, i).AsSlice()))
		e.nodes[benchenv.NodeName(i)] = true
	}
	mux, err := newDHCPMux(*cliIf)
	if err != nil {
		log.Print(err)
		return 1
	}
	sum, err := storms(ctx, e, mux)
	if err != nil {
		log.Print(err)
		for _, f := range []string{"serve.log", "ref/dnsmasq.out", "ref/nginx.out", "ref/nginx/nginx-error.log"} {
			if b, err := os.ReadFile(filepath.Join(e.dir, f)); err == nil && len(b) > 0 {
				fmt.Fprintf(os.Stderr, "--- %s (last 3000 bytes) ---\n%s\n", f, benchenv.Tail(b, 3000))
			}
		}
		return 1
	}
	printTables(sum)
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.Encode(sum)
	if sum.Failures > 0 || (sum.Reference != nil && sum.Reference.Failures > 0) || (sum.StatusAtRuntime >= 0 && sum.StatusAtRuntime != sum.Nodes) {
		return 3
	}
	return 0
}
