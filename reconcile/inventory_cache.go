package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/bincodec"
)

// InventoryCacheFile is a copy of the running inventory in the state
// directory, in a binary encoding some ten times faster to read than
// inventory.json at 10,000 nodes (a one-node plan reads the running
// inventory, an apply twice). It names the sha256 of the inventory.json it
// copies and is used only while that file is byte for byte the same; it
// ends with a checksum of itself. Missing, stale or damaged, it is not
// used (inventory.json is read): deleting it costs time, nothing else.
const InventoryCacheFile = "inventory.cache"

// inventoryCacheFormat names the encoding; a change of it or of the
// fields encoded must change it.
const inventoryCacheFormat = "gitboot-inventory-cache/1\n"

var errInventoryCache = errors.New("not an inventory cache of this format")

// writeInventoryCache writes the cache of inv, whose encoding (Encode) is
// data; best effort: on any problem the stale cache is removed instead
// (a stale one is never used, so this only saves a read).
func writeInventoryCache(stateDir string, inv *Inventory, data []byte) {
	p := filepath.Join(stateDir, InventoryCacheFile)
	enc, ok := encodeInventoryCache(inv, data)
	if !ok || atomicfile.WriteFile(p, enc, 0o600) != nil {
		os.Remove(p)
	}
}

// encodeInventoryCache encodes inv as the cache of data; false when inv
// holds what the binary encoding would not give back as JSON does (a
// string that is not UTF-8).
func encodeInventoryCache(inv *Inventory, data []byte) ([]byte, bool) {
	head := *inv
	head.Nodes = nil
	hj, err := json.Marshal(&head)
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256(data)
	// Some two thirds of the JSON's size (grown by doubling, it was
	// copied once more at 10,000 nodes).
	b := make([]byte, 0, len(hj)+max(len(inv.Nodes)*400, len(data)*3/4)+128)
	b = append(b, inventoryCacheFormat...)
	b = append(b, sum[:]...)
	b = bincodec.AppendBytes(b, hj)
	if inv.Nodes == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(inv.Nodes))+1)
	}
	ok := true
	str := func(s string) {
		ok = ok && utf8.ValidString(s)
		b = bincodec.AppendString(b, s)
	}
	list := func(l []string) { // nil apart from empty, as JSON's null and []
		if l == nil {
			b = append(b, 0)
			return
		}
		b = binary.AppendUvarint(b, uint64(len(l))+1)
		for _, s := range l {
			str(s)
		}
	}
	for _, name := range sortedKeys(inv.Nodes) {
		n := inv.Nodes[name]
		str(name)
		for _, s := range []string{n.MAC, n.IP, n.Network, n.Image, n.SystemInput, n.RuntimeInput, n.AssetKey, n.LegacyAssetKeySHA256, n.Root, n.RootSize} {
			str(s)
		}
		list(n.KernelArgs)
		list(n.SystemOverlays)
		list(n.RuntimeOverlays)
		b = binary.AppendUvarint(b, uint64(len(n.Tags))) // omitempty: empty is absent, read as nil
		for _, k := range sortedKeys(n.Tags) {
			str(k)
			str(n.Tags[k])
		}
		if n.BMC == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			str(n.BMC.Driver)
			str(n.BMC.Address)
			b = binary.AppendVarint(b, int64(n.BMC.Port))
			str(n.BMC.Credentials)
			b = bincodec.AppendBool(b, n.BMC.Insecure)
		}
		if a := n.Artifacts; a == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			str(a.Kernel)
			str(a.Image)
			str(a.System)
			str(a.Runtime)
		}
	}
	end := sha256.Sum256(b)
	return append(b, end[:]...), ok
}

// readInventoryCache returns the state directory's inventory cache if it
// copies data (inventory.json's content); an error when it is missing,
// stale or damaged.
func readInventoryCache(stateDir string, data []byte) (*Inventory, error) {
	enc, err := os.ReadFile(filepath.Join(stateDir, InventoryCacheFile))
	if err != nil {
		return nil, err
	}
	return decodeInventoryCache(enc, data)
}

// decodeInventoryCache decodes what encodeInventoryCache wrote for data.
func decodeInventoryCache(enc, data []byte) (*Inventory, error) {
	return decodeInventoryCacheOf(enc, sha256.Sum256(data))
}

// decodeInventoryCacheOf decodes what encodeInventoryCache wrote for the
// inventory.json whose sha256 is sum.
func decodeInventoryCacheOf(enc []byte, sum [sha256.Size]byte) (*Inventory, error) {
	n := len(inventoryCacheFormat)
	if len(enc) < n+2*sha256.Size || string(enc[:n]) != inventoryCacheFormat {
		return nil, errInventoryCache
	}
	body := enc[:len(enc)-sha256.Size]
	if end := sha256.Sum256(body); !bytes.Equal(end[:], enc[len(body):]) {
		return nil, fmt.Errorf("%w: its checksum does not match", errInventoryCache)
	}
	if !bytes.Equal(sum[:], body[n:n+sha256.Size]) {
		return nil, fmt.Errorf("%w: stale (another inventory.json)", errInventoryCache)
	}
	d := &invDecoder{bincodec.Decoder{B: body[n+sha256.Size:], Intern: map[string]string{}, Failure: errInventoryCache}}
	var inv Inventory
	if err := json.Unmarshal(d.Raw(), &inv); err != nil || d.Err != nil {
		return nil, errInventoryCache
	}
	if count := d.Uvarint(); count > 0 && count-1 <= uint64(len(d.B)) {
		inv.Nodes = make(map[string]NodeState, count-1)
		for i := uint64(0); i < count-1 && d.Err == nil; i++ {
			name, ns := d.node()
			inv.Nodes[name] = ns
		}
	}
	if d.Err != nil || len(d.B) != 0 {
		return nil, errInventoryCache
	}
	return &inv, nil
}

// invDecoder reads the cache's encoding; the first error sticks. Its
// Intern holds strings many nodes share (networks, images, overlay names).
type invDecoder struct {
	bincodec.Decoder
}

func (d *invDecoder) node() (string, NodeState) {
	name := d.Str()
	n := NodeState{MAC: d.Str(), IP: d.Str(), Network: d.IStr(), Image: d.IStr(), SystemInput: d.IStr(), RuntimeInput: d.Str(),
		AssetKey: d.Str(), LegacyAssetKeySHA256: d.Str(), Root: d.IStr(), RootSize: d.IStr()}
	n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays = d.List(), d.List(), d.List()
	if tags := d.Uvarint(); tags > 0 {
		if tags > uint64(len(d.B)) {
			d.Fail()
			return name, n
		}
		n.Tags = make(map[string]string, tags)
		for i := uint64(0); i < tags && d.Err == nil; i++ {
			k := d.IStr()
			n.Tags[k] = d.IStr()
		}
	}
	if d.Byte() == 1 {
		n.BMC = &hclspec.BMC{Driver: d.IStr(), Address: d.Str()}
		n.BMC.Port, n.BMC.Credentials, n.BMC.Insecure = d.Int(), d.IStr(), d.Byte() == 1
	}
	if d.Byte() == 1 {
		n.Artifacts = &NodeArtifacts{Kernel: d.IStr(), Image: d.IStr(), System: d.IStr(), Runtime: d.Str()}
	}
	return name, n
}
