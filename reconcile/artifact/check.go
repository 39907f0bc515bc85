package artifact

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sync/errgroup"
)

// Check reports, as diagnostics, everything in the repository that would
// make Build fail for the named server ("": every server block, or no
// server when the repository declares none), so that `gitboot validate`
// refuses what the server would refuse:
//
//   - an overlay that does not load: an unreadable or unsupported entry
//     (a device, a FIFO), a name two files write, a template that
//     text/template or gitboot refuses ({{define}}, {{block}},
//     {{template}}, ranging over a number);
//   - a template that fails for some node: a missing map key, an unknown
//     field, ranging over a number held in a variable, output over 64 MiB,
//     a render that does not end;
//   - a node without an image.
//
// It loads every declared overlay and renders every distinct overlay
// artifact of every node as Build does, but writes nothing and does not
// look at image sources (they are on the server). Each problem is reported
// once, at the overlay file (and template line) when known, else at the
// overlay's or node's block, naming the first node it fails for. c must
// be a cluster hclspec.Load returned.
func Check(c *hclspec.Cluster, server string) hcl.Diagnostics {
	return check(c, server, checkOpts{})
}

// checkOpts are what CheckImagesChanged adds to Check.
type checkOpts struct {
	// built, when not nil, reports the nodes whose overlays are not
	// assembled (see CheckImagesChanged).
	built func(node string) bool
	// views, when not nil, gives each image's layout (nil for an image
	// whose layout is unknown), and overlays are placed on it.
	views func(image string) *imageView
	// in, when not nil, are the cluster's Inputs: their template data is
	// used again for their server.
	in *Inputs
}

// check is Check with opts.
func check(c *hclspec.Cluster, server string, opts checkOpts) hcl.Diagnostics {
	k := &checker{c: c, probs: map[probKey]*problem{}}
	servers := c.Servers
	switch {
	case server != "":
		srv, err := c.PickServer(server)
		if err != nil {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No server to check", Detail: err.Error() + "."}}
		}
		servers = []*hclspec.Server{srv}
	case len(servers) == 0:
		servers = []*hclspec.Server{nil} // Build's data: no server
	}
	loaded := k.loadOverlays(c)
	for _, n := range c.Nodes {
		if n.Image == "" {
			k.add(nil, &nodeError{n, errors.New("no image")})
		}
	}
	k.run(k.overlayJobs(servers, loaded, opts))
	return k.diagnostics()
}

// loadOverlays loads gitboot's init and every declared overlay, by name;
// one that does not load is reported and left out.
func (k *checker) loadOverlays(c *hclspec.Cluster) map[string]*overlay {
	loaded := map[string]*overlay{}
	for _, name := range append([]string{initOverlay}, overlayNames(c)...) {
		ov, err := loadOverlay(c, name)
		if err != nil {
			k.add(nil, err)
			continue
		}
		loaded[name] = ov
	}
	return loaded
}

// checkJob is one distinct overlay artifact to assemble, with the data
// set of its server and the nodes that share its input.
type checkJob struct {
	job
	ds    *dataSet
	nodes []string
}

// overlayJobs returns, in order, the distinct system and runtime overlay
// artifacts of every node the servers serve (of the loaded overlays), as
// Build would assemble them; it reports misplaced secrets, and leaves out
// the nodes opts.built says are assembled.
func (k *checker) overlayJobs(servers []*hclspec.Server, loaded map[string]*overlay, opts checkOpts) []*checkJob {
	c, built, views := k.c, opts.built, opts.views
	load := func(names []string) ([]*overlay, bool) {
		out := make([]*overlay, 0, len(names))
		for _, n := range names {
			ov, ok := loaded[n]
			if !ok {
				return nil, false // reported when loading
			}
			out = append(out, ov)
		}
		return out, true
	}
	var (
		kh, dk keyHasher
		jobs   = map[string]*checkJob{}
		order  []*checkJob
	)
	for _, srv := range servers {
		var ds *dataSet
		if in := opts.in; in != nil && in.ds != nil && in.srv == srv {
			ds = in.ds // the keys' data (its secret box is set here: the Inputs use none)
		} else {
			ds = newDataSet(c, srv)
		}
		// No key: well-formedness was checked when loading. An empty
		// secret, which most functions take (b64dec, trim, ...).
		ds.sec = newSecretBox(c.FS, nil, []byte{})
		for _, n := range servedNodes(c, srv) {
			sys, ok1 := load(append([]string{initOverlay}, n.SystemOverlays...))
			rt, ok2 := load(n.RuntimeOverlays)
			if !ok1 || !ok2 {
				continue
			}
			if err := secretPlacement(sys, rt, ds.secure, ds.server.Name); err != nil {
				k.add([]string{n.Name}, fmt.Errorf("node %s: %w", n.Name, err))
				continue
			}
			if built != nil && built(n.Name) {
				continue
			}
			for _, x := range []struct {
				kind string
				ovs  []*overlay
			}{{"system", sys}, {"runtime", rt}} {
				key := ds.overlayInput(&kh, &dk, x.kind, x.ovs, n)
				var img *imageView
				if views != nil {
					img = views(n.Image)
					key += "\x00" + n.Image
				}
				if j, ok := jobs[key]; ok {
					j.nodes = append(j.nodes, n.Name)
					continue
				}
				j := &checkJob{job: job{key: key, ovs: x.ovs, node: n, runtime: x.kind == "runtime", img: img}, ds: ds, nodes: []string{n.Name}}
				jobs[key] = j
				order = append(order, j)
			}
		}
	}

	return order
}

// run assembles the jobs' overlays on every core, reporting each failure
// for the job's nodes.
func (k *checker) run(order []*checkJob) {
	var cache sync.Map
	var g errgroup.Group
	g.SetLimit(maxProcs())
	for _, j := range order {
		g.Go(func() error {
			if _, err := assembleOverlay(j.ovs, j.runtime, j.node, j.ds, &cache, j.img); err != nil {
				k.add(j.nodes, fmt.Errorf("node %s: %w", j.node.Name, err))
			}
			return nil
		})
	}
	_ = g.Wait() // the jobs report through k
}

func overlayNames(c *hclspec.Cluster) []string {
	names := make([]string, len(c.Overlays))
	for i, o := range c.Overlays {
		names[i] = o.Name
	}
	return names
}

// nodeError is a problem with a node itself, for Check to place at its
// block.
type nodeError struct {
	node *hclspec.Node
	err  error
}

func (e *nodeError) Error() string { return fmt.Sprintf("node %s: %v", e.node.Name, e.err) }
func (e *nodeError) Unwrap() error { return e.err }

// locError places an error the repository's content caused in an overlay's
// file (and template line), for Check. Its message is the wrapped error's,
// so Build's errors read the same.
type locError struct {
	overlay   string // the declared overlay; "" for gitboot's init overlay
	file      string // path in the repository; "" when not a repository file
	line, col int    // 0 when unknown
	// subject, when not nil, is the place in the HCL (a file block, an
	// owner attribute); it wins over file.
	subject *hcl.Range
	// atFile: a build error (ErrorSubject) is placed at file and line
	// too, not at the overlay's block (secrets: secrets.go).
	atFile  bool
	summary string // the diagnostic's summary; "": "Overlay error"
	err     error
}

func (e *locError) Error() string { return e.err.Error() }
func (e *locError) Unwrap() error { return e.err }

// locate wraps err, which file of ov caused, in a locError ("" file: the
// overlay as a whole). An error located already is returned as is.
func (ov *overlay) locate(file string, err error) error {
	var le *locError
	if errors.As(err, &le) {
		return err
	}
	if !ov.repo {
		file = ""
	}
	le = &locError{overlay: ov.decl, file: file, err: err}
	if file != "" {
		le.line, le.col = templatePos(file, err.Error())
	}
	return le
}

// templatePos finds LINE and COL in text/template's messages, "template:
// NAME:LINE: ..." (parsing) and "template: NAME:LINE:COL: ..." (execution);
// 0 when absent.
func templatePos(name, msg string) (line, col int) {
	rest, ok := strings.CutPrefix(msg, "template: "+name+":")
	if !ok {
		return 0, 0
	}
	var pos [2]int
	for i := range pos {
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 0 || j == len(rest) || rest[j] != ':' {
			break
		}
		pos[i], _ = strconv.Atoi(rest[:j])
		rest = rest[j+1:]
	}
	return pos[0], pos[1]
}

// checker collects Check's problems, each once however many nodes it
// fails for. Safe for concurrent add.
type checker struct {
	c     *hclspec.Cluster
	mu    sync.Mutex
	probs map[probKey]*problem
}

type probKey struct {
	file, overlay, node string // node: only for problems of a node itself
	line, col           int
	msg                 string // the innermost message, the same for every node
}

type problem struct {
	summary string
	subject *hcl.Range
	first   string // the first node (by name) it fails for; "" when none
	detail  string // the error as Build reports it, for first
	nodes   map[string]bool
}

// add records err, which nodes ran into (the first of them named in err);
// nil nodes: an overlay that did not load.
func (k *checker) add(nodes []string, err error) {
	key := probKey{msg: err.Error()}
	p := &problem{summary: "Overlay error", detail: err.Error(), nodes: map[string]bool{}}
	if len(nodes) > 0 {
		p.first = nodes[0]
	}
	var le *locError
	var ne *nodeError
	switch {
	case errors.As(err, &ne):
		key.node, key.msg = ne.node.Name, ne.err.Error()
		p.summary, p.subject = "Node without image", ne.node.Range.Ptr()
		p.detail = fmt.Sprintf("node %q has no image: set image = image.NAME on the node or one of its profiles.", ne.node.Name)
	case errors.As(err, &le):
		key.file, key.overlay, key.line, key.col, key.msg = le.file, le.overlay, le.line, le.col, le.err.Error()
		if strings.HasPrefix(key.msg, "template: ") {
			p.summary = "Overlay template error"
		}
		if le.summary != "" {
			p.summary = le.summary
		}
		switch o, ok := k.c.Overlay(le.overlay); {
		case le.subject != nil:
			p.subject = le.subject
		case le.file != "":
			line, col := max(le.line, 1), le.col+1 // text/template counts columns from 0
			p.subject = &hcl.Range{Filename: k.c.FileName(le.file),
				Start: hcl.Pos{Line: line, Column: col}, End: hcl.Pos{Line: line, Column: col + 1}}
		case ok:
			p.subject = o.Range.Ptr()
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old, ok := k.probs[key]
	if !ok {
		old = p
		k.probs[key] = p
	} else if p.first != "" && (old.first == "" || p.first < old.first) {
		old.first, old.detail = p.first, p.detail
	}
	for _, n := range nodes {
		old.nodes[n] = true
	}
}

// diagnostics returns the problems in file and line order.
func (k *checker) diagnostics() hcl.Diagnostics {
	probs := make([]*problem, 0, len(k.probs))
	for _, p := range k.probs {
		probs = append(probs, p)
	}
	sort.Slice(probs, func(i, j int) bool {
		a, b := probs[i], probs[j]
		switch {
		case (a.subject == nil) != (b.subject == nil):
			return a.subject == nil
		case a.subject != nil && a.subject.Filename != b.subject.Filename:
			return a.subject.Filename < b.subject.Filename
		case a.subject != nil && a.subject.Start.Line != b.subject.Start.Line:
			return a.subject.Start.Line < b.subject.Start.Line
		}
		return a.detail < b.detail
	})
	var diags hcl.Diagnostics
	for _, p := range probs {
		detail := p.detail
		if len(p.nodes) > 1 {
			detail += fmt.Sprintf(" (%d nodes in all)", len(p.nodes))
		}
		if !strings.HasSuffix(detail, ".") && !strings.HasSuffix(detail, ")") {
			detail += "."
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: p.summary, Detail: detail, Subject: p.subject})
	}
	return diags
}
