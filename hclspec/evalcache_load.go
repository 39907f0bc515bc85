package hclspec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// chunk is a piece of a file between top-level block boundaries
// (scanStructure): comments and blank lines, then usually one block.
type chunk struct {
	file  string // display name
	src   []byte // a slice of the file
	start hcl.Pos
	node  bool       // starts with a node block: parsed only when not cached
	empty bool       // parsed and holds nothing (comments, blank lines)
	other []rawBlock // the parsed blocks of a chunk that is not a node chunk
}

// loadCached is load with Options.Cache (see EvalCache). ok is false when
// the load must be done again without the cache: anything it cannot split
// or parse chunk by chunk, and any diagnostic at all (the whole load then
// reports it). A load stopped by its context returns ok.
func (l *loader) loadCached() (c *Cluster, diags hcl.Diagnostics, ok bool) {
	sess := l.opts.Cache.begin()
	defer func() { sess.end(ok && c != nil) }()
	rec := &recordFS{FS: l.fsys}
	l.fsys = rec
	defer func() { l.fsys = rec.FS }()
	chunks, good := l.splitChunks()
	if !good {
		return nil, nil, false
	}
	var blocks []rawBlock
	for _, ch := range chunks {
		blocks = append(blocks, ch.other...)
	}
	rec.start()
	l.declare(blocks)
	l.evalVariables(blocks)
	l.evalLocals(blocks)
	if l.stop {
		return nil, l.diags, true
	}
	if len(l.diags) > 0 {
		return nil, nil, false
	}
	l.decodeGlobals(blocks)
	reads := rec.stop()
	if len(l.diags) > 0 {
		return nil, nil, false
	}
	global := l.globalKey(chunks, reads)
	for i, ch := range chunks {
		if i%cancelCheckEvery == 0 && l.stopped() {
			return nil, l.diags, true
		}
		if !ch.node {
			continue
		}
		if !l.nodeChunk(sess, rec, global, ch) || len(l.nodes) > MaxNodes {
			return nil, nil, false
		}
		if l.stop {
			return nil, l.diags, true
		}
	}
	l.fsys = rec.FS
	c = NewCluster(l.fsys, l.servers, l.networks, l.images, l.overlays, l.profileList(), l.nodes)
	c.SetAccounts(l.users, l.groups)
	c.filePrefix = l.opts.FilePrefix
	l.validate(c)
	if l.stop {
		return nil, l.diags, true
	}
	if len(l.diags) > 0 {
		return nil, nil, false
	}
	c.Hash = hashCluster(c)
	return c, nil, true
}

// reset makes l a fresh loader for a load without the cache, forgetting
// the files loadCached gave the parser.
func (l *loader) reset() {
	for _, name := range l.cachedFiles {
		delete(l.parser.Files(), name)
	}
	*l = loader{fsys: l.fsys, opts: l.opts, parser: l.parser, context: l.context}
}

// splitChunks reads every file and splits it into chunks, parsing every
// chunk but node chunks; false when a file cannot be read, is nested too
// deeply, or a chunk does not parse on its own.
func (l *loader) splitChunks() ([]chunk, bool) {
	names := l.fileNames()
	if names == nil {
		return nil, false
	}
	var out []chunk
	for _, name := range names {
		display := path.Join(l.opts.FilePrefix, name)
		src, err := readLimited(l.fsys, name, MaxFileSize)
		if err != nil {
			return nil, false
		}
		d, boundaries := scanStructure(src, display)
		if d != nil {
			return nil, false
		}
		var body hcl.Body = &hclsyntax.Body{}
		line, next, from := 1, 0, 0
		for _, end := range append(boundaries[:len(boundaries):len(boundaries)], len(src)) {
			if end <= from {
				continue
			}
			for ; next < from; next++ {
				if src[next] == '\n' {
					line++
				}
			}
			ch := chunk{file: display, src: src[from:end], start: hcl.Pos{Line: line, Column: 1, Byte: from}}
			from = end
			if startsWithNode(ch.src) {
				ch.node = true
				out = append(out, ch)
				continue
			}
			f, diags := hclsyntax.ParseConfig(ch.src, display, ch.start)
			if diags.HasErrors() || f == nil {
				return nil, false
			}
			content, diags := f.Body.Content(topSchema)
			if len(diags) > 0 {
				return nil, false
			}
			if sb, ok := f.Body.(*hclsyntax.Body); ok {
				ch.empty = len(sb.Attributes) == 0 && len(sb.Blocks) == 0
			}
			for _, b := range content.Blocks {
				if b.Type == "node" {
					return nil, false // a node block after another block on one line
				}
				rb := rawBlock{typ: b.Type, block: b}
				if len(b.Labels) > 0 {
					rb.name = b.Labels[0]
				}
				ch.other = append(ch.other, rb)
			}
			if !ch.empty {
				body = f.Body
			}
			out = append(out, ch)
		}
		// The whole file, for diagnostics' source snippets.
		l.parser.Files()[display] = &hcl.File{Bytes: src, Body: body}
		l.cachedFiles = append(l.cachedFiles, display)
	}
	return out, true
}

// startsWithNode reports whether src, after blank space and comments,
// starts with a node block's keyword.
func startsWithNode(src []byte) bool {
	for i := 0; i < len(src); {
		switch c := src[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '#' || c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := -1
			for j := i + 2; j+1 < len(src); j++ {
				if src[j] == '*' && src[j+1] == '/' {
					end = j + 2
					break
				}
			}
			if end < 0 {
				return false
			}
			i = end
		default:
			rest := src[i:]
			return len(rest) > 4 && string(rest[:4]) == "node" && (rest[4] == ' ' || rest[4] == '\t' || rest[4] == '"')
		}
	}
	return false
}

// globalKey hashes what every node block is evaluated against: this
// executable, the file prefix, the --var values, the files global blocks
// read (reads), and the text and place of every chunk that is not a node
// chunk and not empty.
func (l *loader) globalKey(chunks []chunk, reads map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", identity(), l.opts.FilePrefix)
	for _, k := range sortedKeysOf(l.opts.Vars) {
		fmt.Fprintf(h, "var %q=%q\x00", k, l.opts.Vars[k])
	}
	for _, k := range sortedKeysOf(reads) {
		fmt.Fprintf(h, "read %q=%s\x00", k, reads[k])
	}
	for _, ch := range chunks {
		if ch.node || ch.empty {
			continue
		}
		fmt.Fprintf(h, "chunk %q %d %d %d\x00", ch.file, ch.start.Line, ch.start.Byte, len(ch.src))
		h.Write(ch.src)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeysOf(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nodeChunk adds the nodes of a node chunk: from the cache when its key
// and the files it read are the same, else parsed and decoded (and
// cached when it can be). false: the load must be done without the cache.
func (l *loader) nodeChunk(s *cacheSession, rec *recordFS, global string, ch chunk) bool {
	// sha256 of global, NUL, the quoted file name, NUL and the text.
	buf := append(l.keyBuf[:0], global...)
	buf = append(buf, 0)
	buf = strconv.AppendQuote(buf, ch.file)
	buf = append(buf, 0)
	buf = append(buf, ch.src...)
	l.keyBuf = buf
	sum := sha256.Sum256(buf)
	key := hex.EncodeToString(sum[:])
	if e, ok := s.c.entries[key]; ok && depsHold(rec, e.Deps) {
		// An entry that does not decode (a damaged file whose checksum
		// still matched) is a miss: the block is evaluated again.
		if nodes, err := entryNodes(e, s.c.intern, ch.start.Line, ch.start.Byte); err == nil {
			for _, n := range nodes {
				l.nodes = append(l.nodes, n)
				l.nodeDefs = append(l.nodeDefs, nodeDef{node: n})
			}
			s.live[key] = e
			s.stats.Hits++
			return true
		}
	}
	s.stats.Misses++
	f, diags := hclsyntax.ParseConfig(ch.src, ch.file, ch.start)
	if diags.HasErrors() || f == nil {
		return false
	}
	content, diags := f.Body.Content(topSchema)
	if len(diags) > 0 {
		return false
	}
	firstNode, firstDef := len(l.nodes), len(l.nodeDefs)
	rec.start()
	for _, b := range content.Blocks {
		if b.Type != "node" || len(b.Labels) == 0 {
			rec.stop()
			return false
		}
		l.decodeNode(rawBlock{typ: b.Type, name: b.Labels[0], block: b})
	}
	deps := rec.stop()
	if l.stop {
		return true // the caller returns the stop
	}
	if len(l.diags) > 0 {
		return false
	}
	if len(content.Blocks) != 1 {
		return true // decoded, not cached
	}
	for _, d := range l.nodeDefs[firstDef:] {
		if d.ifaces != nil || d.broken != (brokenAttrs{}) {
			return true
		}
	}
	s.live[key] = &cacheEntry{File: ch.file, Line: ch.start.Line, Byte: ch.start.Byte, End: ch.start.Byte + len(ch.src),
		Nodes: slices.Clone(l.nodes[firstNode:]), Deps: deps}
	return true
}

// depsHold reports whether every file a cached block read reads the same
// now.
func depsHold(rec *recordFS, deps map[string]string) bool {
	for p, d := range deps {
		if fileDigest(rec.FS, p) != d {
			return false
		}
	}
	return true
}
