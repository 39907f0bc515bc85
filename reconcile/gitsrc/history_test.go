package gitsrc

import (
	"slices"
	"testing"
)

func TestBetween(t *testing.T) {
	work, _, first := newRepo(t)
	var line []string
	for i := range 4 {
		write(t, work+"/f", string(rune('a'+i)), 0o644)
		runGit(t, work, "add", "-A")
		runGit(t, work, "commit", "-q", "-m", "c")
		line = append(line, runGit(t, work, "rev-parse", "HEAD"))
	}
	src, err := Open(work)
	if err != nil {
		t.Fatal(err)
	}
	tip := line[3]
	got, found, err := src.Between(first, tip, 10)
	if err != nil || !found || !slices.Equal(got, []string{line[2], line[1], line[0]}) {
		t.Fatalf("Between(first, tip) = %v %v %v; want %v", got, found, err, []string{line[2], line[1], line[0]})
	}
	if got, found, _ := src.Between(line[2], tip, 10); !found || len(got) != 0 {
		t.Errorf("the parent: %v %v; want none, found", got, found)
	}
	if got, found, _ := src.Between(first, tip, 2); found || got != nil {
		t.Errorf("beyond max: %v %v; want not found", got, found)
	}
	if got, found, _ := src.Between(tip, line[1], 10); found || got != nil {
		t.Errorf("a newer since (force-push back): %v %v; want not found", got, found)
	}
	if _, found, _ := src.Between("", tip, 10); found {
		t.Error("nothing evaluated before: found")
	}
	all, err := src.FirstParents(tip, 100)
	if err != nil || !slices.Equal(all, []string{tip, line[2], line[1], line[0], first}) {
		t.Errorf("FirstParents: %v %v", all, err)
	}
	if two, _ := src.FirstParents(tip, 2); !slices.Equal(two, []string{tip, line[2]}) {
		t.Errorf("FirstParents max 2: %v", two)
	}
}
