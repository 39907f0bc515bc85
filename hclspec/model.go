package hclspec

import (
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Cluster is the resolved, validated model of one cluster repository. It is
// immutable once Load returns it: share it by pointer, never modify it.
type Cluster struct {
	// FS is the repository the cluster was loaded from (a directory or a git
	// tree). Overlay sources are paths inside it.
	FS fs.FS

	Servers  []*Server  // sorted by name
	Networks []*Network // sorted by name
	Images   []*Image   // sorted by name
	Overlays []*Overlay // sorted by name
	Profiles []*Profile // sorted by name
	Nodes    []*Node    // sorted by name
	Users    []*User    // sorted by name (users.go)
	Groups   []*Group   // sorted by name

	// Hash is the sha256 (hex) of the normalised desired state: two
	// repositories that differ only in comments, formatting or file layout
	// have the same Hash.
	Hash string

	filePrefix string // Options.FilePrefix

	servers  map[string]*Server
	networks map[string]*Network
	images   map[string]*Image
	overlays map[string]*Overlay
	profiles map[string]*Profile
	nodes    map[string]*Node
	users    map[string]*User
	groups   map[string]*Group
}

// Server is a `server` block: one gitboot server and the networks it serves.
type Server struct {
	Name            string
	Address         netip.Addr
	Networks        []string // network names; all networks when the block omits it
	Interface       string
	HTTPPort        int
	HTTPSPort       int // the agents' HTTPS listener (https_port)
	TFTPPort        int
	DHCPPort        int
	DHCPMode        string // authoritative | proxy | off
	IPXEDir         string
	RuntimeInterval time.Duration
	RouterAdvert    bool
	SecureRuntime   bool
	// AutoApply: pushed commits are applied as they arrive (the default).
	// When false the server plans each new commit and waits for
	// `gitboot apply`.
	AutoApply    bool
	UEFIBootFile string    // x86-64 UEFI boot file: "snponly.efi" (default) or "ipxe.efi"
	Rollout      Rollout   // the rollout block (see rollout.go)
	Range        hcl.Range `json:"-"` // the block's definition

	networksSet  bool
	ipxeDirRange hcl.Range // the ipxe_dir expression; zero when the block leaves it to the default
}

// Network is a `network` block.
type Network struct {
	Name         string
	Subnet       netip.Prefix
	Gateway      netip.Addr // zero when unset
	DNS          []netip.Addr
	Domain       string
	LeaseTime    time.Duration
	DynamicStart netip.Addr // zero when no dynamic_range
	DynamicEnd   netip.Addr
	Range        hcl.Range `json:"-"`

	subnetRange, dynamicRange hcl.Range
}

// Image is an `image` block. Source is a path on the server, not in the
// repository.
type Image struct {
	Name   string
	Source string
	Kernel string // glob inside the image; empty: newest /boot/vmlinuz-*
	Digest string // "sha256:<hex>" pin; empty when not pinned
	// Platform, Exclude, Compression: see image.go.
	Platform    string   // "os/arch[/variant]" of a registry image; empty: the server's
	Exclude     []string // globs left out of the image initrd; nil: DefaultImageExclude
	Compression string   // "zstd", "gzip", "none"; empty: zstd if the kernel has RD_ZSTD
	// Boot is BootAuto (default), BootOneStage or BootTwoStage;
	// TwoStageAbove the unpacked size above which BootAuto means two
	// stages; StageOneModules the kernel modules the stage-one initramfs
	// carries (with their dependencies), nil for every network driver.
	Boot            string    `json:",omitempty"`
	TwoStageAbove   int64     `json:",omitempty"`
	StageOneModules []string  `json:",omitempty"`
	Range           hcl.Range `json:"-"`

	sourceRange hcl.Range // the source expression
}

// Overlay is an `overlay` block: either Source (a directory in the
// repository, slash-separated, relative to its root) or Builtin (the name of
// an overlay shipped inside gitboot: "hosts", "hostname", "fstab", "ssh_host_keys").
type Overlay struct {
	Name    string
	Source  string
	Builtin string
	// PostApply is a shell command the node agent runs (/bin/sh -c, as
	// root) after it applied a change to this overlay's files; runtime
	// overlays only. Empty: none.
	PostApply string `json:",omitempty"`
	// Files are its `file "GLOB" {...}` blocks, in order (see FileAttr).
	Files []*FileAttr `json:",omitempty"`
	Range hcl.Range   `json:"-"`

	sourceRange hcl.Range `json:"-"`
}

// Profile is a `profile` block as written (not merged).
type Profile struct {
	Name     string
	Profiles []string
	Range    hcl.Range `json:"-"`
}

// Node is one node with its fully merged settings: profiles applied in
// order (included profiles first), later wins, the node's own attributes
// win over all profiles; maps merge key by key, lists replace.
type Node struct {
	Name            string
	MAC             string // lower-case colon form
	IP              netip.Addr
	Profiles        []string // as listed on the node
	Image           string   // image name
	Network         string   // network name
	KernelArgs      []string
	SystemOverlays  []string // overlay names, in order (gitboot's own init overlay is not listed)
	RuntimeOverlays []string
	Tags            map[string]string
	// Resources is the node's structured template data, its profiles'
	// merged with its own (resources.go); nil: none.
	Resources Resources `json:",omitempty"`
	// AssetKeySHA256 is "sha256:<hex>" of the node's asset_key (empty:
	// none). The key itself is not kept: the runtime overlay is served to
	// a request whose X-Gitboot-Asset-Key header hashes to this.
	AssetKeySHA256 string
	// BMC is the node's baseboard management controller; nil: none.
	BMC *BMC `json:",omitempty"`
	// Root is the node's root file system, RootInitramfs (default) or
	// RootTmpfs; RootSize the tmpfs's size ("50%" of RAM by default, or
	// "8G"), meaningful with RootTmpfs only.
	Root, RootSize string
	// Interfaces are the node's interface blocks merged with its
	// profiles' by name (interfaces.go), sorted by name; nil when none.
	Interfaces []*Interface `json:",omitempty"`
	// NetworkConfig is the network stack gitboot configures on the node
	// ("networkd", "networkmanager", "ifupdown"); empty: detected at boot.
	NetworkConfig string `json:",omitempty"`
	// Users are the declared users the node selects (`users`); nil: every
	// declared user (see Cluster.NodeUsers).
	Users []string `json:",omitempty"`

	// Origins maps each merged attribute name ("image", "tags.role", ...)
	// to where its value was set: a profile's or the node's attribute.
	// nil for a node taken from the evaluation cache: read them with
	// Origin or AllOrigins.
	Origins map[string]hcl.Range `json:"-"`
	Range   hcl.Range            `json:"-"` // the node block (or its for_each element's block)

	lazy lazyOrigins // Origins still encoded (origins.go)
}

// Server returns the server block with the given name.
func (c *Cluster) Server(name string) (*Server, bool) { s, ok := c.servers[name]; return s, ok }

// Network returns the network block with the given name.
func (c *Cluster) Network(name string) (*Network, bool) { n, ok := c.networks[name]; return n, ok }

// Image returns the image block with the given name.
func (c *Cluster) Image(name string) (*Image, bool) { i, ok := c.images[name]; return i, ok }

// Overlay returns the overlay block with the given name.
func (c *Cluster) Overlay(name string) (*Overlay, bool) { o, ok := c.overlays[name]; return o, ok }

// Profile returns the profile block with the given name.
func (c *Cluster) Profile(name string) (*Profile, bool) { p, ok := c.profiles[name]; return p, ok }

// Node returns the node with the given name.
func (c *Cluster) Node(name string) (*Node, bool) { n, ok := c.nodes[name]; return n, ok }

// FileName returns the name diagnostics give the repository file p (a
// slash path relative to the repository's root, as in FS): p under the
// directory the cluster was loaded from (Options.FilePrefix).
func (c *Cluster) FileName(p string) string { return path.Join(c.filePrefix, p) }

// NewCluster assembles a Cluster from already-validated parts and builds its
// lookup indexes. Load is the normal way to get a Cluster; NewCluster is for
// callers (and tests) that construct one directly. It sorts the slices and
// does not validate.
func NewCluster(fsys fs.FS, servers []*Server, networks []*Network, images []*Image, overlays []*Overlay, profiles []*Profile, nodes []*Node) *Cluster {
	c := &Cluster{FS: fsys, Servers: servers, Networks: networks, Images: images, Overlays: overlays, Profiles: profiles, Nodes: nodes}
	c.index()
	return c
}

func (c *Cluster) index() {
	sortByName(c.Servers, func(s *Server) string { return s.Name })
	sortByName(c.Networks, func(n *Network) string { return n.Name })
	sortByName(c.Images, func(i *Image) string { return i.Name })
	sortByName(c.Overlays, func(o *Overlay) string { return o.Name })
	sortByName(c.Profiles, func(p *Profile) string { return p.Name })
	sortByName(c.Nodes, func(n *Node) string { return n.Name })
	c.servers = indexByName(c.Servers, func(s *Server) string { return s.Name })
	c.networks = indexByName(c.Networks, func(n *Network) string { return n.Name })
	c.images = indexByName(c.Images, func(i *Image) string { return i.Name })
	c.overlays = indexByName(c.Overlays, func(o *Overlay) string { return o.Name })
	c.profiles = indexByName(c.Profiles, func(p *Profile) string { return p.Name })
	c.nodes = indexByName(c.Nodes, func(n *Node) string { return n.Name })
	c.indexAccounts()
}

func sortByName[T any](s []T, name func(T) string) {
	slices.SortStableFunc(s, func(a, b T) int { return strings.Compare(name(a), name(b)) })
}

func indexByName[T any](s []T, name func(T) string) map[string]T {
	m := make(map[string]T, len(s))
	for _, v := range s {
		m[name(v)] = v
	}
	return m
}
