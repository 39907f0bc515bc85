package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kinds of Problem.
const (
	ProblemDamaged    = "damaged"    // content does not match its name (or size)
	ProblemMissing    = "missing"    // named by a manifest or the applied state, not there
	ProblemUnreadable = "unreadable" // not what it should be (not JSON, cannot be read)
	ProblemStray      = "stray"      // a file the store would never write
)

// Problem is one thing Fsck found wrong, at a path relative to the state
// directory.
type Problem struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// FsckReport is what Fsck checked and found.
type FsckReport struct {
	Artifacts int       `json:"artifacts"`
	Bytes     int64     `json:"bytes"`
	Manifests int       `json:"manifests"`
	Problems  []Problem `json:"problems"`
}

// Fsck reads every artifact and manifest in stateDir's store: each
// artifact's sha256 against its name, each manifest's too, that it reads
// and that every artifact it names is there with the size it says, and
// that the applied state names manifests that are there. It changes
// nothing (gitboot serve removes and rebuilds what is damaged).
func Fsck(ctx context.Context, stateDir string) (*FsckReport, error) {
	dir := filepath.Join(stateDir, "artifacts")
	f := &fsck{
		stateDir:  stateDir,
		objs:      filepath.Join(dir, "sha256"),
		mans:      filepath.Join(dir, "manifests"),
		rep:       &FsckReport{Problems: []Problem{}},
		sizes:     map[string]int64{},
		manifests: map[string]bool{},
	}
	if err := f.artifacts(ctx); err != nil {
		return nil, err
	}
	if err := f.manifestFiles(); err != nil {
		return nil, err
	}
	f.appliedState(filepath.Join(dir, "applied.json"))
	return f.rep, nil
}

// fsck is one Fsck run: where the store is, what it has found so far and
// the report it fills.
type fsck struct {
	stateDir   string
	objs, mans string // the artifact and manifest directories
	rep        *FsckReport
	sizes      map[string]int64 // artifact file name -> size
	manifests  map[string]bool  // hex digests of the manifests that are intact
}

// add records a problem at path p.
func (f *fsck) add(p, kind, detail string) {
	if r, err := filepath.Rel(f.stateDir, p); err == nil {
		p = r
	}
	f.rep.Problems = append(f.rep.Problems, Problem{p, kind, detail})
}

// artifacts hashes every artifact against its name and records the sizes
// of those it could read.
func (f *fsck) artifacts(ctx context.Context) error {
	ents, err := os.ReadDir(f.objs)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		name, p := e.Name(), filepath.Join(f.objs, e.Name())
		if strings.HasPrefix(name, tmpPrefix) {
			continue // a build in progress, or removed at the next start
		}
		hexSum, _, ok := parseName(name)
		if !ok || !e.Type().IsRegular() {
			f.add(p, ProblemStray, "not an artifact name")
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		got, err := hashFile(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.add(p, ProblemUnreadable, err.Error())
			continue
		}
		f.rep.Artifacts++
		f.rep.Bytes += info.Size()
		f.sizes[name] = info.Size()
		if got != hexSum {
			f.add(p, ProblemDamaged, "content has sha256 "+got)
		}
	}
	return nil
}

// manifestFiles checks every manifest's name, its sha256 against its name,
// that it reads, and (manifestRefs) the artifacts it names.
func (f *fsck) manifestFiles() error {
	ents, err := os.ReadDir(f.mans)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		name, p := e.Name(), filepath.Join(f.mans, e.Name())
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		hexSum, ok := strings.CutSuffix(name, ".json")
		if _, err := hex.DecodeString(hexSum); !ok || err != nil || len(hexSum) != 64 {
			f.add(p, ProblemStray, "not a manifest name")
			continue
		}
		f.rep.Manifests++
		data, err := os.ReadFile(p)
		if err != nil {
			f.add(p, ProblemUnreadable, err.Error())
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexSum {
			f.add(p, ProblemDamaged, "content has sha256 "+hex.EncodeToString(sum[:]))
			continue
		}
		f.manifests[hexSum] = true
		var m Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			f.add(p, ProblemUnreadable, err.Error())
			continue
		}
		f.manifestRefs(hexSum, &m)
	}
	return nil
}

// manifestRefs checks that every artifact manifest m (digest hexSum) names
// is there with the size m says, in name order.
func (f *fsck) manifestRefs(hexSum string, m *Manifest) {
	want := map[string]int64{}
	m.sizes(want)
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		size, there := f.sizes[n]
		switch {
		case !there:
			f.add(filepath.Join(f.objs, n), ProblemMissing, "named by manifest "+hexSum[:12])
		case size != want[n]:
			f.add(filepath.Join(f.objs, n), ProblemDamaged, fmt.Sprintf("size %d, manifest %s says %d", size, hexSum[:12], want[n]))
		}
	}
}

// appliedState checks that the applied state at ap reads and that the
// manifests it names (current and previous) are there and intact.
func (f *fsck) appliedState(ap string) {
	data, err := os.ReadFile(ap)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.add(ap, ProblemUnreadable, err.Error())
		}
		return
	}
	var a applied
	if err := json.Unmarshal(data, &a); err != nil {
		f.add(ap, ProblemUnreadable, err.Error())
		return
	}
	for _, h := range []string{a.Current, a.Previous} {
		if h != "" && !f.manifests[h] {
			f.add(filepath.Join(f.mans, h+".json"), ProblemMissing, "named by the applied state")
		}
	}
}

// HasManifest reports whether the store in stateDir holds the manifest
// with this digest ("sha256:<hex>").
func HasManifest(stateDir, digest string) bool {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return false
	}
	_, err := os.Stat(filepath.Join(stateDir, "artifacts", "manifests", h+".json"))
	return err == nil
}
