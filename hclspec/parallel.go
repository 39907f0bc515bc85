package hclspec

import (
	"runtime"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// parallelParseMin is the file size from which a file is parsed in
// parallel chunks.
var parallelParseMin = 256 << 10

// parseChunked parses a large file as several chunks split at top-level
// block boundaries, in parallel, each with its true start position so every
// range is the same as a whole-file parse. It returns nil (parse the whole
// file instead) for small files, when there is nothing to split, or when
// any chunk has an error: errors are always reported from a whole-file
// parse, so they read the same however the file is laid out.
func parseChunked(src []byte, filename string, boundaries []int) []hcl.Body {
	workers := runtime.GOMAXPROCS(0)
	if len(src) < parallelParseMin || workers < 2 || len(boundaries) < 2 {
		return nil
	}
	chunks := workers * 2
	var cuts []int // chunk start offsets, first is 0
	cuts = append(cuts, 0)
	target := len(src) / chunks
	for _, b := range boundaries {
		if b-cuts[len(cuts)-1] >= target && b < len(src) {
			cuts = append(cuts, b)
		}
	}
	if len(cuts) < 2 {
		return nil
	}
	starts := make([]hcl.Pos, len(cuts))
	line, next := 1, 0
	for i, off := range cuts {
		for ; next < off; next++ {
			if src[next] == '\n' {
				line++
			}
		}
		starts[i] = hcl.Pos{Line: line, Column: 1, Byte: off}
	}
	bodies := make([]hcl.Body, len(cuts))
	failed := make([]bool, len(cuts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i := range cuts {
		end := len(src)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i, start, end int) {
			defer wg.Done()
			defer func() { <-sem }()
			f, diags := hclsyntax.ParseConfig(src[start:end], filename, starts[i])
			if diags.HasErrors() || f == nil {
				failed[i] = true
				return
			}
			bodies[i] = f.Body
		}(i, cuts[i], end)
	}
	wg.Wait()
	for _, f := range failed {
		if f {
			return nil
		}
	}
	return bodies
}
