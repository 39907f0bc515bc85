package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/tlsca"
)

// labAgentURL is where the lab's agents reach the server over HTTPS: the
// server block's address (examples/lab) at the default https_port. The
// server certificate names that address, so the agent dials it, not
// 127.0.0.1 (agentTrust puts it on the namespace's loopback).
const labAgentURL = "https://10.99.0.1:9874"

// agentTrust makes the lab server's address reachable in the namespace,
// unpacks n1's system overlay as served, and returns the agent flags that
// trust what it carries (the CA and the overlay key) and talk to
// labAgentURL.
func (l *gitopsLab) agentTrust(t *testing.T) []string {
	t.Helper()
	if out, err := l.ns.Output(context.Background(), "ip", "addr", "replace", "10.99.0.1/32", "dev", "lo"); err != nil {
		t.Fatalf("ip addr: %v %s", err, out)
	}
	dir := t.TempDir()
	sys := filepath.Join(dir, "sys.img.gz")
	if out, err := l.ns.Output(context.Background(), "curl", "-sf", "-o", sys, "http://127.0.0.1:9873/system/"+n1MAC); err != nil {
		t.Fatalf("fetching the system overlay: %v %s", err, out)
	}
	cpioEach(t, sys, dir, "-idmu", "--quiet", "--no-absolute-filenames")
	ca, key := filepath.Join(dir, "usr/lib/gitboot/ca.pem"), filepath.Join(dir, "usr/lib/gitboot/overlay.pub")
	for _, f := range []string{ca, key} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the system overlay lacks %s: %v", strings.TrimPrefix(f, dir), err)
		}
	}
	return []string{"--agent-url", labAgentURL, "--ca", ca, "--overlay-key", key}
}

// TestAgentTLSRefusals runs the real agent against a real serve: the CA
// in the state directory is the one the system overlay carries; an agent
// pinning another CA gets nothing; the runtime overlay iPXE would load
// (/runtime-initrd/, plain HTTP) is applied with its .sig, and refused
// with a byte flipped or the signature stripped; --report-init-failed
// goes over HTTPS.
func TestAgentTLSRefusals(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	trust := l.agentTrust(t)
	ca := trust[3]
	want, _ := os.ReadFile(filepath.Join(l.state, tlsca.Dir, tlsca.CACertFile))
	if got, _ := os.ReadFile(ca); len(want) == 0 || string(got) != string(want) {
		t.Fatalf("the system overlay's CA is not the state directory's")
	}
	agent := func(args ...string) (string, error) {
		out, err := l.ns.Output(context.Background(), agentBinary(t), append([]string{"--server", "http://127.0.0.1:9873", "--mac", n1MAC}, args...)...)
		return string(out), err
	}

	// Another CA pinned: the handshake fails, nothing is written.
	other, err := tlsca.Load(tlsca.Options{StateDir: t.TempDir(), Hosts: []string{"10.99.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(otherCA, other.CAPEM, 0o644)
	root := t.TempDir()
	out, err := agent("--root", root, "--once", "--agent-url", labAgentURL, "--ca", otherCA, "--overlay-key", trust[5])
	if err == nil || !strings.Contains(out, "certificate signed by unknown authority") {
		t.Errorf("an agent pinning another CA: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/motd")); err == nil {
		t.Error("an agent pinning another CA installed the overlay")
	}
	// Plain HTTP for the agent's own requests: refused before any request.
	out, err = agent("--root", root, "--once", "--agent-url", "http://10.99.0.1:9873")
	if err == nil || !strings.Contains(out, "HTTPS only") {
		t.Errorf("--agent-url http://: %v\n%s", err, out)
	}

	checkRuntimeInitrdSigned(t, l, agent, trust)

	// INIT_FAILED goes over HTTPS and reaches the server's check (which
	// takes it only from the node's own address: here the namespace's
	// loopback is not n1).
	out, _ = agent(append([]string{"--report-init-failed", "no init here"}, trust...)...)
	if !strings.Contains(out, "https://10.99.0.1:9874/init-failed/"+n1MAC) || !strings.Contains(out, "not from the node's own address") {
		t.Errorf("--report-init-failed did not reach the HTTPS listener:\n%s", out)
	}
}

// checkRuntimeInitrdSigned: the runtime overlay iPXE would load
// (/runtime-initrd/, plain HTTP) comes with its .sig, with which the agent
// (run by agent with the node's trust flags) applies it; with a byte
// flipped or the signature stripped it refuses it and installs nothing.
func checkRuntimeInitrdSigned(t *testing.T, l *gitopsLab, agent func(args ...string) (string, error), trust []string) {
	// The plain-HTTP runtime initrd: its .sig makes it good; tampered, it is refused.
	dir := t.TempDir()
	img := filepath.Join(dir, "rt.img")
	if out, err := l.ns.Output(context.Background(), "curl", "-sf", "-o", img, "http://127.0.0.1:9873/runtime-initrd/"+n1MAC); err != nil {
		t.Fatalf("fetching /runtime-initrd: %v %s", err, out)
	}
	cpioEach(t, img, dir, "-idmu", "--quiet", "--no-absolute-filenames")
	file := filepath.Join(dir, ".gitboot-runtime.img.gz")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(file + ".sig")
	if err != nil {
		t.Fatalf("/runtime-initrd/ has no .sig: %v", err)
	}
	from := func(name string, content []byte, sig []byte) (string, error) {
		p := filepath.Join(t.TempDir(), ".gitboot-runtime.img.gz")
		os.WriteFile(p, content, 0o600)
		if sig != nil {
			os.WriteFile(p+".sig", sig, 0o644)
		}
		r := t.TempDir()
		out, err := agent(append([]string{"--root", r, "--once", "--from", p}, trust...)...)
		if _, serr := os.Stat(filepath.Join(r, "etc/motd")); (serr == nil) != (err == nil) {
			t.Errorf("%s: exit %v but motd installed %v", name, err, serr == nil)
		}
		return out, err
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 0x01
	if out, err := from("byte flipped", flipped, sig); err == nil || !strings.Contains(out, "bad signature") {
		t.Errorf("a flipped byte: %v\n%s", err, out)
	}
	if out, err := from("signature stripped", data, nil); err == nil || !strings.Contains(out, "not signed") {
		t.Errorf("no signature: %v\n%s", err, out)
	}
	if out, err := from("intact", data, sig); err != nil {
		t.Errorf("the intact overlay with its .sig: %v\n%s", err, out)
	}
}
