// Command golimits checks the repository's size limits on Go code: no Go
// file over -max-file lines and no function (or method, or function
// literal assigned at top level) over -max-func lines. It prints one line
// per violation, FILE:LINE: message, and exits 1 when it found any.
//
// A known violation listed in the -known file (one "PATH FUNCTION" or
// "PATH file" a line, '#' comments) is reported as known and does not fail
// the check, so the list can only shrink: a listed entry that is no longer
// a violation fails the check until it is removed from the list.
//
// Usage: go run ./tools/golimits [-max-file 500] [-max-func 80] [-known FILE] [-top N] [DIR]
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// violation is one limit exceeded.
type violation struct {
	pos token.Position
	key string // "PATH NAME", as in the -known file
	msg string
}

func main() {
	maxFile := flag.Int("max-file", 500, "most lines a Go file may have")
	maxFunc := flag.Int("max-func", 80, "most lines a function may have")
	top := flag.Int("top", 0, "also print the N longest functions and largest files")
	knownFile := flag.String("known", "", "file of known violations to tolerate (the list may only shrink)")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	files, err := goFiles(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "golimits:", err)
		os.Exit(2)
	}
	vs, stats, err := check(files, *maxFile, *maxFunc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "golimits:", err)
		os.Exit(2)
	}
	if *top > 0 {
		printTop(stats, *top)
	}
	known, err := readKnown(*knownFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "golimits:", err)
		os.Exit(2)
	}
	failed, tolerated := 0, 0
	for _, v := range vs {
		if known[v.key] {
			delete(known, v.key)
			tolerated++
			continue
		}
		failed++
		fmt.Printf("%s: %s\n", v.pos, v.msg)
	}
	for k := range known {
		failed++
		fmt.Printf("%s: listed in %s but no longer over the limit: remove the line\n", k, *knownFile)
	}
	if tolerated > 0 {
		fmt.Printf("golimits: %d known violation(s) listed in %s still to fix\n", tolerated, *knownFile)
	}
	if failed > 0 {
		fmt.Printf("golimits: %d problem(s) (files <= %d lines, functions <= %d lines)\n", failed, *maxFile, *maxFunc)
		os.Exit(1)
	}
}

// readKnown reads the known-violations file: "PATH NAME" lines.
func readKnown(path string) (map[string]bool, error) {
	known := map[string]bool{}
	if path == "" {
		return known, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want PATH NAME (NAME a function, or \"file\")", path, i+1)
		}
		known[f[0]+" "+f[1]] = true
	}
	return known, nil
}

// goFiles lists the .go files under root, skipping hidden directories,
// vendor/ and testdata/.
func goFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "vendor" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// sizes are the measured sizes, for -top.
type sizes struct {
	funcs []sized
	files []sized
}

type sized struct {
	name  string
	lines int
}

// check parses each file and returns the violations sorted by position.
func check(files []string, maxFile, maxFunc int) ([]violation, sizes, error) {
	var vs []violation
	var st sizes
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, st, fmt.Errorf("parsing %s: %w", path, err)
		}
		tf := fset.File(f.Pos())
		n := tf.LineCount()
		st.files = append(st.files, sized{path, n})
		if n > maxFile {
			vs = append(vs, violation{token.Position{Filename: path, Line: 1}, path + " file", fmt.Sprintf("file has %d lines (limit %d)", n, maxFile)})
		}
		for _, fn := range funcs(f) {
			start, end := fset.Position(fn.pos), fset.Position(fn.end)
			lines := end.Line - start.Line + 1
			st.funcs = append(st.funcs, sized{fmt.Sprintf("%s:%d %s", path, start.Line, fn.name), lines})
			if lines > maxFunc {
				vs = append(vs, violation{start, path + " " + fn.name, fmt.Sprintf("function %s has %d lines (limit %d)", fn.name, lines, maxFunc)})
			}
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].pos.Filename != vs[j].pos.Filename {
			return vs[i].pos.Filename < vs[j].pos.Filename
		}
		return vs[i].pos.Line < vs[j].pos.Line
	})
	return vs, st, nil
}

// fn is one function body to measure.
type fn struct {
	name     string
	pos, end token.Pos
}

// funcs returns the file's function and method declarations, and the
// function literals that are not inside one (package-level variables),
// which would otherwise escape the limit.
func funcs(f *ast.File) []fn {
	var out []fn
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil && len(d.Recv.List) > 0 {
				name = recvName(d.Recv.List[0].Type) + "." + name
			}
			out = append(out, fn{name, d.Pos(), d.End()})
		case *ast.GenDecl:
			ast.Inspect(d, func(n ast.Node) bool {
				if lit, ok := n.(*ast.FuncLit); ok {
					out = append(out, fn{"func-literal", lit.Pos(), lit.End()})
					return false
				}
				return true
			})
		}
	}
	return out
}

// recvName is a method receiver's type name without pointer or type
// parameters.
func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

// printTop prints the n longest functions and largest files.
func printTop(st sizes, n int) {
	for _, list := range []struct {
		title string
		items []sized
	}{{"longest functions", st.funcs}, {"largest files", st.files}} {
		sort.Slice(list.items, func(i, j int) bool { return list.items[i].lines > list.items[j].lines })
		fmt.Println(list.title + ":")
		for i := 0; i < n && i < len(list.items); i++ {
			fmt.Printf("  %5d  %s\n", list.items[i].lines, list.items[i].name)
		}
	}
}
