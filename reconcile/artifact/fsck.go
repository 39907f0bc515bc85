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
	objs, mans := filepath.Join(dir, "sha256"), filepath.Join(dir, "manifests")
	rep := &FsckReport{Problems: []Problem{}}
	rel := func(p string) string {
		if r, err := filepath.Rel(stateDir, p); err == nil {
			return r
		}
		return p
	}
	add := func(p, kind, detail string) { rep.Problems = append(rep.Problems, Problem{rel(p), kind, detail}) }

	sizes := map[string]int64{}
	ents, err := os.ReadDir(objs)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		name, p := e.Name(), filepath.Join(objs, e.Name())
		if strings.HasPrefix(name, tmpPrefix) {
			continue // a build in progress, or removed at the next start
		}
		hexSum, _, ok := parseName(name)
		if !ok || !e.Type().IsRegular() {
			add(p, ProblemStray, "not an artifact name")
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		got, err := hashFile(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			add(p, ProblemUnreadable, err.Error())
			continue
		}
		rep.Artifacts++
		rep.Bytes += info.Size()
		sizes[name] = info.Size()
		if got != hexSum {
			add(p, ProblemDamaged, "content has sha256 "+got)
		}
	}

	manifests := map[string]bool{}
	ents, err = os.ReadDir(mans)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		name, p := e.Name(), filepath.Join(mans, e.Name())
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		hexSum, ok := strings.CutSuffix(name, ".json")
		if _, err := hex.DecodeString(hexSum); !ok || err != nil || len(hexSum) != 64 {
			add(p, ProblemStray, "not a manifest name")
			continue
		}
		rep.Manifests++
		data, err := os.ReadFile(p)
		if err != nil {
			add(p, ProblemUnreadable, err.Error())
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexSum {
			add(p, ProblemDamaged, "content has sha256 "+hex.EncodeToString(sum[:]))
			continue
		}
		manifests[hexSum] = true
		var m Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			add(p, ProblemUnreadable, err.Error())
			continue
		}
		want := map[string]int64{}
		m.sizes(want)
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			size, there := sizes[n]
			switch {
			case !there:
				add(filepath.Join(objs, n), ProblemMissing, "named by manifest "+hexSum[:12])
			case size != want[n]:
				add(filepath.Join(objs, n), ProblemDamaged, fmt.Sprintf("size %d, manifest %s says %d", size, hexSum[:12], want[n]))
			}
		}
	}

	ap := filepath.Join(dir, "applied.json")
	if data, err := os.ReadFile(ap); err == nil {
		var a applied
		if err := json.Unmarshal(data, &a); err != nil {
			add(ap, ProblemUnreadable, err.Error())
		} else {
			for _, h := range []string{a.Current, a.Previous} {
				if h != "" && !manifests[h] {
					add(filepath.Join(mans, h+".json"), ProblemMissing, "named by the applied state")
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		add(ap, ProblemUnreadable, err.Error())
	}
	return rep, nil
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
