package hclspec

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// FileAttr is a `file "GLOB" { mode = "0400", owner = "munge", group =
// "munge" }` block inside an overlay block: the owner and mode of the
// overlay's files and directories whose path (relative to the overlay's
// root, a template's without its .tmpl suffix) matches Glob. Glob is a
// path.Match pattern: `*` and `?` never match `/`. When several blocks
// match one path, a later block wins for each attribute it sets. An unset
// attribute keeps the default: git's mode, owner and group root.
type FileAttr struct {
	Glob string
	// Mode holds the permission bits (with setuid, setgid, sticky) when
	// ModeSet.
	Mode    uint32
	ModeSet bool
	// Owner and Group are a user or group name, resolved against the
	// node's image (/etc/passwd, /etc/group) when artifacts are built, or
	// a decimal number; "" is unset.
	Owner, Group string
	// Range is the block's header; OwnerRange and GroupRange the values'
	// expressions, for diagnostics about a name the image lacks.
	Range      hcl.Range `json:"-"`
	ModeRange  hcl.Range `json:"-"`
	OwnerRange hcl.Range `json:"-"`
	GroupRange hcl.Range `json:"-"`
}

// overlayFileBlock is the `file` block an overlay body may hold.
var overlayFileBlock = hcl.BlockHeaderSchema{Type: "file", LabelNames: []string{"glob"}}

var fileAttrSchema = schema("mode", "owner", "group")

var (
	modeRE = regexp.MustCompile(`^[0-7]{3,4}$`)
	// idNameRE is what useradd and groupadd accept, loosely: no spaces,
	// colons or slashes (an /etc/passwd field).
	idNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$`)
)

// decodeOverlayFiles decodes an overlay body's file blocks into o.Files.
func (l *loader) decodeOverlayFiles(o *Overlay, blocks hcl.Blocks) {
	for _, blk := range blocks {
		if blk.Type != overlayFileBlock.Type {
			continue
		}
		glob := blk.Labels[0]
		fa := &FileAttr{Glob: glob, Range: blk.DefRange}
		if err := checkFileGlob(glob); err != nil {
			l.errorf(blk.LabelRanges[0].Ptr(), "Invalid file glob", "file %q of overlay %q: %s.", glob, o.Name, err)
		}
		content, diags := blk.Body.Content(fileAttrSchema)
		l.diags = append(l.diags, diags...)
		a := &attrs{l: l, content: content, ctx: l.ctx, what: fmt.Sprintf("file %q of overlay %q", glob, o.Name)}
		if at, ok := a.get("mode"); ok {
			if v, d := at.Expr.Value(l.ctx); !d.HasErrors() && v.Type() == cty.Number {
				a.valueErr(at, "Invalid file mode", "mode of %s must be a string of octal digits such as \"0640\": a number is read as decimal.", a.what)
			} else if v, at, ok := a.str("mode"); ok {
				if !modeRE.MatchString(v) {
					a.valueErr(at, "Invalid file mode", "mode of %s must be octal, \"0000\" to \"7777\", not %q.", a.what, v)
				} else {
					m, _ := strconv.ParseUint(v, 8, 32)
					fa.Mode, fa.ModeSet, fa.ModeRange = uint32(m), true, at.Expr.Range()
				}
			}
		}
		for _, x := range []struct {
			name string
			dst  *string
			rng  *hcl.Range
		}{{"owner", &fa.Owner, &fa.OwnerRange}, {"group", &fa.Group, &fa.GroupRange}} {
			v, at, ok := a.str(x.name)
			if !ok {
				continue
			}
			if err := checkIDName(v); err != nil {
				a.valueErr(at, "Invalid file "+x.name, "%s of %s: %s.", x.name, a.what, err)
				continue
			}
			*x.dst, *x.rng = v, at.Expr.Range()
		}
		if len(content.Attributes) == 0 && !diags.HasErrors() {
			l.errorf(blk.DefRange.Ptr(), "Empty file block", "file %q of overlay %q sets nothing; give mode, owner or group, or leave the block out.", glob, o.Name)
		}
		o.Files = append(o.Files, fa)
	}
}

// checkFileGlob accepts a path.Match pattern relative to the overlay's
// root that cannot leave it.
func checkFileGlob(glob string) error {
	switch {
	case glob == "":
		return fmt.Errorf("the glob is empty")
	case strings.HasPrefix(glob, "/"):
		return fmt.Errorf("the glob must be relative to the overlay's root (%q, without the leading /)", strings.TrimLeft(glob, "/"))
	case strings.HasSuffix(glob, "/"):
		return fmt.Errorf("the glob must not end with / (%q matches the directory)", strings.TrimRight(glob, "/"))
	}
	for _, part := range strings.Split(glob, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("the glob must be a clean relative path (no empty, . or .. parts)")
		}
	}
	if _, err := path.Match(glob, ""); err != nil {
		return fmt.Errorf("bad glob syntax: %v", err)
	}
	return nil
}

// checkIDName accepts a user or group name or a decimal id.
func checkIDName(v string) error {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		if n, err := strconv.ParseUint(v, 10, 32); err != nil || n == 1<<32-1 {
			return fmt.Errorf("%s is not a valid id (0 to 4294967294)", v)
		}
		return nil
	}
	if !idNameRE.MatchString(v) {
		return fmt.Errorf("%q is neither a name (letters, digits, _ . -; at most 32) nor a number", v)
	}
	return nil
}

// ParseID returns the number an owner or group attribute holds; ok is
// false for a name (to be resolved against an image).
func ParseID(v string) (id uint32, ok bool) {
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), err == nil
}

// withBlocks adds nested block types to a schema.
func withBlocks(s *hcl.BodySchema, blocks ...hcl.BlockHeaderSchema) *hcl.BodySchema {
	s.Blocks = append(s.Blocks, blocks...)
	return s
}
