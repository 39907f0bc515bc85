// Package macfile reads the MAC address lists vendors ship with racks and
// spreadsheets export: CSV (or whitespace-separated columns), one node a
// row, in rack order. `gitboot discover --macs FILE` turns them into node
// blocks.
package macfile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitboot/gitboot/internal/macaddr"
)

// Entry is one MAC of the file, canonical, with the line it is on.
type Entry struct {
	MAC  string
	Line int
}

// headerNames are the column titles that name the MAC column.
var headerNames = map[string]bool{"mac": true, "macaddress": true, "mac_address": true, "hwaddr": true, "hwaddress": true, "ethernet": true}

// Read reads the file name: CSV with ',' between columns (or, on a line
// without a comma, spaces and tabs), '#' comments. Rows with no content
// (blank, or separators only, as spreadsheets export them) are skipped. A
// first row holding no MAC is a header and skipped; if one of its titles
// names the MAC column ("mac", "mac address", "hwaddr"), that column is
// read, else the column where the first data row holds a MAC. Every other
// row must hold a MAC there; a repeated MAC is an error. Errors name the
// file and line.
func Read(name string) ([]Entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(filepath.Base(name), f)
}

func read(name string, in io.Reader) ([]Entry, error) {
	r := csv.NewReader(in)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	col := -1
	first := true
	seen := map[string]int{}
	var out []Entry
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		fields := split(rec)
		if len(fields) == 0 {
			continue // blank, or separators only
		}
		header := first
		first = false
		if col < 0 {
			col = macColumn(fields)
			if col < 0 && header {
				col = titledColumn(fields)
				continue
			}
			if col < 0 {
				return nil, fmt.Errorf("%s:%d: no MAC address in %q", name, line, strings.Join(fields, ","))
			}
		}
		if col >= len(fields) {
			return nil, fmt.Errorf("%s:%d: no column %d (the MAC column)", name, line, col+1)
		}
		mac, ok := macaddr.Canonical(fields[col])
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q (column %d) is not a MAC address", name, line, fields[col], col+1)
		}
		if prev, dup := seen[mac]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed already on line %d", name, line, mac, prev)
		}
		seen[mac] = line
		out = append(out, Entry{MAC: mac, Line: line})
	}
	return out, nil
}

// split trims a CSV record's fields; a record of one field (no comma on
// the line) is split at spaces and tabs. A record of empty fields only is
// none.
func split(rec []string) []string {
	if len(rec) == 1 {
		return strings.Fields(rec[0])
	}
	fields := make([]string, len(rec))
	empty := true
	for i, f := range rec {
		fields[i] = strings.TrimSpace(f)
		empty = empty && fields[i] == ""
	}
	if empty {
		return nil
	}
	return fields
}

// macColumn is the first field holding a MAC, or -1.
func macColumn(fields []string) int {
	for i, f := range fields {
		if _, ok := macaddr.Canonical(f); ok {
			return i
		}
	}
	return -1
}

// titledColumn is the header field naming the MAC column, or -1.
func titledColumn(fields []string) int {
	for i, f := range fields {
		k := strings.ToLower(strings.NewReplacer(" ", "", "-", "", ".", "").Replace(f))
		if headerNames[k] {
			return i
		}
	}
	return -1
}
