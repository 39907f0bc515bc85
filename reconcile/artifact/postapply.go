package artifact

import (
	"encoding/json"
	"fmt"
	"slices"
)

// PostApplyFile is the file of a runtime overlay artifact that tells the
// node agent each overlay's post_apply command and the paths it installs.
// It is written only when at least one of the node's runtime overlays has
// a post_apply command.
const PostApplyFile = "var/lib/gitboot-agent/overlays.json"

// PostApplyEntry is one runtime overlay in PostApplyFile, in overlay order.
type PostApplyEntry struct {
	Overlay   string `json:"overlay"`
	PostApply string `json:"post_apply,omitempty"`
	// Files are the regular files and symlinks the overlay installs
	// (a path written by several overlays belongs to the last), sorted.
	Files []string `json:"files"`
}

func hasPostApply(ovs []*overlay) bool {
	for _, ov := range ovs {
		if ov.postApply != "" {
			return true
		}
	}
	return false
}

// addPostApply adds PostApplyFile to t, already holding ovs. Its paths are
// those of the archive: with the layout of the node's image (lay, nil:
// none), written through the image's links as placeTree writes them.
func addPostApply(t *tree, ovs []*overlay, lay *Layout) error {
	owner := map[string]int{}
	for i, ov := range ovs {
		for _, f := range ov.files {
			if f.mode&typeMask != typeDir {
				owner[f.name] = i
			}
		}
	}
	delete(owner, PostApplyFile)
	out := make([]PostApplyEntry, len(ovs))
	for i, ov := range ovs {
		out[i] = PostApplyEntry{Overlay: ov.name, PostApply: ov.postApply, Files: []string{}}
		for _, f := range ov.files {
			if j, ok := owner[f.name]; ok && j == i {
				// A later overlay's directory may have replaced the file.
				if n, ok := t.lookup(f.name); ok && n.ino.mode&typeMask != typeDir {
					p := f.name
					if lay != nil {
						if rp, err := lay.place(p, false); err == nil {
							p = rp // else placeTree reports it
						}
					}
					out[i].Files = append(out[i].Files, p)
				}
				delete(owner, f.name) // listed once
			}
		}
		slices.Sort(out[i].Files)
	}
	data, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	ino := &inode{mode: typeReg | 0o644, data: bytesContent(data), size: int64(len(data))}
	if err := t.put(PostApplyFile, ino); err != nil {
		return fmt.Errorf("adding %s: %w", PostApplyFile, err)
	}
	return nil
}
