package hclspec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Limits that keep hostile input from exhausting the loader.
const (
	// MaxFileSize is the largest *.hcl file Load reads.
	MaxFileSize = 32 << 20
	// MaxNesting is the deepest bracket nesting Load parses; deeper input
	// is refused before parsing, since the parser recurses per level.
	MaxNesting = 256
	// MaxNodes bounds the nodes one repository may declare.
	MaxNodes = 200_000
)

// Options tune Load.
type Options struct {
	// Vars sets input variables, as `--var name=value` does: values are
	// strings, converted to the variable's declared type.
	Vars map[string]string
	// FilePrefix is prepended to file names in diagnostics and ranges (the
	// directory as the user typed it, e.g. "examples/lab").
	FilePrefix string
	// Parser, when set, is used to parse the files, so the caller can show
	// source snippets for diagnostics via Parser.Files().
	Parser *hclparse.Parser
	// Cache, when set, keeps resolved node blocks between loads: a node
	// block whose text, place and inputs are those of a cached one is not
	// parsed or resolved again (see EvalCache).
	Cache *EvalCache
}

// Load reads every *.hcl file at the root of fsys (sorted by name), evaluates
// and merges it, and validates the result. It returns the cluster only when
// there are no errors; warnings may accompany it.
func Load(fsys fs.FS, opts Options) (*Cluster, hcl.Diagnostics) {
	return LoadContext(context.Background(), fsys, opts)
}

// LoadContext is Load that stops early when ctx is done: the long loops
// (files, locals, node blocks, for_each elements, validation) check ctx
// every few hundred steps, and a stopped load returns no cluster and an
// error diagnostic "Evaluation stopped" (ctx.Err() says why). One HCL
// expression, such as a single for expression of many elements, is
// evaluated whole before ctx is checked again.
func LoadContext(ctx context.Context, fsys fs.FS, opts Options) (*Cluster, hcl.Diagnostics) {
	l := &loader{fsys: fsys, opts: opts, parser: opts.Parser, context: ctx}
	if l.parser == nil {
		l.parser = hclparse.NewParser()
	}
	c, diags := l.load()
	sortDiagnostics(diags)
	return c, diags
}

// sortDiagnostics orders diagnostics by file and position (those without a
// position first), so output is the same on every run: HCL reports some
// sets of errors in map order.
func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

type loader struct {
	fsys   fs.FS
	opts   Options
	parser *hclparse.Parser
	diags  hcl.Diagnostics
	// context stops a long load (LoadContext); stop is set once it has.
	context context.Context
	stop    bool

	decl       declared
	localNames map[string]bool
	refChecked map[hcl.Expression]bool
	vars       map[string]varDecl
	ctx        *hcl.EvalContext

	servers  []*Server
	networks []*Network
	images   []*Image
	overlays []*Overlay
	profiles []*profileDef
	nodes    []*Node
	nodeDefs []nodeDef
	users    []*User  // users.go
	groups   []*Group // users.go

	profileByName map[string]*profileDef // for mergeNode
	shared        sharedMaps             // Origins and Tags maps nodes share

	ifaceBlocks map[*hcl.Block]*interfaceBlock // interfaces.go
	cachedFiles []string                       // files loadCached gave the parser (evalcache_load.go)
	keyBuf      []byte                         // nodeChunk's key text, reused
	reported    map[reportKey]bool
}

// cancelCheckEvery is how many steps of a long loop run between checks of
// the load's context.
const cancelCheckEvery = 256

// stopped reports whether the load's context is done; the first time, it
// adds the error diagnostic that makes Load return no cluster.
func (l *loader) stopped() bool {
	err := l.context.Err()
	if err == nil {
		return false
	}
	if !l.stop {
		l.stop = true
		l.errorf(nil, "Evaluation stopped", "Loading the configuration was stopped before it finished: %s.", err)
	}
	return true
}

func (l *loader) errorf(subject *hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: subject,
	})
}

func (l *loader) warnf(subject *hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: subject,
	})
}

// rawBlock is one top-level block before evaluation.
type rawBlock struct {
	typ   string
	name  string
	block *hcl.Block
}

var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "server", LabelNames: []string{"name"}},
		{Type: "network", LabelNames: []string{"name"}},
		{Type: "image", LabelNames: []string{"name"}},
		{Type: "overlay", LabelNames: []string{"name"}},
		{Type: "profile", LabelNames: []string{"name"}},
		{Type: "node", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "user", LabelNames: []string{"name"}},
		{Type: "group", LabelNames: []string{"name"}},
	},
}

func (l *loader) load() (*Cluster, hcl.Diagnostics) {
	if l.opts.Cache != nil {
		if c, diags, ok := l.loadCached(); ok {
			return c, diags
		}
		l.reset() // evaluate the whole commit, as without a cache
	}
	blocks := l.parseFiles()
	if l.diags.HasErrors() {
		return nil, l.diags
	}
	l.declare(blocks)
	l.evalVariables(blocks)
	l.evalLocals(blocks)
	if l.stopped() || l.diags.HasErrors() {
		return nil, l.diags
	}
	l.decodeGlobals(blocks)
	for i, b := range blocks {
		if i%cancelCheckEvery == 0 && l.stopped() {
			return nil, l.diags
		}
		if b.typ == "node" {
			l.decodeNode(b)
			if l.stop {
				return nil, l.diags
			}
			if len(l.nodes) > MaxNodes {
				l.errorf(b.block.DefRange.Ptr(), "Too many nodes", "A repository may declare at most %d nodes.", MaxNodes)
				return nil, l.diags
			}
		}
	}
	// Carry on after errors in blocks so that one run reports them all;
	// each later step skips what could not be resolved.
	if l.stopped() {
		return nil, l.diags
	}
	c := NewCluster(l.fsys, l.servers, l.networks, l.images, l.overlays, l.profileList(), l.nodes)
	c.SetAccounts(l.users, l.groups)
	c.filePrefix = l.opts.FilePrefix
	l.validate(c)
	if l.stopped() || l.diags.HasErrors() {
		return nil, l.diags
	}
	c.Hash = hashCluster(c)
	return c, l.diags
}

// decodeGlobals decodes every block but nodes (and variables and locals,
// evaluated before), gives a server without networks every network, and
// checks profiles for include cycles: what node blocks are decoded
// against.
func (l *loader) decodeGlobals(blocks []rawBlock) {
	for _, b := range blocks {
		switch b.typ {
		case "server":
			l.decodeServer(b)
		case "network":
			l.decodeNetwork(b)
		case "image":
			l.decodeImage(b)
		case "overlay":
			l.decodeOverlay(b)
		case "profile":
			l.decodeProfile(b)
		case "user":
			l.decodeUser(b)
		case "group":
			l.decodeGroup(b)
		}
	}
	for _, s := range l.servers {
		if !s.networksSet {
			for _, b := range blocks {
				if b.typ == "network" {
					s.Networks = append(s.Networks, b.name)
				}
			}
			sort.Strings(s.Networks)
		}
	}
	// Nodes are merged with their profiles as they are decoded: profiles
	// first, checked for cycles.
	l.checkProfileCycles()
}

// parseFiles parses each *.hcl file at the root of the FS.
func (l *loader) parseFiles() []rawBlock {
	names := l.fileNames()
	if names == nil {
		return nil
	}
	var blocks []rawBlock
	for _, name := range names {
		if l.stopped() {
			return nil
		}
		display := path.Join(l.opts.FilePrefix, name)
		src, err := readLimited(l.fsys, name, MaxFileSize)
		if err != nil {
			l.errorf(&hcl.Range{Filename: display}, "Cannot read file", "%s", err)
			continue
		}
		d, boundaries := scanStructure(src, display)
		if d != nil {
			l.diags = append(l.diags, d)
			continue
		}
		bodies := parseChunked(src, display, boundaries)
		if bodies != nil {
			// Keep the whole file for diagnostics' source snippets.
			l.parser.Files()[display] = &hcl.File{Bytes: src, Body: bodies[0]}
		} else {
			f, diags := l.parser.ParseHCL(src, display)
			l.diags = append(l.diags, diags...)
			if diags.HasErrors() || f == nil {
				continue
			}
			bodies = []hcl.Body{f.Body}
		}
		for _, body := range bodies {
			content, diags := body.Content(topSchema)
			l.diags = append(l.diags, diags...)
			for _, b := range content.Blocks {
				rb := rawBlock{typ: b.Type, block: b}
				if len(b.Labels) > 0 {
					rb.name = b.Labels[0]
				}
				blocks = append(blocks, rb)
			}
		}
	}
	return blocks
}

// fileNames lists the *.hcl files at the root of the FS, sorted; nil
// (reported) when there are none or the FS cannot be read.
func (l *loader) fileNames() []string {
	entries, err := fs.ReadDir(l.fsys, ".")
	if err != nil {
		l.errorf(nil, "Cannot read the repository", "%s", err)
		return nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		l.errorf(nil, "No configuration files", "The directory %s holds no *.hcl files.", displayDir(l.opts.FilePrefix))
		return nil
	}
	return names
}

func displayDir(prefix string) string {
	if prefix == "" {
		return "."
	}
	return prefix
}

func readLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if st, err := f.Stat(); err == nil {
		if st.Size() > limit {
			return nil, fmt.Errorf("%s is %d bytes; the limit is %d", name, st.Size(), limit)
		}
		// Sized up front: growing by doubling copies a file of 10,000
		// node blocks several times over fresh pages.
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes", name, limit)
	}
	return buf.Bytes(), nil
}

// scanStructure scans src outside quoted strings and comments. It reports
// bracket nesting deeper than MaxNesting (the parser recurses per level, so
// a hostile file could exhaust the stack) and returns the offsets just after
// each line that ends a top-level block ("}" closing to depth 0), where the
// file may be split for parallel parsing.
func scanStructure(src []byte, filename string) (*hcl.Diagnostic, []int) {
	depth, line, col := 0, 1, 1
	inStr, inLineComment, inBlockComment, closed := false, false, false, false
	var boundaries []int
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\n' {
			if closed && !inStr && !inBlockComment {
				boundaries = append(boundaries, i+1)
			}
			line, col = line+1, 1
			inLineComment, closed = false, false
			inStr = false // strings cannot span lines outside heredocs
			continue
		}
		col++
		switch {
		case inLineComment:
			continue
		case inBlockComment:
			if c == '*' && i+1 < len(src) && src[i+1] == '/' {
				inBlockComment = false
				i++
			}
			continue
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		if c != ' ' && c != '\t' && c != '\r' {
			closed = false
		}
		switch c {
		case '"':
			inStr = true
		case '#':
			inLineComment = true
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				inLineComment = true
			} else if i+1 < len(src) && src[i+1] == '*' {
				inBlockComment = true
			}
		case '(', '[', '{':
			depth++
			if depth > MaxNesting {
				pos := hcl.Pos{Line: line, Column: col - 1, Byte: i}
				return &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Nesting too deep",
					Detail:   fmt.Sprintf("Brackets are nested more than %d levels deep here; gitboot refuses such input.", MaxNesting),
					Subject:  &hcl.Range{Filename: filename, Start: pos, End: hcl.Pos{Line: line, Column: col, Byte: i + 1}},
				}, nil
			}
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
			closed = c == '}' && depth == 0
		}
	}
	return nil, boundaries
}
