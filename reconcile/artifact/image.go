package artifact

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/klauspost/pgzip"
)

// imageRecord is what one image build produced; kept in the manifest and
// reused while the image's input key stays the same.
type imageRecord struct {
	Input         string `json:"input"`  // hash of the source's identity and build settings
	Digest        string `json:"digest"` // content digest (see Result.Images)
	Kind          string `json:"kind"`   // dir, tar, oci
	Image         ref    `json:"image"`
	Kernel        ref    `json:"kernel"`
	KernelName    string `json:"kernel_name"`
	KernelVersion string `json:"kernel_version,omitempty"`
	Modules       bool   `json:"modules"` // lib/modules/<version> is in the image
	// Layout is the image's Layout (links, directories, users), which
	// overlays are placed on; recorded with the image so a build that
	// reuses the image has it. Images built before it was recorded have
	// none and are built again.
	Layout ref `json:"layout"`
	// TreeSize is the bytes of the image's regular files (what two_stage_above
	// compares); Stage1 its stage-one initramfs when nodes boot it in two
	// stages (nil: one stage), built for Stage1Input (see stageOne).
	TreeSize    int64  `json:"tree_size,omitempty"`
	Stage1      *ref   `json:"stage1,omitempty"`
	Stage1Input string `json:"stage1_input,omitempty"`
}

// imageSource is an image source examined (not yet read).
type imageSource struct {
	kind  string // "dir", "tar", "oci"
	input string // input key
	tree  *tree  // dir sources: already scanned
	oci   string // oci: manifest digest
}

// examineImage identifies the source and computes its input key cheaply:
// a metadata scan for a directory, the file's identity for an archive, the
// manifest digest for an OCI layout.
func examineImage(img *hclspec.Image) (*imageSource, error) {
	st, err := os.Stat(img.Source)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "image-input/1\x00%s\x00%s\x00%s\x00", filepath.Clean(img.Source), img.Kernel, img.Digest)
	if img.Boot != "" || img.TwoStageAbove != 0 || img.StageOneModules != nil {
		// How nodes boot it is part of the desired state (only when set,
		// so images that never set it keep their input keys).
		fmt.Fprintf(h, "boot\x00%s\x00%d\x00%q\x00", img.Boot, img.TwoStageAbove, img.StageOneModules)
	}
	src := &imageSource{}
	switch {
	case st.IsDir() && isOCILayout(img.Source):
		src.kind = "oci"
		d, _, err := ociResolve(img.Source)
		if err != nil {
			return nil, fmt.Errorf("OCI layout %s: %w", img.Source, err)
		}
		src.oci = d.Digest
		fmt.Fprintf(h, "oci\x00%s", d.Digest)
	case st.IsDir():
		src.kind = "dir"
		t, key, err := scanDir(img.Source)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", img.Source, err)
		}
		src.tree = t
		fmt.Fprintf(h, "dir\x00%s", key)
	case st.Mode().IsRegular():
		src.kind = "tar"
		sys, _ := st.Sys().(*syscall.Stat_t)
		var b [8 * 6]byte
		if sys != nil {
			for i, v := range []uint64{sys.Dev, sys.Ino, uint64(sys.Size), uint64(sys.Mtim.Nano()), uint64(sys.Ctim.Nano()), uint64(sys.Mode)} {
				binary.LittleEndian.PutUint64(b[i*8:], v)
			}
		}
		h.Write([]byte("tar\x00"))
		h.Write(b[:])
	default:
		return nil, fmt.Errorf("source %s is neither a directory nor an archive", img.Source)
	}
	src.input = hex.EncodeToString(h.Sum(nil))
	return src, nil
}

// buildImage reads the image source into a tree, picks the kernel, and
// stores the kernel and the image artifact. Nothing is stored when the
// digest pin does not match.
func (b *Builder) buildImage(ctx context.Context, img *hclspec.Image, src *imageSource) (imageRecord, error) {
	rec := imageRecord{Input: src.input, Kind: src.kind}
	t := src.tree
	var contentDigest string
	if src.kind != "dir" {
		sp, err := os.CreateTemp(b.store.objs, tmpPrefix+"spool-*")
		if err != nil {
			return rec, fmt.Errorf("creating spool: %w", err)
		}
		defer func() { sp.Close(); os.Remove(sp.Name()) }()
		s := &spool{f: sp}
		switch src.kind {
		case "oci":
			if img.Digest != "" && img.Digest != src.oci {
				return rec, fmt.Errorf("digest mismatch: pinned %s, the OCI layout has %s", img.Digest, src.oci)
			}
			pr := newProgress(b.cfg.Progress, "image "+img.Name+": reading layers", ociLayerBytes(img.Source))
			t, contentDigest, err = readOCI(img.Source, s, pr.add)
			if err != nil {
				return rec, fmt.Errorf("OCI layout %s: %w", img.Source, err)
			}
			pr.finish()
		case "tar":
			t, contentDigest, err = b.readTarFile(img, s)
			if err != nil {
				return rec, err
			}
			if img.Digest != "" && img.Digest != contentDigest {
				return rec, fmt.Errorf("digest mismatch: pinned %s, %s has %s", img.Digest, img.Source, contentDigest)
			}
		}
	}
	k, err := findKernel(t, img.Kernel)
	if err != nil {
		return rec, err
	}
	rec.KernelName, rec.KernelVersion = k.name, k.version
	rec.Modules = hasModules(t, k.version)
	lay, err := layoutOf(t)
	if err != nil {
		return rec, fmt.Errorf("reading the image's layout: %w", err)
	}
	if rec.Layout, err = b.storeLayout(lay); err != nil {
		return rec, err
	}
	if !rec.Modules {
		b.cfg.Logger.Warn("image has no modules for its kernel", "image", img.Name, "kernel", k.path, "version", k.version)
	}

	// The image artifact.
	var total int64
	_ = t.walk(func(_ string, ino *inode) error {
		if ino.mode&typeMask == typeReg {
			total += ino.size
		}
		return nil
	})
	tmp, err := b.store.create()
	if err != nil {
		return rec, err
	}
	pr := newProgress(b.cfg.Progress, "image "+img.Name, total)
	cpioHash := sha256.New()
	if err := writeImage(ctx, tmp, cpioHash, t, pr.add); err != nil {
		tmp.abort()
		return rec, err
	}
	pr.finish()
	rec.TreeSize = total
	if src.kind == "dir" {
		contentDigest = "sha256:" + hex.EncodeToString(cpioHash.Sum(nil))
		if img.Digest != "" && img.Digest != contentDigest {
			tmp.abort()
			return rec, fmt.Errorf("digest mismatch: pinned %s, %s has %s", img.Digest, img.Source, contentDigest)
		}
	}
	rec.Digest = contentDigest
	if rec.Image, err = b.store.commit(tmp, extImage); err != nil {
		return rec, err
	}

	// The kernel, as it is in the image.
	ktmp, err := b.store.create()
	if err != nil {
		return rec, err
	}
	if err := copyContent(ktmp, k.path, k.ino, make([]byte, 256<<10), nil); err != nil {
		ktmp.abort()
		return rec, fmt.Errorf("kernel: %w", err)
	}
	if rec.Kernel, err = b.store.commit(ktmp, extKernel); err != nil {
		return rec, err
	}
	return rec, nil
}

// writeImage writes t as cpio + parallel gzip to w; sum also sees the
// uncompressed cpio stream.
func writeImage(ctx context.Context, w io.Writer, sum io.Writer, t *tree, progress func(int64)) error {
	bw := bufio.NewWriterSize(&ctxWriter{ctx: ctx, w: w}, 1<<20)
	zw, err := pgzip.NewWriterLevel(bw, pgzip.DefaultCompression)
	if err != nil {
		return err
	}
	if err := zw.SetConcurrency(1<<20, 2*maxProcs()); err != nil {
		return err
	}
	cw := bufio.NewWriterSize(io.MultiWriter(zw, sum), 256<<10)
	if err := writeCPIO(cw, t, progress); err != nil {
		zw.Close()
		return err
	}
	if err := cw.Flush(); err != nil {
		zw.Close()
		return fmt.Errorf("writing image: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	return nil
}

// readTarFile reads a .tar or .tar.gz source, hashing the file as it goes.
func (b *Builder) readTarFile(img *hclspec.Image, sp *spool) (*tree, string, error) {
	f, err := os.Open(img.Source)
	if err != nil {
		return nil, "", fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("source: %w", err)
	}
	pr := newProgress(b.cfg.Progress, "image "+img.Name+": reading "+filepath.Base(img.Source), st.Size())
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(f, h), progress: pr.add}
	entries, err := readTar(cr, sp)
	if err != nil {
		return nil, "", fmt.Errorf("archive %s: %w", img.Source, err)
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, "", fmt.Errorf("archive %s: %w", img.Source, err)
	}
	pr.finish()
	t := newTree()
	if err := applyEntries(t, entries); err != nil {
		return nil, "", fmt.Errorf("archive %s: %w", img.Source, err)
	}
	return t, "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// ociLayerBytes sums the layer sizes for progress; 0 when unknown.
func ociLayerBytes(dir string) int64 {
	_, m, err := ociResolve(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// ctxWriter fails writes once ctx is done, so a cancelled build stops.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
