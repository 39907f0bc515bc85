package status

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/statefile"
)

// StateFile is the name of the status file inside the state directory.
const StateFile = "status.json"

const stateVersion = 1

// stateDoc is the on-disk form of a Store.
type stateDoc struct {
	Version int          `json:"version"`
	Saved   time.Time    `json:"saved"`
	Nodes   []diskRecord `json:"nodes"`
	Unknown []Unknown    `json:"unknown"` // least recently seen first
	Errors  []Failure    `json:"errors"`  // oldest first
}

// diskRecord is a NodeRecord on disk. A file written before booted and
// booted_digests existed loads with both empty (never booted, as far as
// this server knows). NeedsReboot is per report, never stored: the outer
// field shadows it and stays false.
type diskRecord struct {
	NodeRecord
	NeedsReboot bool `json:"needs_reboot,omitempty"`
}

// load reads the state file, if any, into the empty store. A damaged file
// is a *statefile.CorruptError.
func (s *Store) load() error {
	name := filepath.Join(s.cfg.Dir, StateFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return statefile.Corrupt(name, err)
	}
	if doc.Version != stateVersion {
		return statefile.Corrupt(name, fmt.Errorf("unsupported version %d", doc.Version))
	}
	s.lock()
	defer s.unlock()
	for i := range doc.Nodes {
		r := doc.Nodes[i].NodeRecord
		if r.Name == "" {
			continue
		}
		s.nodes[r.Name] = &r
		s.counts[r.shown()]++
	}
	for _, u := range doc.Unknown {
		if u.MAC == "" {
			continue
		}
		if old, ok := s.unknown[u.MAC]; ok {
			s.unlink(old)
		} else if len(s.unknown) >= s.cfg.MaxUnknown {
			old := s.tail
			s.unlink(old)
			delete(s.unknown, old.MAC)
		}
		e := &unknownEntry{Unknown: u}
		s.unknown[u.MAC] = e
		s.pushFront(e)
	}
	for _, f := range doc.Errors {
		s.recordError(Event{Stage: f.Stage, Sent: f.Sent, MAC: f.MAC, Addr: f.Addr, Time: f.Time})
	}
	return nil
}

// Flush writes the state file now if anything changed since the last write.
// The write is atomic: a temporary file in the same directory, fsync,
// rename, fsync of the directory.
func (s *Store) Flush() error {
	if s.cfg.Dir == "" {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.lock()
	gen := s.gen
	if gen == s.saved {
		s.unlock()
		return nil
	}
	doc := stateDoc{Version: stateVersion, Saved: s.cfg.Now()}
	names := make([]string, 0, len(s.nodes))
	for name := range s.nodes {
		names = append(names, name)
	}
	for e := s.tail; e != nil; e = e.prev {
		doc.Unknown = append(doc.Unknown, e.Unknown)
	}
	doc.Errors = append(doc.Errors, s.errs[s.errNext:]...)
	doc.Errors = append(doc.Errors, s.errs[:s.errNext]...)
	s.unlock()

	slices.Sort(names)
	w := stateWriter{doc: &doc, names: names, nodes: s.copyNodes}
	if err := atomicfile.Write(filepath.Join(s.cfg.Dir, StateFile), 0o600, w.write); err != nil {
		return err
	}
	s.lock()
	if gen > s.saved {
		s.saved = gen
	}
	s.unlock()
	return nil
}

// flushLoop writes the state file at most every FlushInterval until Close.
func (s *Store) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Flush(); err != nil {
				s.cfg.Logger.Warn("status: persisting", "err", err)
			}
		}
	}
}

// flushBatch is how many node records Flush copies from the store at a
// time: copying all of them at once held a second copy of the store (6 MB
// at 10,000 nodes) for as long as the file took to write.
const flushBatch = 256

// copyNodes appends the records of names to dst (skipping a node
// forgotten since the names were taken).
func (s *Store) copyNodes(dst []diskRecord, names []string) []diskRecord {
	s.lock()
	defer s.unlock()
	for _, n := range names {
		if r, ok := s.nodes[n]; ok {
			dst = append(dst, diskRecord{NodeRecord: r.clone()})
		}
	}
	return dst
}

// stateWriter writes a state file: doc's fields but its nodes, which are
// the records of names (sorted), copied flushBatch at a time by nodes.
type stateWriter struct {
	doc   *stateDoc
	names []string
	nodes func(dst []diskRecord, names []string) []diskRecord
}

// write encodes the state as JSON, one node, unknown MAC or error a line,
// streamed through a small buffer: the file of a 10,000-node cluster is
// never whole in memory (json.MarshalIndent built it twice, compact and
// indented, at every flush: ~70 MB of garbage and a second of CPU for
// 10,000 nodes; BenchmarkFlush).
func (w *stateWriter) write(out io.Writer) error {
	d := w.doc
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	fmt.Fprintf(bw, "{\"version\":%d,\"saved\":", d.Version)
	if err := enc.Encode(d.Saved); err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	bw.WriteString(",\"nodes\":[\n")
	batch := make([]diskRecord, 0, flushBatch)
	first := true
	for i := 0; i < len(w.names); i += flushBatch {
		batch = w.nodes(batch[:0], w.names[i:min(i+flushBatch, len(w.names))])
		for j := range batch {
			if !first {
				bw.WriteByte(',')
			}
			first = false
			if err := enc.Encode(&batch[j]); err != nil {
				return fmt.Errorf("encoding status (nodes): %w", err)
			}
		}
	}
	bw.WriteByte(']')
	if err := writeList(bw, enc, "unknown", d.Unknown); err != nil {
		return err
	}
	if err := writeList(bw, enc, "errors", d.Errors); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// writeList writes ,"name":[ then items, one a line, then ].
func writeList[T any](bw *bufio.Writer, enc *json.Encoder, name string, items []T) error {
	fmt.Fprintf(bw, ",%q:[\n", name)
	for i := range items {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(&items[i]); err != nil {
			return fmt.Errorf("encoding status (%s): %w", name, err)
		}
	}
	bw.WriteByte(']')
	return nil
}
