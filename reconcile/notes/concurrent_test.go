package notes

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two Notes writers (separate instances, as two processes would be) and a
// `git notes append` loop update the same notes at once; no Notes update
// and no successful git append is lost. (git moves the ref without checking
// its old value, so it undoes Notes writes; Update puts them back.)
func TestConcurrentWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir, commits := newRepo(t, 2)
	const rounds = 100
	gitDone, gitFailed := raceWriters(t, dir, commits, rounds)
	have := recorded(t, dir, commits)
	lost := 0
	for w := range 2 {
		for i := range rounds {
			if rec := Apply(fmt.Sprintf("w%d", w), t0.Add(time.Duration(i)*time.Second), ResultApplied, i, 0, 0); !have[rec.String()] {
				t.Logf("lost: %s", rec)
				lost++
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d Notes records lost", lost, 2*rounds)
	}
	for _, line := range gitDone {
		if !have[line] {
			t.Errorf("git's %q lost", line)
		}
	}
	t.Logf("git appends: %d done, %d refused (lock busy)", len(gitDone), len(gitFailed))
	if len(gitFailed) > 0 && !strings.Contains(gitFailed[0], ".lock") {
		t.Errorf("git failed otherwise: %s", gitFailed[0])
	}
	// Each Notes update and git append made a commit; git drops from the
	// history those written while it ran (their lines were put back).
	t.Logf("notes history: %s commits of %d written", git(t, dir, "", "rev-list", "--count", Ref), 2*rounds+len(gitDone))
	fsck(t, dir)
}

// raceWriters runs two Notes writers (rounds updates each, alternating
// between the commits) and a git notes append loop at once, then lets each
// writer put back what git dropped. It returns the lines git appended and
// the output of its refused appends.
func raceWriters(t *testing.T, dir string, commits []string, rounds int) (gitDone, gitFailed []string) {
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	var writers []*Notes
	for w := range 2 {
		n := mustOpen(t, dir)
		writers = append(writers, n)
		wg.Go(func() {
			for i := range rounds {
				rec := Apply(fmt.Sprintf("w%d", w), t0.Add(time.Duration(i)*time.Second), ResultApplied, i, 0, 0)
				err := n.Update(map[string]func([]Record) []Record{commits[i%2]: AppendUnique(rec)}, "w")
				if err != nil {
					errs <- fmt.Errorf("writer %d, update %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			line := fmt.Sprintf("apply server=git add=%d", i)
			out, err := gitErr(dir, "", "notes", "--ref=gitboot", "append", "-m", line, commits[i%2])
			if err != nil {
				gitFailed = append(gitFailed, out)
				continue
			}
			gitDone = append(gitDone, line)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// git may have dropped a writer's last commit after its last Update.
	for _, n := range writers {
		if err := n.Update(nil, "sync"); err != nil {
			t.Fatal(err)
		}
	}

	return gitDone, gitFailed
}

// recorded returns the text of every note record on the commits.
func recorded(t *testing.T, dir string, commits []string) map[string]bool {
	t.Helper()
	n := mustOpen(t, dir)
	have := map[string]bool{}
	for _, c := range commits {
		recs, err := n.Read(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			have[r.String()] = true
		}
	}
	return have
}
