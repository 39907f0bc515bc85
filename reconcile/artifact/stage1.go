package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/gitboot/gitboot/hclspec"
)

// Two-stage boot (an image's `boot = "two-stage"`, or `auto` above
// two_stage_above): iPXE loads the kernel and the image's stage-one
// initramfs instead of the image and the overlays. The stage-one
// initramfs holds:
//
//	/init                       gitboot-agent, which runs as stage one when
//	                            it is PID 1 named /init (cmd/gitboot-agent)
//	/dev/console                so the kernel can open a console for it
//	/lib/modules/V/...          the network drivers (see stage1mods.go),
//	/lib/modules/V/modules.dep  and the index of them only
//	/lib/modules/V/modules.alias
//
// Stage one brings the boot interface up, mounts a tmpfs, streams the
// image and the overlays into it (verifying each artifact's sha256 before
// anything of it runs) and switch_roots into gitboot's /init there.

// NameStage1 is the SENT name of a stage-one initramfs.
const NameStage1 = "stage1.img.gz"

// stage1Path is where the stage-one program is in its initramfs.
const stage1Path = "init"

// stageOne sets rec's stage-one initramfs for img: none for a one-stage
// image, else the one built before for the same image artifact, module
// list and agent, or a new one.
func (b *Builder) stageOne(ctx context.Context, img *hclspec.Image, rec imageRecord) (imageRecord, error) {
	if rec.TreeSize == 0 && (img.Boot == "" || img.Boot == hclspec.BootAuto) {
		// Recorded before tree sizes were: count it once from the artifact.
		if err := eachEntry(b.store.path(rec.Image.Hex+extImage), func(h *cpio.Header, _ string, _ io.Reader) error {
			if uint32(h.Mode)&typeMask == typeReg {
				rec.TreeSize += h.Size
			}
			return nil
		}); err != nil {
			return rec, fmt.Errorf("reading the image artifact: %w", err)
		}
		b.images[rec.Input] = rec
	}
	if !img.TwoStage(rec.TreeSize) {
		rec.Stage1, rec.Stage1Input = nil, ""
		return rec, nil
	}
	agent, err := b.agent()
	if err != nil {
		return rec, err
	}
	if agent == nil {
		return rec, fmt.Errorf("boot = %q needs the gitboot-agent binary (the stage-one init): name it with gitboot serve --agent", hclspec.BootTwoStage)
	}
	h := sha256.New()
	fmt.Fprintf(h, "stage1/1\x00%s\x00%s\x00%q\x00", rec.Image.Hex, rec.KernelVersion, img.StageOneModules)
	sum := sha256.Sum256(agent.data)
	h.Write(sum[:])
	key := hex.EncodeToString(h.Sum(nil))
	if rec.Stage1 != nil && rec.Stage1Input == key && b.store.usable(rec.Stage1.Hex+extImage) {
		return rec, nil
	}
	if r, ok := b.overlays[key]; ok && b.store.usable(r.Hex+extImage) {
		rec.Stage1, rec.Stage1Input = &r, key
		return rec, nil
	}
	t0 := time.Now()
	t, nmods, err := b.stageOneTree(img, rec, agent.data)
	if err != nil {
		return rec, fmt.Errorf("stage one: %w", err)
	}
	tmp, err := b.store.create()
	if err != nil {
		return rec, err
	}
	if err := writeImage(ctx, tmp, io.Discard, t, rec.Compression, nil); err != nil {
		tmp.abort()
		return rec, fmt.Errorf("stage one: %w", err)
	}
	r, err := b.store.commit(tmp, extImage)
	if err != nil {
		return rec, err
	}
	b.overlays[key] = r
	rec.Stage1, rec.Stage1Input = &r, key
	b.cfg.Logger.Info("stage one built", "image", img.Name, "modules", nmods, "size", r.Size, "took", time.Since(t0).Round(time.Millisecond))
	return rec, nil
}

// stageOneTree assembles the stage-one initramfs's files.
func (b *Builder) stageOneTree(img *hclspec.Image, rec imageRecord, agent []byte) (*tree, int, error) {
	t := newTree()
	put := func(p string, mode uint32, data []byte) error {
		return t.put(p, &inode{mode: typeReg | mode, size: int64(len(data)), data: bytesContent(data)})
	}
	if err := put(stage1Path, 0o755, agent); err != nil {
		return nil, 0, err
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "newroot"} {
		if err := t.put(d, &inode{mode: typeDir | 0o755}); err != nil {
			return nil, 0, err
		}
	}
	if err := t.put("dev/console", &inode{mode: typeChar | 0o600, rdevMajor: 5, rdevMinor: 1}); err != nil {
		return nil, 0, err
	}
	if !rec.Modules {
		b.cfg.Logger.Warn("stage one without modules: the image has none for its kernel; its network driver must be built in", "image", img.Name)
		return t, 0, nil
	}
	path := b.store.path(rec.Image.Hex + extImage)
	idx, err := readModIndex(path, rec.KernelVersion)
	if err != nil {
		return nil, 0, err
	}
	mods, err := idx.selectModules(img.StageOneModules)
	if err != nil {
		return nil, 0, err
	}
	data, err := idx.readModules(path, mods)
	if err != nil {
		return nil, 0, err
	}
	dir := "lib/modules/" + rec.KernelVersion
	dep, alias := idx.filteredIndex(mods)
	if err := put(dir+"/modules.dep", 0o644, dep); err != nil {
		return nil, 0, err
	}
	if err := put(dir+"/modules.alias", 0o644, alias); err != nil {
		return nil, 0, err
	}
	for _, m := range mods {
		if err := put(dir+"/"+m, 0o644, data[m]); err != nil {
			return nil, 0, err
		}
	}
	return t, len(mods), nil
}
