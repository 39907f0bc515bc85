package hclspec

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/jsonstr/jsonstrtest"
)

// appendHashNode writes json.Marshal(hashNodeOf(n)) for nodes with every
// field of hashNode set and unset (those with interfaces, a bmc block or
// resources through encoding/json itself).
func TestHashNodeAsJSON(t *testing.T) {
	var fields []string
	for f := range reflect.TypeFor[hashNode]().Fields() {
		fields = append(fields, f.Name)
	}
	const known = "Name MAC IP Image Network KernelArgs SystemO RuntimeO Pr Tags AssetKey Root Interfaces NetConfig BMC Users Resources"
	if got := strings.Join(fields, " "); got != known {
		t.Fatalf("hashNode's fields are %s; appendHashNode writes %s: add the new ones there", got, known)
	}
	r := rand.New(rand.NewPCG(13, 14))
	for i := range 3000 {
		n := &Node{Name: jsonstrtest.String(r), MAC: jsonstrtest.String(r), Image: jsonstrtest.String(r), Network: jsonstrtest.String(r),
			KernelArgs: jsonstrtest.List(r), SystemOverlays: jsonstrtest.List(r), RuntimeOverlays: jsonstrtest.List(r), Profiles: jsonstrtest.List(r),
			AssetKeySHA256: jsonstrtest.String(r), NetworkConfig: jsonstrtest.String(r), Users: jsonstrtest.List(r), RootSize: DefaultRootSize}
		if r.IntN(2) == 0 {
			n.IP = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		}
		switch r.IntN(3) {
		case 0:
			n.Tags = map[string]string{}
		case 1:
			n.Tags = map[string]string{jsonstrtest.String(r): jsonstrtest.String(r), jsonstrtest.String(r): jsonstrtest.String(r)}
		}
		if r.IntN(3) == 0 {
			n.Root, n.RootSize = RootTmpfs, jsonstrtest.String(r)
		}
		switch r.IntN(8) {
		case 0:
			n.Interfaces = []*Interface{{Name: "eth0", Type: "ethernet", MAC: n.MAC}}
		case 1:
			n.BMC = &BMC{Driver: "ipmi", Address: jsonstrtest.String(r), Port: 623}
		case 2:
			n.Resources = Resources{"gpu": jsonstrtest.String(r)}
		}
		want, err := json.Marshal(hashNodeOf(n))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendHashNode(nil, n); !bytes.Equal(got, want) {
			t.Fatalf("node %+v:\ngot  %s\nwant %s", n, got, want)
		}
	}
}
