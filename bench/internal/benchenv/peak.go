package benchenv

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// RunPeak runs cmd (Start, then Wait) and returns its peak RSS in bytes:
// the largest VmHWM of /proc/PID/status, read every 10 ms while it runs.
// Not the child's rusage ru_maxrss: Go starts a child sharing the parent's
// memory until exec (CLONE_VM), and Linux folds that memory's high-water
// mark into the child's ru_maxrss at exec, so /bin/true started from a
// bench holding 500 MB reports a 500 MB peak.
func RunPeak(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
	var peak int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if v := vmHWM(status); v > peak {
			peak = v
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}

// vmHWM reads the VmHWM line of a /proc/PID/status file, in bytes; 0 when
// it cannot (the process is gone or a zombie).
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
