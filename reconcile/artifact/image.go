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
)

// imageRecord is what one image build produced; kept in the manifest and
// reused while the image's input key stays the same.
type imageRecord struct {
	Input         string `json:"input"`  // hash of the source's identity and build settings
	Digest        string `json:"digest"` // content digest (see Result.Images)
	Kind          string `json:"kind"`   // dir, tar, oci, registry
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
	// Compression is the image artifact's, which its overlays follow:
	// zstd, gzip or none ("" in records made before: gzip).
	Compression string `json:"compression,omitempty"`
}

// imageSource is an image source examined (not yet read).
type imageSource struct {
	kind  string // "dir", "tar", "oci", "registry"
	input string // input key
	tree  *tree  // dir sources: already scanned
	oci   string // oci: manifest digest; registry: the digest the reference resolved to
}

// examineImage identifies the source and computes its input key cheaply:
// a metadata scan for a directory, the file's identity for an archive, the
// manifest digest for an OCI layout, the digest a registry resolves the
// reference to. A pinned digest an OCI layout or a registry does not
// have is a *RepoError.
func examineImage(img *hclspec.Image) (*imageSource, error) {
	h := sha256.New()
	src := &imageSource{}
	if hclspec.IsRegistrySource(img.Source) {
		fmt.Fprintf(h, "image-input/2\x00%s\x00", img.Source)
	} else {
		fmt.Fprintf(h, "image-input/2\x00%s\x00", filepath.Clean(img.Source))
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%q\x00", img.Kernel, img.Digest, img.Platform, img.Compression, img.ExcludeGlobs())
	if img.Boot != "" || img.TwoStageAbove != 0 || img.StageOneModules != nil {
		// How nodes boot it is part of the desired state (only when set,
		// so images that never set it keep their input keys).
		fmt.Fprintf(h, "boot\x00%s\x00%d\x00%q\x00", img.Boot, img.TwoStageAbove, img.StageOneModules)
	}
	if hclspec.IsRegistrySource(img.Source) {
		d, err := resolveRegistry(img)
		if err != nil {
			return nil, err
		}
		if err := checkPin(img, d, img.Source); err != nil {
			return nil, err
		}
		src.kind, src.oci = "registry", d
		fmt.Fprintf(h, "registry\x00%s", d)
		src.input = hex.EncodeToString(h.Sum(nil))
		return src, nil
	}
	st, err := os.Stat(img.Source)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	switch {
	case st.IsDir() && isOCILayout(img.Source):
		src.kind = "oci"
		plat, err := platformOf(img.Platform)
		if err != nil {
			return nil, &RepoError{err}
		}
		_, d, err := layoutImage(img.Source, plat)
		if err != nil {
			return nil, fmt.Errorf("OCI layout %s: %w", img.Source, err)
		}
		src.oci = d.String()
		if err := checkPin(img, src.oci, "the OCI layout"); err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "oci\x00%s", src.oci)
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
		var b [8 * 3]byte
		if sys != nil {
			// Not the device, inode number or ctime: a copy, a move of
			// the state or a remount keeps the archive's identity.
			for i, v := range []uint64{uint64(sys.Size), uint64(sys.Mtim.Nano()), uint64(sys.Mode)} {
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
		case "oci", "registry":
			if t, contentDigest, err = b.readOCIImage(ctx, img, src, s); err != nil {
				return rec, err
			}
		case "tar":
			t, contentDigest, err = b.readTarFile(img, s)
			if err != nil {
				return rec, err
			}
			if err := checkPin(img, contentDigest, img.Source); err != nil {
				return rec, err
			}
		}
	}
	k, err := findKernel(t, img.Kernel)
	if err != nil {
		return rec, err
	}
	rec.KernelName, rec.KernelVersion = k.name, k.version
	// The kernel's config is read before exclude drops /boot.
	rec.Compression = pickCompression(img, t, k.version)
	excludeGlobs(t, img.ExcludeGlobs())
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

	if err := b.storeImage(ctx, img, src.kind, t, contentDigest, &rec); err != nil {
		return rec, err
	}
	if rec.Kernel, err = b.storeKernel(k); err != nil {
		return rec, err
	}
	return rec, nil
}

// storeImage writes tree t as the image artifact (cpio, compressed with
// rec.Compression) and sets rec's TreeSize, Digest and Image. A directory
// source's digest is that of its cpio stream, checked against the pin
// here; other kinds come with contentDigest already checked.
func (b *Builder) storeImage(ctx context.Context, img *hclspec.Image, kind string, t *tree, contentDigest string, rec *imageRecord) error {
	var total int64
	_ = t.walk(func(_ string, ino *inode) error {
		if ino.mode&typeMask == typeReg {
			total += ino.size
		}
		return nil
	})
	tmp, err := b.store.create()
	if err != nil {
		return err
	}
	pr := newProgress(b.cfg.Progress, "image "+img.Name, total)
	cpioHash := sha256.New()
	if err := writeImage(ctx, tmp, cpioHash, t, rec.Compression, pr.add); err != nil {
		tmp.abort()
		return err
	}
	pr.finish()
	rec.TreeSize = total
	if kind == "dir" {
		contentDigest = "sha256:" + hex.EncodeToString(cpioHash.Sum(nil))
		if err := checkPin(img, contentDigest, img.Source); err != nil {
			tmp.abort()
			return err
		}
	}
	rec.Digest = contentDigest
	rec.Image, err = b.store.commit(tmp, extImage)
	return err
}

// storeKernel stores the kernel k as it is in the image and returns the
// artifact.
func (b *Builder) storeKernel(k kernelChoice) (ref, error) {
	ktmp, err := b.store.create()
	if err != nil {
		return ref{}, err
	}
	if err := copyContent(ktmp, k.path, k.ino, make([]byte, 256<<10), nil); err != nil {
		ktmp.abort()
		return ref{}, fmt.Errorf("kernel: %w", err)
	}
	return b.store.commit(ktmp, extKernel)
}

// writeImage writes t as cpio compressed with comp (on every core) to w;
// sum also sees the uncompressed cpio stream.
func writeImage(ctx context.Context, w io.Writer, sum io.Writer, t *tree, comp string, progress func(int64)) error {
	bw := bufio.NewWriterSize(&ctxWriter{ctx: ctx, w: w}, 1<<20)
	zw, err := newCompressor(bw, comp, true)
	if err != nil {
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
