package reconcile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
)

// publish makes data, the running inventory's encoding, what GET
// /inventory serves and what plans are bound to (runningHash). When
// onDisk, the state directory's inventory file holds exactly data (it was
// just written, or read): it is served from that file, through a
// descriptor opened now, so that serve does not keep the encoding in its
// heap (8 MB at 10,000 nodes). A later apply replaces the file by a rename:
// the descriptor keeps reading the bytes it was opened on, which requests
// in flight finish with; it is closed once no request holds it (the
// runtime's cleanup of an unreachable *os.File). Otherwise, or when the
// file cannot be opened, the bytes are kept in memory. Called with r.mu
// held.
func (r *Reconciler) publish(data []byte, onDisk bool) {
	r.runningHash = digestOf(data)
	if len(data) == 0 {
		r.served.Store(nil)
		return
	}
	enc := &httpboot.EncodedInventory{Digest: r.runningHash, Size: int64(len(data))}
	if onDisk && r.cfg.StateDir != "" {
		f, err := openServed(filepath.Join(r.cfg.StateDir, InventoryFile), enc.Size)
		if err != nil {
			r.cfg.Logger.Warn("serving the inventory from memory", "err", err)
		} else {
			enc.Content = f
		}
	}
	if enc.Content == nil {
		enc.Content = bytes.NewReader(data)
	}
	r.served.Store(enc)
}

// openServed opens the inventory file at p, which must be size bytes long.
func openServed(p string, size int64) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != size {
		err = fmt.Errorf("%s: %d bytes, the inventory just written %d", p, fi.Size(), size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readServed returns the bytes of enc (nil for none or when they cannot
// be read).
func readServed(enc *httpboot.EncodedInventory) []byte {
	if enc == nil {
		return nil
	}
	data := make([]byte, enc.Size)
	if _, err := io.ReadFull(io.NewSectionReader(enc.Content, 0, enc.Size), data); err != nil {
		return nil
	}
	return data
}
