package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/damagetest"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestUsableEach: the reuse check of many artifacts at once, spread over
// goroutines, answers for each name what checking them one by one in
// order answers: a damaged artifact (rewritten since it was verified, with
// other content) is false, logged once and removed, and false again where
// the name repeats; an intact one is true at every repeat; "" and a name
// not in the store are false. 1,500 artifacts: enough for several
// goroutines.
func TestUsableEach(t *testing.T) {
	state := t.TempDir()
	b := newBuilder(t, state)
	bt := b.store.newBatch(extImage)
	var names []string
	for i := range 1500 {
		r, err := bt.Put(fmt.Appendf(nil, "artifact %d", i))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, r.Hex+extImage)
	}
	if err := bt.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := b.store.saveVerified(); err != nil {
		t.Fatal(err)
	}
	damaged := map[string]bool{}
	time.Sleep(10 * time.Millisecond) // a new mtime even on coarse clocks
	for i := 7; i < len(names); i += 97 {
		damagetest.FlipByte(t, b.store.path(names[i]), 3)
		damaged[names[i]] = true
	}

	var log netnstest.SyncBuffer
	b2, err := New(Config{StateDir: state, Logger: slog.New(slog.NewTextHandler(&log, nil)), CheckOnUse: true})
	if err != nil {
		t.Fatal(err)
	}
	// Every name once, then every third again, with gaps and a stranger.
	query := append([]string{"", strings.Repeat("0", 64) + extImage}, names...)
	for i := 0; i < len(names); i += 3 {
		query = append(query, names[i], "")
	}
	got := b2.store.usableEach(query, 4)
	if len(got) != len(query) {
		t.Fatalf("%d answers for %d names", len(got), len(query))
	}
	for i, name := range query {
		want := name != "" && !strings.HasPrefix(name, "0000") && !damaged[name]
		if got[i] != want {
			t.Errorf("name %d (%q): usable %v, want %v", i, name, got[i], want)
		}
	}
	for name := range damaged {
		if n := strings.Count(log.String(), name); n != 1 {
			t.Errorf("damaged %s named %d times in the log, want once:\n%s", name, n, log.String())
		}
		if _, err := os.Stat(b2.store.path(name)); !os.IsNotExist(err) {
			t.Errorf("damaged %s not removed: %v", name, err)
		}
	}
	if strings.Count(log.String(), "ARTIFACT DAMAGED") != len(damaged) {
		t.Errorf("want %d damaged artifacts logged:\n%s", len(damaged), log.String())
	}
}

// TestNewReadsKeptManifests: a builder starts knowing the artifacts of
// both kept manifests (read side by side), so a build of either state
// reuses every overlay; a corrupt previous manifest is logged once and
// only its own artifacts are forgotten (built again), the current one's
// still reused.
func TestNewReadsKeptManifests(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprint("corrupt previous ", corrupt), func(t *testing.T) {
			state, tc, r1 := appliedBuild(t)
			b := newBuilder(t, state)
			tc.nodes[0].KernelArgs = []string{"debug"} // n00000's nodedep overlay changes
			r2 := mustBuild(t, b, tc.build())
			if r2.Built == 0 {
				t.Fatal("the changed node built nothing")
			}
			if err := b.Commit(r2); err != nil {
				t.Fatal(err)
			}
			if corrupt {
				damagetest.FlipByte(t, r1.ManifestPath, 10)
			}
			var log netnstest.SyncBuffer
			b2, err := New(Config{StateDir: state, Logger: slog.New(slog.NewTextHandler(&log, nil)), CheckOnUse: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(log.String(), "applied manifest unreadable"); corrupt != (got == 1) || got > 1 {
				t.Errorf("%d warnings of an unreadable manifest:\n%s", got, log.String())
			}
			if r := mustBuild(t, b2, tc.build()); r.Built != 0 {
				t.Errorf("the current state built %d overlays again, want all reused", r.Built)
			}
			tc.nodes[0].KernelArgs = []string{"quiet", "console=ttyS0"}
			if r := mustBuild(t, b2, tc.build()); corrupt != (r.Built > 0) {
				t.Errorf("the previous state (manifest corrupt: %v) built %d overlays", corrupt, r.Built)
			}
		})
	}
}

// TestBuildWithPlansData: a build given the input keys a plan computed
// for the same cluster takes their template data and builds what Build
// builds (the same manifest); given keys computed for another cluster
// (a node's kernel_args differ, so its overlay renders differently), it
// does not take their data: it still builds the cluster it is given.
func TestBuildWithPlansData(t *testing.T) {
	tc := overlayCluster(t, []string{"nodedep"}, nil, 3)
	c := tc.build()
	srv, err := c.PickServer("")
	if err != nil {
		t.Fatal(err)
	}
	want := mustBuild(t, newBuilder(t, t.TempDir()), c)
	tc.nodes[1].KernelArgs = []string{"other"}
	other := tc.build()
	for _, x := range []struct {
		name string
		from *hclspec.Cluster
	}{{"same cluster", c}, {"another cluster", other}} {
		t.Run(x.name, func(t *testing.T) {
			fsrv, err := x.from.PickServer("")
			if err != nil {
				t.Fatal(err)
			}
			in, err := ComputeInputs(x.from, fsrv, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := in.dataFor(c, srv) == in.ds; got != (x.from == c) {
				t.Errorf("the plan's data taken: %v", got)
			}
			r, err := newBuilder(t, t.TempDir()).BuildWith(context.Background(), c, "", in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Manifest != want.Manifest {
				t.Errorf("manifest %s, want %s (Build's)", r.Manifest, want.Manifest)
			}
		})
	}
}

// TestAgentDigestFollowsTheFile: one builder asked again for the agent's
// digest gives the digest of the file as it is now: unchanged, the same;
// rewritten in place with as many bytes and its old modification time put
// back, the new content's; replaced by another file, that one's; gone, the
// error naming it.
func TestAgentDigestFollowsTheFile(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "gitboot-agent")
	digestOf := func(content string) string {
		sum := sha256.Sum256([]byte(content))
		return hex.EncodeToString(sum[:])
	}
	write(t, agent, "agent one", 0o755)
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when, content string) {
		t.Helper()
		if d, err := b.AgentDigest(); err != nil || d != digestOf(content) {
			t.Errorf("%s: digest %s (err %v), want %q's", when, d, err, content)
		}
	}
	check("first", "agent one")
	check("again", "agent one")
	info, err := os.Stat(agent)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(agent, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("agent two"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(agent, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	check("rewritten in place, same size and mtime", "agent two")
	next := agent + ".new"
	write(t, next, "agent three", 0o755)
	if err := os.Rename(next, agent); err != nil {
		t.Fatal(err)
	}
	check("replaced", "agent three")
	if err := os.Remove(agent); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AgentDigest(); err == nil || !strings.Contains(err.Error(), agent) {
		t.Errorf("agent removed: err %v, want one naming %s", err, agent)
	}
}

// TestVerifiedEncode: the verified list is written with json.Marshal's
// bytes (a list an older gitboot reads), whatever the names and numbers.
func TestVerifiedEncode(t *testing.T) {
	many := map[string]stamp{}
	for i := range 300 {
		many[fmt.Sprintf("%064x.img.gz", i*7919)] = stamp{Size: int64(i) << 20, Mtime: int64(i) * 1e15, Ino: uint64(i) << 40}
	}
	for name, d := range map[string]verifiedDoc{
		"nil files":   {Version: 1},
		"empty files": {Version: 1, Files: map[string]stamp{}},
		"odd names": {Version: 2, Files: map[string]stamp{
			`a"b\c`: {Size: -1, Mtime: -5, Ino: 1<<64 - 1}, "<&>": {}, "é\u2028\x01": {Size: 3}, "": {Ino: 9}}},
		"many": {Version: 1, Files: many},
	} {
		want, err := json.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.encode(); string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

// TestFillNodes: each node gets its image's kernel, image and stage-one
// artifacts and its own overlays, under their served names and store
// paths; a node whose image the manifest lacks gets that zero record's.
func TestFillNodes(t *testing.T) {
	b := newBuilder(t, t.TempDir())
	r := func(c byte, size int64) ref { return ref{Hex: strings.Repeat(string(c), 64), Size: size} }
	s1 := r('5', 50)
	m := &Manifest{
		Images: map[string]imageRecord{
			"one": {Image: r('1', 10), Kernel: r('2', 20), KernelName: "vmlinuz-1"},
			"two": {Image: r('3', 30), Kernel: r('4', 40), KernelName: "vmlinuz-2", Stage1: &s1},
		},
		Nodes: map[string]nodeRecord{
			"a": {Image: "one", System: r('a', 1), Runtime: r('b', 2)},
			"b": {Image: "two", System: r('c', 3), Runtime: r('b', 2)},
			"c": {Image: "gone", System: r('d', 4), Runtime: r('e', 5)},
		},
	}
	res := &Result{Nodes: map[string]bootsvc.Artifacts{}}
	b.fillNodes(res, m)
	art := func(x ref, ext, name string) bootsvc.Artifact {
		return bootsvc.Artifact{Path: filepath.Join(b.cfg.StateDir, "artifacts", "sha256", x.Hex+ext), Digest: "sha256:" + x.Hex, Size: x.Size, Name: name}
	}
	want := map[string]bootsvc.Artifacts{
		"a": {Kernel: art(r('2', 20), extKernel, "vmlinuz-1"), Image: art(r('1', 10), extImage, NameImage),
			System: art(r('a', 1), extImage, NameSystem), Runtime: art(r('b', 2), extImage, NameRuntime)},
		"b": {Kernel: art(r('4', 40), extKernel, "vmlinuz-2"), Image: art(r('3', 30), extImage, NameImage),
			System: art(r('c', 3), extImage, NameSystem), Runtime: art(r('b', 2), extImage, NameRuntime), Stage1: art(s1, extImage, NameStage1)},
		"c": {Kernel: art(ref{}, extKernel, ""), Image: art(ref{}, extImage, NameImage),
			System: art(r('d', 4), extImage, NameSystem), Runtime: art(r('e', 5), extImage, NameRuntime)},
	}
	if !reflect.DeepEqual(res.Nodes, want) {
		t.Errorf("fillNodes:\n got %+v\nwant %+v", res.Nodes, want)
	}
}
