package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
)

// fileContexts answers which SELinux context a policy gives a path, the
// way libselinux's selabel_lookup does for file_contexts (the Go selinux
// library reads and sets labels but has no such lookup without cgo):
// specs from file_contexts, then .homedirs, then .local; those whose
// regular expression has no meta characters are tried before all others;
// otherwise the last spec that matches wins (the policy build sorts the
// files by specificity). Path aliases from file_contexts.subs (the
// site's) and .subs_dist (the distribution's) apply first.
type fileContexts struct {
	specs    []*fcSpec // regex specs, then literal ones, each in file order
	subs     []fcSub   // local aliases, last line first
	distSubs []fcSub
}

// fcSpec is one line of a file_contexts file.
type fcSpec struct {
	regex   string
	literal string // the unescaped path when regex has no meta characters
	isLit   bool
	prefix  string      // every path it matches starts with this
	typ     fs.FileMode // the file type it applies to; fcAny for all
	context string      // "" for <<none>>: leave the label alone
	re      *regexp.Regexp
	bad     bool // regex Go cannot compile: never matches
}

// fcAny marks a spec without a file type field.
const fcAny fs.FileMode = 1<<32 - 1

// fcSub is one path alias: a path at or below alias is looked up as the
// same path below real.
type fcSub struct{ alias, real string }

// fcTypes are the file type fields of file_contexts.
var fcTypes = map[string]fs.FileMode{
	"--": 0, "-d": fs.ModeDir, "-l": fs.ModeSymlink, "-c": fs.ModeDevice | fs.ModeCharDevice,
	"-b": fs.ModeDevice, "-s": fs.ModeSocket, "-p": fs.ModeNamedPipe,
}

// loadFileContexts reads the file contexts of a policy: dir is its
// contexts/files directory. file_contexts must exist; the others are
// optional.
func loadFileContexts(dir string) (*fileContexts, error) {
	fc := &fileContexts{}
	var regexes, literals []*fcSpec
	for i, name := range []string{"file_contexts", "file_contexts.homedirs", "file_contexts.local"} {
		f, err := os.Open(path.Join(dir, name))
		if err != nil {
			if i > 0 && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		specs, err := parseFileContexts(f, f.Name())
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, s := range specs {
			if s.isLit {
				literals = append(literals, s)
			} else {
				regexes = append(regexes, s)
			}
		}
	}
	fc.specs = append(regexes, literals...)
	var err error
	if fc.subs, err = readSubs(path.Join(dir, "file_contexts.subs")); err != nil {
		return nil, err
	}
	if fc.distSubs, err = readSubs(path.Join(dir, "file_contexts.subs_dist")); err != nil {
		return nil, err
	}
	return fc, nil
}

// parseFileContexts reads the lines "REGEX [TYPE] CONTEXT" of one file;
// name is for errors.
func parseFileContexts(r io.Reader, name string) ([]*fcSpec, error) {
	var out []*fcSpec
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		s := &fcSpec{regex: f[0], typ: fcAny}
		switch len(f) {
		case 2:
			s.context = f[1]
		case 3:
			t, ok := fcTypes[f[1]]
			if !ok {
				return nil, fmt.Errorf("%s:%d: unknown file type %q", name, n, f[1])
			}
			s.typ, s.context = t, f[2]
		default:
			return nil, fmt.Errorf("%s:%d: want REGEX [TYPE] CONTEXT, got %d fields", name, n, len(f))
		}
		if s.context == "<<none>>" {
			s.context = ""
		}
		s.prefix, s.isLit = regexPrefix(s.regex)
		if s.isLit {
			s.literal = s.prefix
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// regexPrefix returns the literal text every match of re starts with, and
// whether re is all literal (libselinux's "no meta characters": then it
// is that text exactly).
func regexPrefix(re string) (string, bool) {
	var b strings.Builder
	depth := 0
	prefixDone := false
	for i := 0; i < len(re); i++ {
		c := re[i]
		switch c {
		case '\\':
			if i+1 < len(re) {
				i++
				if !prefixDone {
					b.WriteByte(re[i])
				}
			}
			continue
		case '(':
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				return "", false // an alternative at the top: no common start
			}
		}
		if strings.IndexByte(".^$?*+|[({", c) >= 0 {
			if !prefixDone && strings.IndexByte("?*{", c) >= 0 && b.Len() > 0 {
				s := b.String() // the last character is optional
				b.Reset()
				b.WriteString(s[:len(s)-1])
			}
			prefixDone = true
			continue
		}
		if !prefixDone {
			b.WriteByte(c)
		}
	}
	return b.String(), !prefixDone
}

// readSubs reads an alias file ("ALIAS REAL" lines); none is no aliases.
func readSubs(name string) ([]fcSub, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []fcSub
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, fcSub{f[0], f[1]})
	}
	slices.Reverse(out) // libselinux tries the last line first
	return out, nil
}

// sub applies the first alias of subs that p is at or below ("" none).
func sub(subs []fcSub, p string) string {
	for _, s := range subs {
		if rest, ok := strings.CutPrefix(p, s.alias); ok && (rest == "" || rest[0] == '/') {
			if s.real == "/" && rest != "" {
				return rest
			}
			return s.real + rest
		}
	}
	return ""
}

// lookup returns the context the policy gives absolute path p of file
// type typ (fs.FileMode type bits; 0 a regular file), "" when it gives
// none (no match, or <<none>>).
func (fc *fileContexts) lookup(p string, typ fs.FileMode) string {
	if s := sub(fc.subs, p); s != "" {
		p = s
		if d := sub(fc.distSubs, p); d != "" {
			p = d
		}
	} else if d := sub(fc.distSubs, p); d != "" {
		p = d
	}
	typ &= fs.ModeType
	for i := len(fc.specs) - 1; i >= 0; i-- {
		s := fc.specs[i]
		if s.typ != fcAny && s.typ != typ {
			continue
		}
		if s.isLit {
			if p == s.literal {
				return s.context
			}
			continue
		}
		if s.bad || !strings.HasPrefix(p, s.prefix) {
			continue
		}
		if s.re == nil {
			re, err := regexp.Compile(`^(?:` + s.regex + `)$`)
			if err != nil {
				s.bad = true
				continue
			}
			s.re = re
		}
		if s.re.MatchString(p) {
			return s.context
		}
	}
	return ""
}
