package notes

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, and what Format writes of its records
// reads back as the same records.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.note")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("node server=a name=\"x\\u00e9\" seen=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := Parse(data)
		out := Format(recs)
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Format(recs)): %v\n%q", err, out)
		}
		if len(back) != len(recs) {
			t.Fatalf("%d records, then %d\n%q", len(recs), len(back), out)
		}
		for i := range recs {
			if !back[i].Equal(recs[i]) {
				t.Fatalf("record %d: %+v, then %+v", i, recs[i], back[i])
			}
		}
		if again := Format(back); !bytes.Equal(again, out) {
			t.Fatalf("Format not stable: %q then %q", out, again)
		}
	})
}
