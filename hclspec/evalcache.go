package hclspec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"sync"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/hashicorp/hcl/v2"
)

// EvalCache keeps the resolved nodes of node blocks between loads, so a
// commit that changes one node block costs one node block: Load with
// Options.Cache splits each file at its top-level blocks, parses and
// evaluates everything but node blocks as always, and takes a node block
// from the cache when all of these are the same as when it was cached:
//
//   - its text, byte for byte (comments in and just above it included),
//     and the name of its file;
//   - everything global: the text and place of every other block (servers,
//     networks, images, overlays, profiles, variables, locals), the --var
//     values, the files those blocks read with file() or fileexists(), and
//     this gitboot executable;
//   - the content of every file its own expressions read (file()).
//
// Its line and byte offsets may differ (a block above it grew): the cached
// ranges are moved by the difference. Blocks with interface blocks, or
// whose evaluation reported anything, are never cached; a load that
// reports any diagnostic is done again without the cache, so diagnostics
// are always a whole evaluation's. An EvalCache is safe for concurrent
// use; one load at a time uses it.
type EvalCache struct {
	path string // the file it is kept in; "" in memory only

	mu      sync.Mutex
	entries map[string]*cacheEntry
	intern  map[string]string // strings the entries' nodes repeat, decoded once
	unsaved int               // node blocks evaluated since the file was read or written
	read    bool              // the file holds a cache (read or written)
	last    CacheStats
}

// CacheStats count the node blocks of the last load that used the cache.
type CacheStats struct {
	Hits, Misses int
}

// cacheEntry is one node block's resolved nodes, at the place its chunk
// had when they were evaluated (entryNodes moves them to where it is now).
type cacheEntry struct {
	File            string // the file's display name
	Line, Byte, End int    // where the block's chunk started (line, byte) and ended (byte)
	// Nodes are the nodes, decoded; nil until first used in place when
	// the entry was read from the file (raw).
	Nodes []*Node
	Deps  map[string]string // repository path -> fileDigest, read by the block's expressions
	// raw is the nodes' encoding as the file holds it (encodeNodes), nil
	// for an entry evaluated by this process.
	raw []byte
}

// saveAfter is how many node blocks evaluated since the cache file was
// written make Save write it again.
const saveAfter = 64

// cacheFormat names the encoding and the key scheme; a change of either
// must change it.
const cacheFormat = "gitboot-evalcache/5" // 3: Node.Users; 4: Node.Resources; 5: nodes length-prefixed, checksum

// NewEvalCache returns an empty cache kept in memory only.
func NewEvalCache() *EvalCache {
	return &EvalCache{entries: map[string]*cacheEntry{}, intern: map[string]string{}}
}

// OpenEvalCache returns the cache kept in the file path: empty when the
// file is missing or unreadable (a cache is never a reason to fail). Save
// writes it back.
func OpenEvalCache(path string) *EvalCache {
	c := NewEvalCache()
	c.path = path
	data, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	if entries, err := decodeEntries(data, c.intern); err == nil {
		c.entries, c.read = entries, true
	}
	return c
}

// Save writes the cache to its file (atomically) when the file holds none
// or once the loads since it was read or last saved evaluated at least
// saveAfter node blocks (fewer cost less to do again than to write the
// file); a cache in memory only is not written. Blocks that only moved
// need no write: an entry is moved to where its block is when it is used.
func (c *EvalCache) Save() error { return c.save(false) }

// save is Save; force writes the file whatever the loads evaluated.
func (c *EvalCache) save(force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.path == "" || (!force && c.read && c.unsaved < saveAfter) {
		return nil
	}
	if err := atomicfile.WriteFile(c.path, encodeEntries(c.entries), 0o600); err != nil {
		return fmt.Errorf("writing the evaluation cache: %w", err)
	}
	c.unsaved, c.read = 0, true
	return nil
}

// InFile reports whether the cache's file holds all the cache holds:
// it was read or written since the last load that evaluated a node
// block. Such a cache can be dropped from memory and opened again from
// its file at no loss (serve does, between commits).
func (c *EvalCache) InFile() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.path != "" && c.read && c.unsaved == 0
}

// Path returns the file the cache is kept in ("": memory only).
func (c *EvalCache) Path() string { return c.path }

// Stats returns the counts of the last load that used the cache.
func (c *EvalCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// cacheSession is one load's use of a cache: the entries it used or added
// replace the cache's when the load succeeds (so the cache holds one
// repository's blocks, not every version's).
type cacheSession struct {
	c     *EvalCache
	live  map[string]*cacheEntry
	stats CacheStats
}

func (c *EvalCache) begin() *cacheSession {
	c.mu.Lock()
	return &cacheSession{c: c, live: make(map[string]*cacheEntry, len(c.entries))}
}

// end releases the cache; keep replaces its entries by the session's.
func (s *cacheSession) end(keep bool) {
	defer s.c.mu.Unlock()
	if !keep {
		return
	}
	s.c.unsaved += s.stats.Misses
	s.c.entries = s.live
	s.c.last = s.stats
}

// identity identifies this executable for cache keys: a rebuilt gitboot
// may evaluate differently, so it never uses another build's entries.
var identity = sync.OnceValue(func() string {
	h := sha256.New()
	h.Write([]byte(cacheFormat + "\x00"))
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00", exe, st.Size(), st.ModTime().UnixNano())
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(h, "%s\x00%s\x00", bi.GoVersion, bi.Main.Version)
		for _, s := range bi.Settings {
			fmt.Fprintf(h, "%s=%s\x00", s.Key, s.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
})

// fileDigest identifies what reading p from fsys gives now: its content's
// sha256, or that it is absent, or a directory.
func fileDigest(fsys fs.FS, p string) string {
	st, err := fs.Stat(fsys, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "absent"
	case err != nil:
		return "error"
	case st.IsDir():
		return "dir"
	}
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		return "error"
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// recordFS is the loader's FS while the cache is used: it records the
// paths opened (by file() and fileexists()) while recording is on.
type recordFS struct {
	fs.FS
	on    bool
	paths []string
}

func (r *recordFS) Open(name string) (fs.File, error) {
	if r.on {
		r.paths = append(r.paths, name)
	}
	return r.FS.Open(name)
}

func (r *recordFS) start() { r.on, r.paths = true, nil }

// stop ends recording and returns each path read with its digest now.
func (r *recordFS) stop() map[string]string {
	r.on = false
	if len(r.paths) == 0 {
		return nil
	}
	out := make(map[string]string, len(r.paths))
	for _, p := range r.paths {
		out[p] = fileDigest(r.FS, p)
	}
	r.paths = nil
	return out
}

// moved returns n with every range inside the chunk [from, end) of file
// moved by dLine lines and dByte bytes (a chunk starts at column 1, so
// columns stay); n itself when nothing moves. Ranges elsewhere (a
// profile's attribute) stay: the global key fixes their place.
func moved(n *Node, file string, from, end, dLine, dByte int) *Node {
	if dLine == 0 && dByte == 0 {
		return n
	}
	mv := func(r hcl.Range) hcl.Range {
		if r.Filename == file && r.Start.Byte >= from && r.Start.Byte < end {
			r.Start.Line += dLine
			r.Start.Byte += dByte
			r.End.Line += dLine
			r.End.Byte += dByte
		}
		return r
	}
	cp := *n
	cp.Range = mv(n.Range)
	origins := n.AllOrigins()
	cp.lazy = lazyOrigins{}
	cp.Origins = make(map[string]hcl.Range, len(origins))
	for k, r := range origins {
		cp.Origins[k] = mv(r)
	}
	return &cp
}
