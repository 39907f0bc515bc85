package hclspec

import (
	"errors"
	"strings"
	"testing"
)

// TestAutoApply: auto_apply defaults to true, false turns it off, and
// flipping it changes the cluster hash (it changes what the server does
// with a commit).
func TestAutoApply(t *testing.T) {
	on := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL}), Options{})
	if s, _ := on.Server("head"); !s.AutoApply {
		t.Error("auto_apply: want true by default")
	}
	offHCL := strings.Replace(baseHCL, `address = "10.99.0.1"`, "address    = \"10.99.0.1\"\n  auto_apply = false", 1)
	off := mustLoad(t, mapFS(map[string]string{"main.hcl": offHCL}), Options{})
	if s, _ := off.Server("head"); s.AutoApply {
		t.Error("auto_apply = false: got true")
	}
	if on.Hash == off.Hash {
		t.Error("auto_apply does not change the cluster hash")
	}
}

func TestPickServer(t *testing.T) {
	one := NewCluster(nil, []*Server{{Name: "head"}}, nil, nil, nil, nil, nil)
	two := NewCluster(nil, []*Server{{Name: "b"}, {Name: "a"}}, nil, nil, nil, nil, nil)
	none := NewCluster(nil, nil, nil, nil, nil, nil, nil)
	for _, tc := range []struct {
		name    string
		c       *Cluster
		server  string
		want    string // server name; "" when an error is expected
		wantErr string
	}{
		{"only one, no name", one, "", "head", ""},
		{"only one, named", one, "head", "head", ""},
		{"unknown name", one, "hed", "", `no server block named "hed" (declared: head)`},
		{"several, named", two, "b", "b", ""},
		{"several, no name", two, "", "", "the repository declares several servers (a, b): choose one with --server"},
		{"none, named", none, "head", "", `no server block named "head" (declared: none)`},
		{"none, no name", none, "", "", ErrNoServer.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.c.PickServer(tc.server)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || s != nil {
					t.Fatalf("got (%v, %v), want error %q", s, err, tc.wantErr)
				}
				return
			}
			if err != nil || s == nil || s.Name != tc.want {
				t.Fatalf("got (%v, %v), want server %q", s, err, tc.want)
			}
		})
	}
	if _, err := none.PickServer(""); !errors.Is(err, ErrNoServer) {
		t.Errorf("no server block: %v is not ErrNoServer", err)
	}
}
