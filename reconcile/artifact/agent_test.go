package artifact

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentInSystemOverlay: with Config.Agent every system overlay has the
// agent at /usr/lib/gitboot/gitboot-agent, mode 0755, the same bytes; a new agent
// rebuilds every system overlay and no runtime overlay; a missing agent
// fails the build naming the path and --agent; "" in a test builds
// without one.
func TestAgentInSystemOverlay(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "gitboot-agent")
	write(t, agent, "agent v1\x00\x7fELF", 0o600)
	tc := overlayCluster(t, []string{"generic"}, []string{"secrets"}, 2)
	state := t.TempDir()
	b, err := New(Config{StateDir: state, Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	r1 := mustBuild(t, b, tc.build())
	sys := unpack(t, r1.Nodes["n00001"].System.Path)
	fi, err := os.Lstat(filepath.Join(sys, AgentPath))
	if err != nil {
		t.Fatalf("no /%s in the system overlay: %v", AgentPath, err)
	}
	if fi.Mode() != 0o755 {
		t.Errorf("/%s has mode %v, want 0755", AgentPath, fi.Mode())
	}
	if got := readFile(t, filepath.Join(sys, AgentPath)); got != "agent v1\x00\x7fELF" {
		t.Errorf("/%s holds %q", AgentPath, got)
	}
	if _, err := os.Stat(filepath.Join(sys, "init")); err != nil {
		t.Errorf("the init overlay lost /init: %v", err)
	}

	// Same agent: everything reused. A new agent: system overlays rebuilt.
	if r := mustBuild(t, b, tc.build()); r.Built != 0 {
		t.Errorf("an unchanged agent rebuilt %d overlays", r.Built)
	}
	write(t, agent, "agent v2", 0o755)
	r2 := mustBuild(t, b, tc.build())
	if r2.Built != 2 { // one system overlay per node; the runtime overlay is shared
		t.Errorf("a new agent built %d overlays, want the 2 system overlays", r2.Built)
	}
	if r2.Nodes["n00001"].System.Digest == r1.Nodes["n00001"].System.Digest {
		t.Error("a new agent kept the system overlay")
	}
	// The builder keeps the shared segment between builds without the
	// agent's bytes: the new one is read again, not an old copy served.
	if got := readFile(t, filepath.Join(unpack(t, r2.Nodes["n00001"].System.Path), AgentPath)); got != "agent v2" {
		t.Errorf("after a new agent, /%s holds %q", AgentPath, got)
	}
	if r2.Nodes["n00001"].Runtime.Digest != r1.Nodes["n00001"].Runtime.Digest {
		t.Error("a new agent changed the runtime overlay")
	}

	// Missing: the build fails and says how to fix it.
	os.Remove(agent)
	_, err = b.Build(context.Background(), tc.build(), "")
	if err == nil || !strings.Contains(err.Error(), agent) || !strings.Contains(err.Error(), "--agent") {
		t.Errorf("a missing agent: err = %v, want one naming %s and --agent", err, agent)
	}

	// "" in a test binary: no agent.
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	if _, err := os.Lstat(filepath.Join(unpack(t, r.Nodes["n00001"].System.Path), AgentPath)); err == nil {
		t.Error("Config.Agent \"\" in a test put an agent into the system overlay")
	}
}

func TestDefaultAgent(t *testing.T) {
	p, err := DefaultAgent()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if p != filepath.Join(filepath.Dir(exe), "gitboot-agent") {
		t.Errorf("DefaultAgent() = %s, want gitboot-agent next to %s", p, exe)
	}
}
