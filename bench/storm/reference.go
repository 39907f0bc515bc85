package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// refTarget is the reference setup: dnsmasq (DHCP with the same
// reservations, TFTP of the same undionly.kpxe) and nginx serving the same
// artifact files and, per MAC, the script gitboot made for it.
type refTarget struct {
	e             *env
	dnsmasq, ngnx *proc
}

// digestURL finds the runtime overlay in a script: /runtime-initrd/ (the
// wrapped form gitboot sends iPXE; nginx sends the plain artifact there,
// about 200 bytes less) or /runtime/.
var digestURL = regexp.MustCompile(`/runtime(?:-initrd)?/([0-9a-f:]{17})/([0-9a-f]{64})`)

// prepareReference writes dnsmasq's and nginx's configuration under
// DIR/ref: the reservations, a TFTP root with undionly.kpxe, and a web
// root with each node's script (fetched from the running gitboot, so both
// serve the same bytes) and its runtime overlay (a symlink to gitboot's
// artifact, for the agent's GET /runtime/{mac}).
func prepareReference(ctx context.Context, e *env) error {
	ref := filepath.Join(e.dir, "ref")
	for _, d := range []string{"tftp", "www/ipxe", "www/runtime", "nginx/logs"} {
		if err := os.MkdirAll(filepath.Join(ref, d), 0o755); err != nil {
			return err
		}
	}
	if err := benchenv.Run("cp", "-L", "/usr/lib/ipxe/undionly.kpxe", filepath.Join(ref, "tftp")); err != nil {
		return err
	}
	art := filepath.Join(e.dir, "state", "artifacts", "sha256")
	if err := writeNodeFiles(ctx, e, ref, art); err != nil {
		return err
	}
	srv := benchenv.ServerIP(prefix)
	dnsmasq := fmt.Sprintf(`port=0
interface=%s
bind-interfaces
no-ping
dhcp-lease-max=%d
dhcp-authoritative
dhcp-range=%s.0.0,static,255.255.0.0,1h
dhcp-hostsfile=%s
dhcp-leasefile=%s
dhcp-userclass=set:ipxe,iPXE
dhcp-boot=tag:!ipxe,undionly.kpxe,,%s
dhcp-boot=tag:ipxe,http://%s:9873/ipxe/${net0/mac}
enable-tftp
tftp-max=%d
tftp-root=%s
user=root
log-facility=%s
`, e.srvIf, 2*len(e.macs)+100, prefix, filepath.Join(ref, "hosts"), filepath.Join(ref, "leases"), srv, srv,
		len(e.macs)+100, filepath.Join(ref, "tftp"), filepath.Join(ref, "dnsmasq.log"))
	nginx := fmt.Sprintf(`user root;
worker_processes auto;
worker_rlimit_nofile 65536;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 10000;
  default_type application/octet-stream;
  server {
    listen %[2]s:9873 backlog=4096;
    root %[3]s;
    location ~ "^/(kernel|image|system|runtime|runtime-initrd)/[0-9a-f:]+/(?<d>[0-9a-f]{64})$" {
      root %[4]s;
      try_files /$d.img.gz /$d.vmlinuz =404;
    }
  }
}
`, filepath.Join(ref, "nginx"), srv, filepath.Join(ref, "www"), art)
	if err := os.WriteFile(filepath.Join(ref, "dnsmasq.conf"), []byte(dnsmasq), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(ref, "nginx.conf"), []byte(nginx), 0o644)
}

// writeNodeFiles writes, under ref, the reservations (hosts) and each
// node's script (fetched from the running gitboot) and runtime overlay (a
// symlink to gitboot's artifact in art).
func writeNodeFiles(ctx context.Context, e *env, ref, art string) error {
	var hosts strings.Builder
	c := &http.Client{Timeout: 30 * time.Second}
	for i, mac := range e.macs {
		fmt.Fprintf(&hosts, "%s,%s\n", mac, e.ips[i])
		body, _, _, err := fetch(ctx, c, e.base+"/ipxe/"+mac.String(), "", true)
		if err != nil {
			return fmt.Errorf("fetching node %d's script from gitboot for the reference: %w", i, err)
		}
		if err := os.WriteFile(filepath.Join(ref, "www", "ipxe", mac.String()), body, 0o644); err != nil {
			return err
		}
		m := digestURL.FindSubmatch(body)
		if m == nil {
			return fmt.Errorf("node %d's script names no runtime overlay URL:\n%s", i, benchTail(body, 400))
		}
		if err := os.Symlink(filepath.Join(art, string(m[2])+".img.gz"), filepath.Join(ref, "www", "runtime", mac.String())); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(ref, "hosts"), []byte(hosts.String()), 0o644)
}

func (r *refTarget) start() error {
	ref := filepath.Join(r.e.dir, "ref")
	var err error
	r.dnsmasq, err = startProc(r.e.srvNS, filepath.Join(ref, "dnsmasq.out"), nil, "dnsmasq", "-k", "-C", filepath.Join(ref, "dnsmasq.conf"))
	if err != nil {
		return err
	}
	r.ngnx, err = startProc(r.e.srvNS, filepath.Join(ref, "nginx.out"), nil, "nginx", "-c", filepath.Join(ref, "nginx.conf"), "-p", filepath.Join(ref, "nginx"))
	if err != nil {
		return err
	}
	if err := waitHTTP(r.ngnx, r.e.base+"/ipxe/"+r.e.macs[0].String(), 30*time.Second); err != nil {
		return err
	}
	// dnsmasq is ready when its DHCP port is bound.
	for range 100 {
		if exec.Command("ip", "netns", "exec", r.e.srvNS, "sh", "-c", "ss -lun | grep -q ':67 '").Run() == nil {
			return nil
		}
		if r.dnsmasq.exited() {
			return fmt.Errorf("dnsmasq exited: see %s", filepath.Join(ref, "dnsmasq.out"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("dnsmasq did not bind port 67 within 10 s")
}

func (r *refTarget) stop() {
	r.ngnx.stop()
	r.dnsmasq.stop()
}

func (r *refTarget) pids() []int {
	var p []int
	for _, x := range []*proc{r.dnsmasq, r.ngnx} {
		if x != nil {
			p = append(p, x.Cmd.Process.Pid)
		}
	}
	return p
}

// peerVersions names the reference's programs and versions.
func peerVersions() string {
	var v []string
	if out, err := exec.Command("dnsmasq", "--version").Output(); err == nil {
		v = append(v, strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
	}
	if out, err := exec.Command("nginx", "-v").CombinedOutput(); err == nil {
		v = append(v, strings.TrimSpace(string(out)))
	}
	return strings.Join(v, "; ")
}
