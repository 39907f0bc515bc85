package hclspec

import (
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// DefaultRolloutBatch is the rollout batch size when the server block
// does not set one.
const DefaultRolloutBatch = "10%"

const rolloutBlockType = "rollout"

// Rollout is the `rollout` block of a server block: how `gitboot rollout`
// (and, with Auto, the server by itself) reboots the nodes an applied
// commit needs rebooted.
type Rollout struct {
	Batch       string // "N" nodes or "P%" of them per batch
	Auto        bool   // start a rollout when an applied commit needs reboots
	MaxFailures int    // failed nodes tolerated before the rollout halts
}

var rolloutSchema = schema("batch", "auto", "max_failures")

// withRollout adds the nested `rollout` block to the server schema.
func withRollout(s *hcl.BodySchema) *hcl.BodySchema {
	s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: rolloutBlockType})
	return s
}

// decodeRollout reads the server body's `rollout` block, if any, into s.
func decodeRollout(a *attrs, s *Server) {
	s.Rollout = Rollout{Batch: DefaultRolloutBatch}
	var blocks []*hcl.Block
	for _, b := range a.content.Blocks {
		if b.Type == rolloutBlockType {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) == 0 {
		return
	}
	if len(blocks) > 1 {
		a.l.errorf(blocks[1].DefRange.Ptr(), "Duplicate rollout block",
			"%s has more than one rollout block (the first one is at line %d).", a.what, blocks[0].DefRange.Start.Line)
	}
	content, diags := blocks[0].Body.Content(rolloutSchema)
	a.l.diags = append(a.l.diags, diags...)
	ra := &attrs{l: a.l, content: content, ctx: a.ctx, what: "the rollout block of " + a.what}
	if v, at, ok := ra.str("batch"); ok {
		if validBatch(v) {
			s.Rollout.Batch = strings.TrimSpace(v)
		} else {
			ra.valueErr(at, "Invalid rollout batch", "batch must be a number of nodes (at least 1) or a percentage above 0%% and at most 100%% (\"10%%\"), not %q.", v)
		}
	}
	if v, _, ok := ra.boolean("auto"); ok {
		s.Rollout.Auto = v
	}
	if v, at, ok := ra.value("max_failures", cty.Number); ok {
		bf := v.AsBigFloat()
		i, _ := bf.Int64()
		if !bf.IsInt() || i < 0 || i > 1<<20 {
			ra.valueErr(at, "Invalid max_failures", "max_failures must be a whole number, 0 or more, not %s.", bf.Text('f', -1))
		} else {
			s.Rollout.MaxFailures = int(i)
		}
	}
}

// validBatch reports whether s is "N" (N >= 1) or "P%" (0 < P <= 100), as
// rollout.ParseBatch reads it.
func validBatch(s string) bool {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		return err == nil && v > 0 && v <= 100
	}
	n, err := strconv.Atoi(t)
	return err == nil && n >= 1
}
