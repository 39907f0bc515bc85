package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/damagetest"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// fsck runs gitboot fsck --json on the lab's state and returns its report
// and exit code.
func (l *gitopsLab) fsck(t *testing.T) (artifact.FsckReport, int) {
	t.Helper()
	out, err := exec.Command(l.bin, "fsck", "--state", l.state, "--json").Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep artifact.FsckReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("gitboot fsck --json: %v\n%s", err, out)
	}
	return rep, code
}

// TestDamagedArtifact: an image artifact with one byte flipped is reported
// by gitboot fsck; a restarted serve finds it at start (it was written to
// since it was verified), removes it, builds the applied commit again and
// serves content that matches every digest; fsck is clean afterwards. An
// artifact never verified (no verification record) is checked in the
// background after the start, with the same result.
func TestDamagedArtifact(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	script := l.checkWhole(t)
	l.stop(t, syscall.SIGTERM)
	if rep, code := l.fsck(t); code != 0 || len(rep.Problems) != 0 || rep.Artifacts == 0 || rep.Manifests == 0 {
		t.Fatalf("fsck of a sound state: exit %d, %+v", code, rep)
	}
	img := filepath.Join(l.state, "artifacts", "sha256", imageDigest(script)+".img.gz")
	damagetest.FlipByte(t, img, 64)

	rep, code := l.fsck(t)
	if code != 1 || len(rep.Problems) != 1 || rep.Problems[0].Kind != "damaged" || !strings.Contains(rep.Problems[0].Path, imageDigest(script)) {
		t.Fatalf("fsck of a flipped byte: exit %d, %+v", code, rep)
	}
	out, _ := exec.Command(l.bin, "fsck", "--state", l.state).CombinedOutput()
	if !strings.Contains(string(out), "damaged") || !strings.Contains(string(out), "1 problem") {
		t.Errorf("gitboot fsck text output:\n%s", out)
	}

	l.serve(t)
	if !damagetest.HasLine(l.log.String(), "level=ERROR", "ARTIFACT DAMAGED", imageDigest(script)) {
		t.Errorf("no ERROR line names the damaged artifact\n%s", l.log.String())
	}
	if got := l.checkWhole(t); got != script {
		t.Errorf("the script changed: the applied commit was not the one rebuilt\nbefore:\n%s\nafter:\n%s", script, got)
	}
	l.stop(t, syscall.SIGTERM)
	if rep, code := l.fsck(t); code != 0 {
		t.Fatalf("fsck after the rebuild: exit %d, %+v", code, rep)
	}

	// Never verified: the check runs in the background after the start.
	if err := os.Remove(filepath.Join(l.state, "artifacts", artifact.VerifiedFile)); err != nil {
		t.Fatal(err)
	}
	damagetest.FlipByte(t, img, 80)
	l.serve(t)
	l.waitFor(t, 30*time.Second, "the background check to find the damaged image", func() bool {
		return strings.Contains(l.log.String(), "artifacts verified in the background")
	})
	l.waitFor(t, 30*time.Second, "the damaged image rebuilt", func() bool {
		return strings.Contains(l.log.String(), `msg="applied commit"`)
	})
	if got := l.checkWhole(t); got != script {
		t.Errorf("the script changed after the background rebuild:\n%s", got)
	}
	if rep, code := l.fsck(t); code != 0 {
		t.Fatalf("fsck after the background rebuild: exit %d, %+v", code, rep)
	}
}
