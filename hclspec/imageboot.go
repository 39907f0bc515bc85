package hclspec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// How a node boots an image (the image attribute `boot`).
const (
	// BootAuto (Image.Boot "" too): two-stage when the image's unpacked tree is larger than
	// two_stage_above, else one-stage (the default).
	BootAuto = "auto"
	// BootOneStage: iPXE loads the kernel, the image, the overlays; the
	// kernel unpacks them all into one initramfs.
	BootOneStage = "one-stage"
	// BootTwoStage: iPXE loads the kernel and a small stage-one initramfs
	// (gitboot's stage-one init and the image's network drivers), which
	// streams the image straight into a tmpfs root and switch_roots into
	// it: the tree is never held twice in RAM.
	BootTwoStage = "two-stage"
	// DefaultTwoStageAbove is two_stage_above when unset: 1 GiB.
	DefaultTwoStageAbove int64 = 1 << 30
)

// moduleNameRE is what a stage_one_modules entry may be: a kernel module's
// name ("virtio_net", "e1000e", "mlx5_core").
var moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// decodeImageBoot reads boot, two_stage_above and stage_one_modules into
// img, with a diagnostic at the value for anything invalid.
func decodeImageBoot(a *attrs, img *Image) {
	if v, at, ok := a.str("boot"); ok {
		switch v {
		case BootAuto:
		case BootOneStage, BootTwoStage:
			img.Boot = v
		default:
			a.valueErr(at, "Invalid boot", "boot of image %q must be %q, %q or %q, not %q.", img.Name, BootAuto, BootOneStage, BootTwoStage, v)
		}
	}
	if v, at, ok := a.str("two_stage_above"); ok {
		n, err := ParseByteSize(v)
		if err != nil {
			a.valueErr(at, "Invalid two_stage_above", "two_stage_above of image %q: %s; want a size such as \"1GiB\" or \"700MiB\".", img.Name, err)
		} else {
			img.TwoStageAbove = n
		}
	}
	if v, at, ok := a.strList("stage_one_modules"); ok {
		for _, m := range v {
			if !moduleNameRE.MatchString(m) {
				a.valueErr(at, "Invalid stage_one_modules", "stage_one_modules of image %q: %q is not a kernel module name (letters, digits, '_' and '-').", img.Name, m)
				return
			}
		}
		img.StageOneModules = v
	}
}

// ParseByteSize parses a size: a whole number of bytes with an optional
// unit, binary in every spelling (k, K, KB, KiB are 1024 bytes; M, G, T
// likewise), e.g. "1GiB", "700M", "4096".
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 || i > 15 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
	sh, ok := shift[unit]
	if !ok || (unit == "" && strings.TrimSpace(t[i:]) != "" && strings.ToLower(strings.TrimSpace(t[i:])) != "b") {
		return 0, fmt.Errorf("%q has an unknown unit (want B, KiB, MiB, GiB or TiB)", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("%q is zero", s)
	}
	if n > (1<<62)>>sh {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n << sh, nil
}

// TwoStage says whether nodes boot img in two stages, given the size of
// its unpacked tree in bytes (0 when unknown: one-stage unless forced).
func (img *Image) TwoStage(treeSize int64) bool {
	switch img.Boot {
	case BootTwoStage:
		return true
	case BootOneStage:
		return false
	}
	above := img.TwoStageAbove
	if above == 0 {
		above = DefaultTwoStageAbove
	}
	return treeSize > above
}
