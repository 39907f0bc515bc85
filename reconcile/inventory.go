package reconcile

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/macaddr"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// InventoryVersion is the version of the inventory's JSON format.
const InventoryVersion = 1

// InventoryFile is the running inventory's file name in the state
// directory.
const InventoryFile = "inventory.json"

// Inventory is a desired or running state: everything that reaches a node,
// by value or by input key. The running inventory (what is served) is
// persisted atomically in the state directory and served as GET
// /inventory; a desired one is computed from a commit (Desire). Plan
// compares the two.
type Inventory struct {
	Version     int       `json:"version"`
	Commit      string    `json:"commit"`
	Subject     string    `json:"subject,omitempty"`
	Author      string    `json:"author,omitempty"`
	CommittedAt time.Time `json:"committed_at"`
	// AppliedAt is zero in a desired state.
	AppliedAt time.Time `json:"applied_at,omitzero"`
	// Cluster is the HCL model's hash (hclspec.Cluster.Hash).
	Cluster string `json:"cluster"`
	// Manifest names the artifact build this state serves ("sha256:…");
	// empty in a desired state.
	Manifest string `json:"manifest,omitempty"`
	// Vars are the --var values the running state was applied with
	// (plan --server uses them unless given); none in a desired state.
	// GET /inventory serves them: pass no secrets as --var.
	Vars     map[string]string       `json:"vars,omitempty"`
	Server   ServerState             `json:"server"`
	Networks map[string]NetworkState `json:"networks"`
	Images   map[string]ImageState   `json:"images"`
	// Overlays maps each overlay a served node uses to its files (path in
	// the node's root, templates with their .tmpl suffix) and a short
	// digest of each.
	Overlays map[string]map[string]string `json:"overlays"`
	Nodes    map[string]NodeState         `json:"nodes"`
	// Agent is the sha256 (hex) of the gitboot-agent binary every system
	// overlay holds; "" where it is not known (a plan away from the server).
	Agent string `json:"agent,omitempty"`
}

// ServerState is the server block being served.
type ServerState struct {
	Name            string   `json:"name"`
	Address         string   `json:"address"`
	Networks        []string `json:"networks"`
	Interface       string   `json:"interface"`
	HTTPPort        int      `json:"http_port"`
	HTTPSPort       int      `json:"https_port,omitempty"`
	TFTPPort        int      `json:"tftp_port"`
	DHCPPort        int      `json:"dhcp_port"`
	DHCPMode        string   `json:"dhcp_mode"`
	IPXEDir         string   `json:"ipxe_dir"`
	UEFIBootFile    string   `json:"uefi_boot_file"`
	RuntimeInterval string   `json:"runtime_interval"`
	RouterAdvert    bool     `json:"router_advert"`
	SecureRuntime   bool     `json:"secure_runtime"`
	AutoApply       bool     `json:"auto_apply"`
}

// NetworkState is one served network.
type NetworkState struct {
	Subnet       string   `json:"subnet"`
	Gateway      string   `json:"gateway,omitempty"`
	DNS          []string `json:"dns,omitempty"`
	Domain       string   `json:"domain,omitempty"`
	LeaseTime    string   `json:"lease_time"`
	DynamicRange []string `json:"dynamic_range,omitempty"`
}

// ImageState is one image used by a served node.
type ImageState struct {
	Source string `json:"source"`
	Kernel string `json:"kernel,omitempty"`
	Pin    string `json:"pin,omitempty"` // the image block's digest attribute
	// Input is the source's identity (content key); empty when Unknown.
	Input string `json:"input,omitempty"`
	// Unknown: the source could not be examined where the state was
	// computed (a plan in CI, without the image); known after apply.
	Unknown bool `json:"unknown,omitempty"`
	// err is why the source could not be examined (not recorded).
	err error
	// Digest, KernelName: the built image's content digest and kernel
	// file (running state only).
	Digest     string `json:"digest,omitempty"`
	KernelName string `json:"kernel_name,omitempty"`
	// Resolved is the digest a registry source's reference (a tag)
	// resolved to when the state was computed: a moved tag is a change.
	// Platform, Exclude, Compression: the image block's, as set.
	Resolved    string   `json:"resolved,omitempty"`
	Platform    string   `json:"platform,omitempty"`
	Exclude     []string `json:"exclude,omitempty"`
	Compression string   `json:"compression,omitempty"`
}

// NodeState is one served node.
type NodeState struct {
	MAC             string            `json:"mac"`
	IP              string            `json:"ip,omitempty"`
	Network         string            `json:"network"`
	Image           string            `json:"image"`
	KernelArgs      []string          `json:"kernel_args"`
	Tags            map[string]string `json:"tags,omitempty"`
	SystemOverlays  []string          `json:"system_overlays"`
	RuntimeOverlays []string          `json:"runtime_overlays"`
	SystemInput     string            `json:"system_input"`
	RuntimeInput    string            `json:"runtime_input"`
	// AssetKey is the node's asset_key keyed with the server's secret,
	// "hmac-sha256:<hex>" (assetkeyhmac.go), or AssetKeyUnkeyed in a
	// desired state computed without the secret; empty: none. Never the
	// key or a plain hash of it.
	AssetKey string `json:"asset_key,omitempty"`
	// LegacyAssetKeySHA256 is the plain "sha256:<hex>" inventories
	// written before keyed digests held; read so that an upgraded server
	// still checks the key, rewritten keyed at start (Restore).
	LegacyAssetKeySHA256 string `json:"asset_key_sha256,omitempty"`
	// assetKeySum is the plain sha256 of the key, in memory only, for
	// keying (keyAssetKeys).
	assetKeySum string
	// BMC is the node's bmc block (a credentials name, never a password);
	// nil: none. A change needs no reboot.
	BMC *hclspec.BMC `json:"bmc,omitempty"`
	// Root is "tmpfs" when the node's /init moves its root into a tmpfs
	// of RootSize; both empty for the default initramfs root (so an
	// inventory written before they existed reads the same). RootSize
	// alone is a root_size set for a node without root = "tmpfs": the
	// size of its tmpfs root if its image boots in two stages.
	Root     string `json:"root,omitempty"`
	RootSize string `json:"root_size,omitempty"`
	// Artifact digests (running state only).
	Artifacts *NodeArtifacts `json:"artifacts,omitempty"`
}

// NodeArtifacts are the digests of the files a node boots from.
type NodeArtifacts struct {
	Kernel  string `json:"kernel"`
	Image   string `json:"image"`
	System  string `json:"system"`
	Runtime string `json:"runtime"`
}

// Desire computes the desired state of a loaded commit for server srv,
// without building anything. Image sources are examined only when images
// is true; an image that cannot be examined is Unknown. A repository
// problem is returned as a *artifact.RepoError.
func Desire(commit *gitsrc.Commit, c *hclspec.Cluster, srv *hclspec.Server, images bool) (*Inventory, error) {
	inv, _, err := desireInputs(commit, c, srv, images)
	return inv, err
}

// desireInputs is Desire, also returning the input keys it was computed
// from.
func desireInputs(commit *gitsrc.Commit, c *hclspec.Cluster, srv *hclspec.Server, images bool) (*Inventory, *artifact.Inputs, error) {
	in, err := artifact.ComputeInputs(c, srv, images)
	if err != nil {
		return nil, nil, err
	}
	inv, err := desireFrom(commit, c, srv, in, images)
	return inv, in, err
}

// desireFrom is Desire from the input keys in, computed for c and srv.
func desireFrom(commit *gitsrc.Commit, c *hclspec.Cluster, srv *hclspec.Server, in *artifact.Inputs, images bool) (*Inventory, error) {
	inv := &Inventory{
		Version: InventoryVersion, Cluster: c.Hash,
		Server:   serverState(c, srv),
		Networks: map[string]NetworkState{},
		Images:   make(map[string]ImageState, len(in.Images)),
		Overlays: in.Overlays,
		Nodes:    make(map[string]NodeState, len(in.Nodes)),
	}
	if commit != nil {
		inv.Commit, inv.Subject, inv.Author, inv.CommittedAt = commit.Hash, commit.Subject, commit.Author, commit.When.UTC()
	}
	for _, name := range inv.Server.Networks {
		n, ok := c.Network(name)
		if !ok {
			continue
		}
		ns := NetworkState{Subnet: n.Subnet.String(), Domain: n.Domain, LeaseTime: n.LeaseTime.String()}
		if n.Gateway.IsValid() {
			ns.Gateway = n.Gateway.String()
		}
		for _, d := range n.DNS {
			ns.DNS = append(ns.DNS, d.String())
		}
		if n.DynamicStart.IsValid() {
			ns.DynamicRange = []string{n.DynamicStart.String(), n.DynamicEnd.String()}
		}
		inv.Networks[name] = ns
	}
	for name, ii := range in.Images {
		img, ok := c.Image(name)
		if !ok {
			continue
		}
		is := ImageState{Source: imageSource(img.Source), Kernel: img.Kernel, Pin: img.Digest, Input: ii.Input,
			Resolved: ii.Digest, Platform: img.Platform, Exclude: img.Exclude, Compression: img.Compression}
		var re *artifact.RepoError
		if errors.As(ii.Err, &re) {
			// A pinned digest the source does not have: only a new
			// commit fixes it (rejected, never retried as transient).
			return nil, fmt.Errorf("image %s: %w", name, ii.Err)
		}
		if !images || ii.Err != nil {
			is.Input, is.Resolved, is.Unknown, is.err = "", "", true, ii.Err
		}
		inv.Images[name] = is
	}
	for name, ni := range in.Nodes {
		n, _ := c.Node(name)
		ns := NodeState{
			MAC: n.MAC, Network: n.Network, Image: n.Image,
			KernelArgs: nonNil(n.KernelArgs), Tags: n.Tags,
			SystemOverlays: nonNil(n.SystemOverlays), RuntimeOverlays: nonNil(n.RuntimeOverlays),
			SystemInput: ni.System, RuntimeInput: ni.Runtime, assetKeySum: n.AssetKeySHA256, BMC: n.BMC,
		}
		if n.AssetKeySHA256 != "" {
			ns.AssetKey = AssetKeyUnkeyed // keyed by the caller that has the server's secret
		}
		if n.Root == hclspec.RootTmpfs {
			ns.Root, ns.RootSize = n.Root, n.RootSize
		} else if n.RootSize != hclspec.DefaultRootSize {
			// For a two-stage image, whose root is always a tmpfs.
			ns.RootSize = n.RootSize
		}
		if len(ns.Tags) == 0 {
			ns.Tags = nil
		}
		if n.IP.IsValid() {
			ns.IP = n.IP.String()
		}
		inv.Nodes[name] = ns
	}
	return inv, nil
}

// imageSource is an image source as the inventory records it: a path
// cleaned, a registry reference as written.
func imageSource(src string) string {
	if hclspec.IsRegistrySource(src) {
		return src
	}
	return filepath.Clean(src)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func serverState(c *hclspec.Cluster, srv *hclspec.Server) ServerState {
	nets := slices.Clone(srv.Networks)
	if len(nets) == 0 {
		for _, n := range c.Networks {
			nets = append(nets, n.Name)
		}
	}
	slices.Sort(nets)
	s := ServerState{
		Name: srv.Name, Networks: nets, Interface: srv.Interface,
		HTTPPort: srv.HTTPPort, HTTPSPort: srv.HTTPSPort, TFTPPort: srv.TFTPPort, DHCPPort: srv.DHCPPort, DHCPMode: srv.DHCPMode,
		IPXEDir: srv.IPXEDir, UEFIBootFile: srv.UEFIBootFile, RuntimeInterval: srv.RuntimeInterval.String(),
		RouterAdvert: srv.RouterAdvert, SecureRuntime: srv.SecureRuntime, AutoApply: srv.AutoApply,
	}
	if srv.Address.IsValid() {
		s.Address = srv.Address.String()
	}
	return s
}

// withBuild returns a copy of the desired state inv as the running state
// of build res, applied at time at.
func (inv *Inventory) withBuild(res *artifact.Result, at time.Time) *Inventory {
	out := *inv
	out.AppliedAt = at.UTC()
	out.Manifest = res.Manifest
	out.Images = make(map[string]ImageState, len(inv.Images))
	for name, is := range inv.Images {
		if info, ok := res.Images[name]; ok {
			is.Digest, is.KernelName = info.Digest, info.KernelName
		}
		out.Images[name] = is
	}
	out.Nodes = make(map[string]NodeState, len(inv.Nodes))
	for name, ns := range inv.Nodes {
		if a, ok := res.Nodes[name]; ok {
			ns.Artifacts = &NodeArtifacts{Kernel: a.Kernel.Digest, Image: a.Image.Digest, System: a.System.Digest, Runtime: a.Runtime.Digest}
		}
		out.Nodes[name] = ns
	}
	return &out
}

// Snapshot turns a running inventory and its build into what the boot
// services serve. The inventory may come from a damaged file or another
// server, so it is checked as hclspec checks a model: addresses are IPv4,
// MACs well-formed, and no two nodes share a MAC or an address (the
// snapshot's lookups would find only one of them).
func (inv *Inventory) Snapshot(res *artifact.Result) (*bootsvc.Snapshot, error) {
	s := inv.Server
	srv := bootsvc.Server{
		Name: s.Name, Interface: s.Interface, HTTPPort: s.HTTPPort, HTTPSPort: s.HTTPSPort, TFTPPort: s.TFTPPort, DHCPPort: s.DHCPPort,
		DHCPMode: s.DHCPMode, IPXEDir: s.IPXEDir, UEFIBootFile: s.UEFIBootFile,
		RouterAdvert: s.RouterAdvert, SecureRuntime: s.SecureRuntime,
	}
	var err error
	if s.Address != "" {
		if srv.Address, err = parseAddr4(s.Address); err != nil {
			return nil, fmt.Errorf("inventory: server address: %w", err)
		}
	}
	if srv.RuntimeInterval, err = time.ParseDuration(s.RuntimeInterval); err != nil {
		return nil, fmt.Errorf("inventory: runtime_interval: %w", err)
	}
	networks := make([]bootsvc.Network, 0, len(inv.Networks))
	for name, n := range inv.Networks {
		bn, err := snapshotNetwork(name, n)
		if err != nil {
			return nil, err
		}
		networks = append(networks, bn)
	}
	nodes := make([]bootsvc.Node, 0, len(inv.Nodes))
	byMAC := make(map[string]string, len(inv.Nodes))
	byIP := make(map[netip.Addr]string, len(inv.Nodes))
	for name, n := range inv.Nodes {
		bn := bootsvc.Node{Name: name, Network: n.Network, KernelArgs: n.KernelArgs, Tags: n.Tags, AssetKeyDigest: n.AssetKey,
			Root: n.Root, RootSize: n.RootSize, BMC: bmcLabel(n.BMC)}
		mac, ok := macaddr.Canonical(n.MAC)
		if !ok {
			return nil, fmt.Errorf("inventory: node %s: malformed MAC %q", name, n.MAC)
		}
		if other, dup := byMAC[mac]; dup {
			return nil, fmt.Errorf("inventory: nodes %s and %s both have MAC %s", min(name, other), max(name, other), mac)
		}
		byMAC[mac], bn.MAC = name, mac
		if n.IP != "" {
			if bn.IP, err = parseAddr4(n.IP); err != nil {
				return nil, fmt.Errorf("inventory: node %s: %w", name, err)
			}
			if other, dup := byIP[bn.IP]; dup {
				return nil, fmt.Errorf("inventory: nodes %s and %s both have address %s", min(name, other), max(name, other), bn.IP)
			}
			byIP[bn.IP] = name
		}
		switch {
		case n.AssetKey == "" && n.LegacyAssetKeySHA256 != "":
			if !isSHA256(n.LegacyAssetKeySHA256) {
				return nil, fmt.Errorf("inventory: node %s: asset_key_sha256 is not sha256:<64 hex digits>", name)
			}
			bn.AssetKeyDigest = n.LegacyAssetKeySHA256
		case n.AssetKey != "" && n.AssetKey != AssetKeyUnkeyed && !isAssetKeyDigest(n.AssetKey):
			return nil, fmt.Errorf("inventory: node %s: asset_key is not hmac-sha256:<64 hex digits>", name)
		}
		if res != nil {
			a, ok := res.Nodes[name]
			if !ok {
				return nil, fmt.Errorf("inventory: node %s is not in build %s", name, res.Manifest)
			}
			bn.Artifacts = a
		}
		nodes = append(nodes, bn)
	}
	return bootsvc.NewSnapshot(srv, networks, nodes, inv.Commit), nil
}

// snapshotNetwork turns the running inventory's network name into what
// the boot services serve, checking its addresses are IPv4.
func snapshotNetwork(name string, n NetworkState) (bootsvc.Network, error) {
	var err error
	bn := bootsvc.Network{Name: name, Domain: n.Domain}
	if bn.Subnet, err = netip.ParsePrefix(n.Subnet); err != nil {
		return bn, fmt.Errorf("inventory: network %s: %w", name, err)
	}
	if !bn.Subnet.Addr().Is4() {
		return bn, fmt.Errorf("inventory: network %s: subnet %s is not IPv4", name, n.Subnet)
	}
	if n.Gateway != "" {
		if bn.Gateway, err = parseAddr4(n.Gateway); err != nil {
			return bn, fmt.Errorf("inventory: network %s: %w", name, err)
		}
	}
	for _, d := range n.DNS {
		a, err := parseAddr4(d)
		if err != nil {
			return bn, fmt.Errorf("inventory: network %s: %w", name, err)
		}
		bn.DNS = append(bn.DNS, a)
	}
	if bn.LeaseTime, err = time.ParseDuration(n.LeaseTime); err != nil {
		return bn, fmt.Errorf("inventory: network %s: %w", name, err)
	}
	switch len(n.DynamicRange) {
	case 0:
	case 2:
		if bn.DynamicStart, err = parseAddr4(n.DynamicRange[0]); err != nil {
			return bn, fmt.Errorf("inventory: network %s: %w", name, err)
		}
		if bn.DynamicEnd, err = parseAddr4(n.DynamicRange[1]); err != nil {
			return bn, fmt.Errorf("inventory: network %s: %w", name, err)
		}
	default:
		return bn, fmt.Errorf("inventory: network %s: dynamic_range has %d addresses, want 2", name, len(n.DynamicRange))
	}
	return bn, nil
}

// isSHA256 reports whether s is "sha256:" and 64 lower-case hex digits.
func isSHA256(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// parseAddr4 parses an IPv4 address (gitboot serves DHCPv4 only; hclspec
// accepts no other).
func parseAddr4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s is not an IPv4 address", s)
	}
	return a, nil
}
