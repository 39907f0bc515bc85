package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"

	"github.com/gitboot/gitboot/hclspec"
	"golang.org/x/sync/errgroup"
)

// dataSet is the template data of one build, with the hash of each part a
// template may read, so a node's overlay input key is cheap to compute.
type dataSet struct {
	server      TemplateServer
	serverHash  [32]byte
	cluster     TemplateCluster
	clusterHash [32]byte
	nodes       map[string]*TemplateNode
	nodeHash    map[string][32]byte
	networks    map[string]TemplateNetwork
	netHash     map[string][32]byte
	more        moreData // the parts added later (templatedata.go)
	// secure: the server serves runtime overlays in secure mode (secrets
	// may be in them); sec decrypts the build's secrets (secrets.go).
	secure   bool
	sec      *secretBox
	accounts map[string]*nodeAccounts // by node name; nil: none declared (accounts.go)
}

func newDataSet(c *hclspec.Cluster, srv *hclspec.Server) *dataSet {
	d := &dataSet{nodes: make(map[string]*TemplateNode, len(c.Nodes)), nodeHash: make(map[string][32]byte, len(c.Nodes)),
		networks: map[string]TemplateNetwork{}, netHash: map[string][32]byte{}, accounts: accountsOf(c)}
	if srv != nil {
		d.server = TemplateServer{Name: srv.Name, HTTPPort: srv.HTTPPort}
		d.secure = srv.SecureRuntime
		if srv.Address.IsValid() {
			d.server.Address = srv.Address.String()
			d.server.URL = "http://" + net.JoinHostPort(d.server.Address, strconv.Itoa(srv.HTTPPort))
		}
	}
	d.serverHash = hashParts("server", d.server.Name, d.server.Address, strconv.Itoa(d.server.HTTPPort), d.server.URL)
	for _, n := range c.Networks {
		tn := TemplateNetwork{Name: n.Name, Domain: n.Domain}
		if n.Subnet.IsValid() {
			tn.Subnet, tn.Prefix = n.Subnet.String(), n.Subnet.Bits()
			if n.Subnet.Addr().Is4() {
				tn.Netmask = net.IP(net.CIDRMask(n.Subnet.Bits(), 32)).String()
			}
		}
		if n.Gateway.IsValid() {
			tn.Gateway = n.Gateway.String()
		}
		for _, a := range n.DNS {
			tn.DNS = append(tn.DNS, a.String())
		}
		d.networks[n.Name] = tn
		parts := []string{"network", tn.Name, tn.Subnet, tn.Netmask, tn.Gateway, tn.Domain, strconv.Itoa(tn.Prefix)}
		d.netHash[n.Name] = hashParts(append(parts, tn.DNS...)...)
	}
	all := sha256.New()
	var kh keyHasher
	var keys []string
	d.cluster.Nodes = make([]TemplateNode, 0, len(c.Nodes))
	d.more.sized(len(c.Nodes))
	for _, n := range c.Nodes {
		tn := TemplateNode{Name: n.Name, MAC: n.MAC, Network: n.Network, Tags: n.Tags, KernelArgs: n.KernelArgs}
		if tn.Tags == nil {
			tn.Tags = map[string]string{}
		}
		if n.IP.IsValid() {
			tn.IP = n.IP.String()
		}
		tn.Domain = d.networks[n.Network].Domain
		tn.Interfaces = templateInterfaces(n)
		d.more.addNode(&tn, n)
		d.cluster.Nodes = append(d.cluster.Nodes, tn)
		kh.str("node")
		kh.str(tn.Name)
		kh.str(tn.MAC)
		kh.str(tn.IP)
		kh.str(tn.Network)
		kh.str(tn.Domain)
		kh.buf = binary.AppendUvarint(kh.buf, uint64(len(tn.KernelArgs)))
		for _, a := range tn.KernelArgs {
			kh.str(a)
		}
		keys = keys[:0]
		for k := range tn.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			kh.str(k)
			kh.str(tn.Tags[k])
		}
		hashInterfaces(&kh, tn.Interfaces)
		h := kh.sum()
		d.nodeHash[n.Name] = h
		all.Write(h[:])
	}
	for i := range d.cluster.Nodes {
		d.nodes[d.cluster.Nodes[i].Name] = &d.cluster.Nodes[i]
	}
	all.Sum(d.clusterHash[:0])
	d.more.finish()
	return d
}

func hashParts(parts ...string) [32]byte {
	var h keyHasher
	for _, p := range parts {
		h.str(p)
	}
	return h.sum()
}

// keyHasher hashes length-prefixed fields for input keys (the fields are
// small: one sha256 over a reused buffer). Reusable after sum.
type keyHasher struct {
	buf []byte
}

func (k *keyHasher) str(s string) {
	k.buf = binary.AppendUvarint(k.buf, uint64(len(s)))
	k.buf = append(k.buf, s...)
}

func (k *keyHasher) raw(b []byte) { k.buf = append(k.buf, b...) }

func (k *keyHasher) sum() [32]byte {
	out := sha256.Sum256(k.buf)
	k.buf = k.buf[:0]
	return out
}

// depKey hashes the parts of node's data selected by d.
func (s *dataSet) depKey(d deps, res resSel, node *hclspec.Node) [32]byte {
	var h keyHasher
	return s.depKeyWith(&h, d, res, node)
}

func (s *dataSet) depKeyWith(h *keyHasher, d deps, res resSel, node *hclspec.Node) [32]byte {
	h.buf = append(h.buf, byte(d))
	if d&^depsOfFirstBuild != 0 {
		s.more.depKey(h, d, res, node, s)
	}
	if d&depNode != 0 {
		v := s.nodeHash[node.Name]
		h.raw(v[:])
	}
	if d&depNetwork != 0 {
		v := s.netHash[node.Network]
		h.str(node.Network)
		h.raw(v[:])
	}
	if d&depCluster != 0 {
		h.raw(s.clusterHash[:])
	}
	if d&depServer != 0 {
		h.raw(s.serverHash[:])
	}
	return h.sum()
}

func (s *dataSet) data(node *hclspec.Node) *TemplateData {
	return &TemplateData{Node: *s.nodes[node.Name], Network: s.networks[node.Network], Networks: s.nodeNetworks(node),
		Cluster: s.cluster, Server: s.server}
}

// overlayInput is the input key of one node's system or runtime overlay:
// the overlays' content and the data their templates read for that node.
//
// A runtime overlay with a post_apply command carries overlays.json (see
// postApplyFile), so its key includes every overlay's command: it uses
// version 2 of the key, which keeps every key without post_apply as it
// was.
func (s *dataSet) overlayInput(h, dk *keyHasher, kind string, ovs []*overlay, node *hclspec.Node) string {
	withCmds := kind == "runtime" && hasPostApply(ovs)
	if withCmds {
		h.str("overlay-input/2")
	} else {
		h.str("overlay-input/1")
	}
	h.str(kind)
	for _, ov := range ovs {
		h.str(ov.name)
		h.raw(ov.hash[:])
		k := s.depKeyWith(dk, ov.deps, ov.res, node)
		h.raw(k[:])
		if withCmds {
			h.str(ov.postApply)
		}
	}
	if a := s.accounts[node.Name]; a != nil && (kind == "system" || a.hashes || namesOwners(ovs)) {
		h.str("accounts") // only with accounts: every other key stays as it was
		h.raw(a.key[:])
	}
	sum := h.sum()
	return hex.EncodeToString(sum[:])
}

// job is one distinct overlay artifact to build, for one representative
// node (every node with the same input key gets the same bytes).
type job struct {
	key     string
	ovs     []*overlay
	node    *hclspec.Node
	out     ref
	runtime bool       // a runtime overlay (it may carry overlays.json)
	img     *imageView // the node's image, as its overlays see it
}

// nodeInputs computes every node's system and runtime overlay input keys
// (loading each overlay once) and calls fn per node, in order. own
// (gitboot's own files: the agent, the trust files), when not empty, is
// added to gitboot's init overlay (see withAgent).
func nodeInputs(c *hclspec.Cluster, ds *dataSet, nodes []*hclspec.Node, own []ovFile, fn func(n *hclspec.Node, rec nodeRecord, sys, rt []*overlay)) error {
	loaded := map[string]*overlay{}
	load := func(names []string) ([]*overlay, error) {
		out := make([]*overlay, 0, len(names))
		for _, n := range names {
			ov, ok := loaded[n]
			if !ok {
				var err error
				if ov, err = loadOverlay(c, n); err != nil {
					return nil, err
				}
				if n == initOverlay && len(own) > 0 {
					ov = withAgent(ov, own)
				}
				loaded[n] = ov
			}
			out = append(out, ov)
		}
		return out, nil
	}
	var kh, dk keyHasher
	for _, n := range nodes {
		sys, err := load(append([]string{initOverlay}, n.SystemOverlays...))
		if err != nil {
			return &RepoError{fmt.Errorf("node %s: %w", n.Name, err)}
		}
		sys = withNetOverlay(c, n, sys)
		rt, err := load(n.RuntimeOverlays)
		if err == nil {
			err = secretPlacement(sys, rt, ds.secure, ds.server.Name)
		}
		if err != nil {
			return &RepoError{fmt.Errorf("node %s: %w", n.Name, err)}
		}
		rec := nodeRecord{Image: n.Image, SystemInput: ds.overlayInput(&kh, &dk, "system", sys, n), RuntimeInput: ds.overlayInput(&kh, &dk, "runtime", rt, n)}
		fn(n, rec, sys, rt)
	}
	return nil
}

// buildOverlays computes every node's system and runtime overlay input
// keys (ds: the template data of c for the server built for), builds
// those not in the store, and records them in m.
func (b *Builder) buildOverlays(ctx context.Context, c *hclspec.Cluster, ds *dataSet, nodes []*hclspec.Node, m *Manifest) (built, reused int, err error) {
	own, err := b.ownFiles()
	if err != nil {
		return 0, 0, err
	}
	ds.sec = newSecretBox(c.FS, b.cfg.Secrets, nil)
	jobs := make(map[string]*job, 2*len(nodes))
	var all []*job      // every distinct job, in the order the nodes name them
	var stored []string // the store file of each of all that is in the store, "" otherwise
	views, err := b.imageViews(m)
	if err != nil {
		return 0, 0, err
	}
	err = nodeInputs(c, ds, nodes, own, func(n *hclspec.Node, rec nodeRecord, sys, rt []*overlay) {
		// What an overlay artifact holds depends on the image's layout
		// too (paths through its links, its users): the same overlays on
		// another image are another artifact.
		img := views[n.Image]
		lk := "layout:" + m.Images[n.Image].Layout.Hex
		if c := compressionOf(m.Images[n.Image].Compression); c != hclspec.CompressionGzip {
			lk += "\x00compression:" + c // gzip keeps the keys it always had
		}
		sk, rk := hashParts(rec.SystemInput, lk), hashParts(rec.RuntimeInput, lk)
		rec.SystemInput, rec.RuntimeInput = hex.EncodeToString(sk[:]), hex.EncodeToString(rk[:])
		for _, x := range []struct {
			key     string
			ovs     []*overlay
			runtime bool
		}{{rec.SystemInput, sys, false}, {rec.RuntimeInput, rt, true}} {
			if _, ok := jobs[x.key]; ok {
				continue
			}
			j := &job{key: x.key, ovs: x.ovs, node: n, runtime: x.runtime, img: img}
			name := ""
			if r, ok := b.overlays[x.key]; ok {
				j.out, name = r, r.Hex+extImage
			}
			all, stored = append(all, j), append(stored, name)
			jobs[x.key] = j
		}
		m.Nodes[n.Name] = rec
	})
	if err != nil {
		return 0, 0, err
	}
	// The artifacts to reuse are checked after the keys, on the workers.
	var order []*job
	for i, ok := range b.store.usableEach(stored, b.cfg.Workers) {
		if j := all[i]; ok {
			j.node = nil
			reused++
		} else {
			j.out = ref{}
			order = append(order, j)
		}
	}

	segs, err := b.sharedSegments(order)
	if err != nil {
		return 0, 0, err
	}
	if err := b.renderJobs(ctx, order, ds, segs); err != nil {
		return 0, 0, err
	}
	for _, j := range order {
		b.overlays[j.key] = j.out
	}
	for name, rec := range m.Nodes {
		rec.System, rec.Runtime = jobs[rec.SystemInput].out, jobs[rec.RuntimeInput].out
		m.Nodes[name] = rec
	}
	return len(order), reused, nil
}

// imageViews are the images of m as overlays see them: layout and
// compression.
func (b *Builder) imageViews(m *Manifest) (map[string]*imageView, error) {
	views := map[string]*imageView{}
	for name, rec := range m.Images {
		lay, err := b.layout(rec.Layout)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		views[name] = &imageView{name: name, lay: lay, comp: compressionOf(rec.Compression)}
	}
	return views, nil
}

// renderJobs renders and stores the jobs' overlay artifacts on
// Config.Workers goroutines, a system overlay after its shared segment
// where it starts with one.
func (b *Builder) renderJobs(ctx context.Context, order []*job, ds *dataSet, segs map[*imageView]*sharedSegment) error {
	bt := b.store.newBatch(extImage)
	var cache sync.Map // renderKey -> []byte, node-independent templates only
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.cfg.Workers)
	for _, j := range order {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if seg := segs[j.img]; seg != nil && !j.runtime && isInitOverlay(j.ovs[0]) && j.ovs[0].hash == seg.key.init {
				tail, ok, err := renderNodeSegment(j, ds, &cache, seg)
				if err != nil {
					return &RepoError{fmt.Errorf("node %s: %w", j.node.Name, err)}
				}
				if ok {
					j.out, err = bt.PutAfter(seg, tail)
					return err
				}
			}
			data, err := renderOverlay(j, ds, &cache)
			if err != nil {
				return &RepoError{fmt.Errorf("node %s: %w", j.node.Name, err)}
			}
			j.out, err = bt.Put(data)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		bt.Abort()
		return err
	}
	return bt.Finish()
}

// renderOverlay builds one overlay artifact (cpio newc + gzip) in memory,
// as one archive of all its overlays.
func renderOverlay(j *job, ds *dataSet, cache *sync.Map) ([]byte, error) {
	t, err := assembleOverlay(j.ovs, j.runtime, j.node, ds, cache, j.img)
	if err != nil {
		return nil, err
	}
	return compressTree(t, j.img.compression())
}

// renderNodeSegment builds the node's segment of a system overlay (see
// sharedSegment): nil when it has no entries. ok is false when the split
// would not unpack to the tree one archive gives (see splitOK): then the
// caller builds that one archive, which also reports the errors a single
// tree finds.
func renderNodeSegment(j *job, ds *dataSet, cache *sync.Map, seg *sharedSegment) (tail []byte, ok bool, err error) {
	t, err := assembleOverlay(nodePart(j.ovs), false, j.node, ds, cache, j.img)
	if err != nil {
		return nil, false, err
	}
	if !splitOK(seg.tree, t) {
		return nil, false, nil
	}
	if t.entries == 0 {
		return nil, true, nil
	}
	tail, err = compressTree(t, j.img.compression())
	return tail, err == nil, err
}

// assembleOverlay renders ovs for node into a tree, in order. cache holds
// the renderings of node-independent templates. A runtime overlay with
// post_apply commands also gets overlays.json. With the layout of the
// node's image (img, see imageView) owner names are resolved and the tree
// is placed on the image (see placeTree).
func assembleOverlay(ovs []*overlay, runtime bool, node *hclspec.Node, ds *dataSet, cache *sync.Map, img *imageView) (*tree, error) {
	t := newTree()
	var origin map[string]string
	if img != nil && img.lay != nil {
		origin = map[string]string{}
	}
	acct := ds.accounts[node.Name]
	if acct != nil {
		// A collision first: it explains an owner the image lacks.
		if err := acct.checkAgainst(img); err != nil {
			return nil, err
		}
		img = img.withAccounts(acct)
	}
	data := ds.data(node)
	renderFile := func(f *ovFile) ([]byte, error) {
		if f.secret {
			b, err := ds.sec.decrypt(f.src, f.data)
			if err != nil {
				return nil, &locError{file: f.src, atFile: true, err: err}
			}
			return b, nil
		}
		tmpl, err := ds.sec.bind(f)
		if err != nil {
			return nil, err
		}
		if v, ok := cache.Load(limitKey{f.tmpl}); ok {
			return nil, v.(error)
		}
		if f.deps&depNodeAny != 0 {
			return renderLimited(tmpl, f.tmpl, data, cache)
		}
		k := renderKey{f.tmpl, ds.depKey(f.deps, f.res, node)}
		if v, ok := cache.Load(k); ok {
			return v.([]byte), nil
		}
		out, err := renderLimited(tmpl, f.tmpl, data, cache)
		if err != nil {
			return nil, err
		}
		cache.Store(k, out)
		return out, nil
	}
	for _, ov := range ovs {
		if err := addOverlay(t, ov, renderFile, img, origin); err != nil {
			return nil, err
		}
	}
	if acct != nil {
		if err := addAccounts(t, acct, img, runtime, origin, ds.sec); err != nil {
			return nil, err
		}
	}
	if runtime && hasPostApply(ovs) {
		var lay *Layout
		if img != nil {
			lay = img.lay
		}
		if err := addPostApply(t, ovs, lay); err != nil {
			return nil, err
		}
	}
	if origin != nil {
		return placeTree(t, img, origin)
	}
	return t, nil
}
