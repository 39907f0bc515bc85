package artifact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// jsonManifest is what encoding/json makes of a manifest's text (what
// readManifest did before decodeManifest).
func jsonManifest(data []byte) (*Manifest, error) {
	var m Manifest
	err := json.NewDecoder(bytes.NewReader(data)).Decode(&m)
	return &m, err
}

func randomManifest(r *rand.Rand, nodes int, odd bool) *Manifest {
	hex := func() string { return fmt.Sprintf("%064x", r.Uint64()) }
	m := &Manifest{Version: 1, Cluster: hex(), Server: "head", Images: map[string]imageRecord{}, Nodes: map[string]nodeRecord{}}
	if r.IntN(3) == 0 {
		m.Server = ""
	}
	images := []string{"compute", "gpu", "nodes"} // an image named like the nodes field
	for _, name := range images {
		m.Images[name] = imageRecord{Input: hex(), Kind: "dir", Image: ref{hex(), r.Int64N(1 << 40)}, Kernel: ref{hex(), 0}}
	}
	for i := range nodes {
		name := fmt.Sprintf("n%05d", i)
		if odd && i%7 == 3 {
			name = []string{"nodes", "é-node", "a\"b", "x<y>&z", "tab\tname", ""}[i%6]
		}
		m.Nodes[name] = nodeRecord{Image: images[r.IntN(len(images))], System: ref{hex(), r.Int64N(1 << 30)}, SystemInput: hex(),
			Runtime: ref{hex(), r.Int64N(1 << 30)}, RuntimeInput: hex()}
	}
	return m
}

// Whatever Manifest.encode writes decodes as encoding/json decodes it,
// through the fast parser when its strings are plain, through json when
// not; a manifest without nodes too.
func TestDecodeManifestAsJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i, c := range []struct {
		nodes int
		odd   bool
		fast  bool
	}{{0, false, true}, {1, false, true}, {500, false, true}, {50, true, false}} {
		m := randomManifest(r, c.nodes, c.odd)
		data, err := m.encode()
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsonManifest(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want, m) {
			t.Fatalf("case %d: encode/json round trip differs", i)
		}
		got, err := decodeManifest(data)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("case %d: decodeManifest = %+v, %v; want %+v", i, got, err, want)
		}
		if _, ok := decodeManifestFast(data); ok != c.fast {
			t.Errorf("case %d: fast parser took it: %v, want %v", i, ok, c.fast)
		}
	}
}

// Text the fast parser does not take goes to encoding/json, which
// decides: same value, or an error where json has one.
func TestDecodeManifestOtherText(t *testing.T) {
	m := randomManifest(rand.New(rand.NewPCG(3, 4)), 3, false)
	data, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	rec := `"n00001":{"image":`
	variants := map[string]string{
		"spaces":          strings.Replace(s, `"nodes":{`, `"nodes": {`, 1),
		"newline at end":  s + "\n",
		"trailing text":   s + " {}",
		"field order":     strings.Replace(s, `"version":1,`, ``, 1)[:len(s)-len(`"version":1,`)-1] + `,"version":1}`,
		"leading zero":    strings.Replace(s, `"size":`, `"size":0`, 1),
		"negative size":   strings.Replace(s, `"size":`, `"size":-`, 1),
		"escape in name":  strings.Replace(s, rec, `"n\u00301":{"image":`, 1),
		"null nodes":      s[:strings.Index(s, `"nodes":`)] + `"nodes":null}`,
		"truncated":       s[:len(s)-3],
		"extra node key":  strings.Replace(s, rec, `"n00001":{"extra":1,"image":`, 1),
		"capital Nodes":   strings.Replace(s, `"nodes":`, `"Nodes":`, 1),
		"string size":     strings.Replace(s, `"size":`, `"size":"`, 1),
		"huge size":       strings.Replace(s, `"size":`, `"size":99999999999999999999`, 1),
		"duplicate node":  strings.Replace(s, `}}}`, `},`+s[strings.Index(s, rec):strings.Index(s, `,"n00002"`)]+`}}`, 1),
		"unknown head":    strings.Replace(s, `{"version":1,`, `{"version":1,"other":[1],`, 1),
		"images repeated": strings.Replace(s, `"nodes":{`, `"images":{"x":{"kind":"tar"}},"nodes":{`, 1),
	}
	for name, v := range variants {
		want, werr := jsonManifest([]byte(v))
		got, gerr := decodeManifest([]byte(v))
		if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decodeManifest = %+v, %v; encoding/json: %+v, %v", name, got, gerr, want, werr)
		}
	}
}

func BenchmarkDecodeManifest(b *testing.B) {
	data, err := randomManifest(rand.New(rand.NewPCG(5, 6)), 10000, false).encode()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    func([]byte) (*Manifest, error)
	}{{"fast", decodeManifest}, {"json", jsonManifest}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.f(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
