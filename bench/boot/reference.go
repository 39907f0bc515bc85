package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// reference is what the reference servers serve: under dir/ref/www, per
// node NAME.ipxe (a static script loading the kernel and one initrd),
// NAME.vmlinuz and NAME.initrd (the initrds gitboot's script names,
// concatenated in its order: the same files in one download; with
// packingClassic recompressed as gitboot packed them before, see
// classicInitrd); under dir/ref/tftp, snponly.efi and undionly.kpxe.
type reference struct {
	dir     string
	modes   []string
	packing string           // packingClassic or packingSame
	sizes   map[string]int64 // artifact bytes, gitboot's names: kernel, image, system, runtime; and initrd (the reference's one)
}

// prepareReference fetches each node's script from the running gitboot
// (lab g), downloads the files it names and writes the reference's.
func prepareReference(ctx context.Context, g *lab, dir, imageDir, packing string, modes []string) (*reference, error) {
	ref := &reference{dir: filepath.Join(dir, "ref"), modes: modes, packing: packing, sizes: map[string]int64{}}
	www, tftp := filepath.Join(ref.dir, "www"), filepath.Join(ref.dir, "tftp")
	for _, d := range []string{www, tftp, filepath.Join(ref.dir, "nginx")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"/usr/lib/ipxe/snponly.efi", "/usr/lib/ipxe/undionly.kpxe"} {
		if err := benchenv.Run("cp", "-L", f, tftp); err != nil {
			return nil, err
		}
	}
	for _, mode := range modes {
		n := nodes[mode]
		script, err := g.Curl(ctx, httpBase+"/ipxe/"+n.mac)
		if err != nil {
			return nil, fmt.Errorf("fetching %s's script from gitboot: %w", n.name, err)
		}
		kernelURL, args, initrds, err := parseScript(string(script))
		if err != nil {
			return nil, fmt.Errorf("%s's script from gitboot: %w\n%s", n.name, err, script)
		}
		kernel := filepath.Join(www, n.name+".vmlinuz")
		if _, err := g.Curl(ctx, "-o", kernel, kernelURL); err != nil {
			return nil, err
		}
		ref.size("kernel", kernel)
		var parts, names []string
		for _, in := range initrds {
			part := filepath.Join(ref.dir, n.name+"."+in.name)
			if _, err := g.Curl(ctx, "-o", part, in.url); err != nil {
				return nil, err
			}
			ref.size(in.name, part)
			parts, names = append(parts, part), append(names, in.name)
		}
		out, err := os.Create(filepath.Join(www, n.name+".initrd"))
		if err != nil {
			return nil, err
		}
		if packing == packingClassic {
			err = classicInitrd(out, parts, names, imageDir)
		} else {
			err = concat(out, parts)
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("the reference initrd of %s: %w", n.name, err)
		}
		ref.size("initrd", out.Name())
		static := fmt.Sprintf("#!ipxe\nkernel --name kernel %s/%s.vmlinuz initrd=initrd %s\ninitrd --name initrd %s/%s.initrd\nboot\n",
			httpBase, n.name, strings.Join(args, " "), httpBase, n.name)
		if err := os.WriteFile(filepath.Join(www, n.name+".ipxe"), []byte(static), 0o644); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// concat writes the files one after the other to out.
func concat(out io.Writer, files []string) error {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// size records file's size under name (the largest, should the nodes' differ).
func (r *reference) size(name, file string) {
	if fi, err := os.Stat(file); err == nil && fi.Size() > r.sizes[name] {
		r.sizes[name] = fi.Size()
	}
}

type initrd struct{ name, url string }

// parseScript reads a gitboot node script: the kernel's URL and
// arguments (without its initrd= ones) and the initrds in order.
func parseScript(s string) (kernel string, args []string, initrds []initrd, err error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "--name" {
			continue
		}
		switch f[0] {
		case "kernel":
			kernel = f[3]
			for _, a := range f[4:] {
				if a == "||" {
					break
				}
				if !strings.HasPrefix(a, "initrd=") {
					args = append(args, a)
				}
			}
		case "initrd":
			initrds = append(initrds, initrd{f[2], f[3]})
		}
	}
	if kernel == "" || len(initrds) == 0 {
		return "", nil, nil, fmt.Errorf("no `kernel --name` line or no `initrd --name` line")
	}
	return kernel, args, initrds, nil
}

// startReference starts dnsmasq (DHCP with the nodes' reservations,
// --no-ping, TFTP, router advertisements on fd98:7::/64, option 175 with
// 176=1 like gitboot) and nginx (on serverIP:9873, the ref's www) in the
// lab's server namespace. stop ends both.
func (l *lab) startReference(ctx context.Context, ref *reference) (stop func(), err error) {
	var conf strings.Builder
	fmt.Fprintf(&conf, `port=0
interface=%s
bind-interfaces
no-ping
dhcp-authoritative
dhcp-range=10.99.0.0,static,255.255.255.0,1h
dhcp-range=fd98:7::,ra-only,64
enable-ra
domain=cluster.local
dhcp-option=option:router,%s
dhcp-option=option:dns-server,%s
dhcp-leasefile=%s
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:efi,option:client-arch,7
dhcp-option=tag:ipxe,encap:175,176,1b
dhcp-boot=tag:!ipxe,tag:efi,snponly.efi,,%s
dhcp-boot=tag:!ipxe,tag:!efi,undionly.kpxe,,%s
enable-tftp
tftp-root=%s
`, l.Veth+"s", serverIP, serverIP, filepath.Join(ref.dir, "leases"), serverIP, serverIP, filepath.Join(ref.dir, "tftp"))
	for _, mode := range ref.modes {
		n := nodes[mode]
		fmt.Fprintf(&conf, "dhcp-host=%s,%s,set:%s\ndhcp-boot=tag:ipxe,tag:%s,%s/%s.ipxe\n", n.mac, n.ip, n.name, n.name, httpBase, n.name)
	}
	dconf := filepath.Join(ref.dir, "dnsmasq.conf")
	if err := os.WriteFile(dconf, []byte(conf.String()), 0o644); err != nil {
		return nil, err
	}
	nconf := filepath.Join(ref.dir, "nginx", "nginx.conf")
	ngx := fmt.Sprintf(`user root;
worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log stderr;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  server {
    listen %[2]s:9873;
    root %[3]s;
  }
}
`, filepath.Join(ref.dir, "nginx"), serverIP, filepath.Join(ref.dir, "www"))
	if err := os.WriteFile(nconf, []byte(ngx), 0o644); err != nil {
		return nil, err
	}
	dns, err := l.start(filepath.Join(ref.dir, "dnsmasq.log"), "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--user=root", "-C", dconf)
	if err != nil {
		return nil, err
	}
	web, err := l.start(filepath.Join(ref.dir, "nginx.log"), "nginx", "-c", nconf, "-p", filepath.Join(ref.dir, "nginx"))
	if err != nil {
		dns.stop()
		return nil, err
	}
	if dns.Exited() || web.Exited() {
		dns.stop()
		web.stop()
		return nil, fmt.Errorf("the reference servers did not start:\n%s\n%s", dns.tail(), web.tail())
	}
	return func() { dns.stop(); web.stop() }, nil
}
