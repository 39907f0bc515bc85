package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// packResult is gitboot building the node's artifacts from the image tar.
type packResult struct {
	Seconds float64 `json:"seconds"`
	// PeakRSS is gitboot's maximum resident set size (getrusage), bytes.
	PeakRSS int64   `json:"peak_rss_bytes"`
	CPU     float64 `json:"cpu_seconds"`
	// Artifacts are the sizes of the artifact files gitboot stored, by
	// kind as `gitboot apply` names them, else by digest prefix.
	Artifacts map[string]int64 `json:"artifact_bytes"`
}

// pack runs `gitboot apply --auto-approve` on repo into the empty state
// directory: reading the image tar, building the image initrd (cpio +
// compression), the system and runtime overlays and the kernel.
func pack(bin, repo, state, image string, vars ...string) (packResult, error) {
	var res packResult
	args := []string{"apply", "--repo", repo, "--state", state, "--auto-approve", "--var", "image_source=" + image}
	if !strings.HasPrefix(image, "oci://") {
		args = append(args, "--image-root", filepath.Dir(image))
	}
	cmd := exec.Command(bin, append(args, vars...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	peak, err := benchenv.RunPeak(cmd)
	res.Seconds = benchenv.Round(time.Since(start).Seconds())
	if err != nil {
		return res, fmt.Errorf("gitboot apply: %v\n%s", err, benchenv.Tail(out.Bytes(), 3000))
	}
	res.PeakRSS = peak
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CPU = benchenv.Round(float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9)
	}
	res.Artifacts = map[string]int64{}
	files, _ := filepath.Glob(filepath.Join(state, "artifacts", "sha256", "*"))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		res.Artifacts[kind(f, fi.Size())] += fi.Size()
	}
	return res, nil
}

// kind names an artifact file by its content: the kernel (bzImage
// magic), the image (the largest initrd), else "overlays".
func kind(path string, size int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "other"
	}
	defer f.Close()
	head := make([]byte, 0x210)
	n, _ := f.Read(head)
	if n >= 0x206 && strings.HasPrefix(string(head[0x202:0x206]), "HdrS") {
		return "kernel"
	}
	if size > 64<<20 {
		return "image"
	}
	return "overlays"
}
