package hclspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var hashOdd = []string{"", "plain", "a\"quote", "back\\slash", "<html>&", "tab\tline\n", "é 日本", "\u2028", "bad\xffutf8"}

func hashRandStr(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return fmt.Sprintf("%x", r.Uint32())
	}
	return hashOdd[r.IntN(len(hashOdd))]
}

func hashRandList(r *rand.Rand) []string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	l := make([]string, 1+r.IntN(3))
	for i := range l {
		l[i] = hashRandStr(r)
	}
	return l
}

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
		n := &Node{Name: hashRandStr(r), MAC: hashRandStr(r), Image: hashRandStr(r), Network: hashRandStr(r),
			KernelArgs: hashRandList(r), SystemOverlays: hashRandList(r), RuntimeOverlays: hashRandList(r), Profiles: hashRandList(r),
			AssetKeySHA256: hashRandStr(r), NetworkConfig: hashRandStr(r), Users: hashRandList(r), RootSize: DefaultRootSize}
		if r.IntN(2) == 0 {
			n.IP = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		}
		switch r.IntN(3) {
		case 0:
			n.Tags = map[string]string{}
		case 1:
			n.Tags = map[string]string{hashRandStr(r): hashRandStr(r), hashRandStr(r): hashRandStr(r)}
		}
		if r.IntN(3) == 0 {
			n.Root, n.RootSize = RootTmpfs, hashRandStr(r)
		}
		switch r.IntN(8) {
		case 0:
			n.Interfaces = []*Interface{{Name: "eth0", Type: "ethernet", MAC: n.MAC}}
		case 1:
			n.BMC = &BMC{Driver: "ipmi", Address: hashRandStr(r), Port: 623}
		case 2:
			n.Resources = Resources{"gpu": hashRandStr(r)}
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
