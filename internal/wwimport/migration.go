package wwimport

import (
	"fmt"
	"sort"
	"strings"
)

// The sections of MIGRATION.md, in order.
const (
	secFields    = "Fields not mapped"
	secNodes     = "Nodes not imported"
	secOverlays  = "Overlays"
	secTemplates = "Templates"
	secReplaced  = "Replaced by gitboot"
)

var sectionOrder = []string{secNodes, secFields, secOverlays, secTemplates, secReplaced}

var sectionIntro = map[string]string{
	secNodes:     "These nodes are not in the repository: gitboot needs a MAC and an IPv4 address to boot a node.",
	secFields:    "Settings gitboot has no place for yet. Each says where it was and what to do.",
	secOverlays:  "Overlays the nodes use that the importer did not bring over.",
	secTemplates: "Warewulf templates (*.ww) the importer could not translate, or translated with a caveat. The untranslated ones are in warewulf-templates/, which no overlay uses: rewrite each as a gitboot template (*.tmpl: .Node, .Network, .Cluster.Nodes, .Server) and move it into its overlay.",
	secReplaced:  "Warewulf features gitboot does itself; nothing to do.",
}

// note is one line of MIGRATION.md: something at where that needs todo.
type note struct {
	section, what, todo string
}

// migration collects notes; notes that differ only in where are merged
// into one line listing the places.
type migration struct {
	places map[note][]string
}

func newMigration() *migration { return &migration{places: map[note][]string{}} }

// add records a note; where is "nodes.conf:12 (node n001)" or similar.
func (m *migration) add(section, where, what, todo string) {
	k := note{section, what, todo}
	for _, w := range m.places[k] {
		if w == where {
			return
		}
	}
	m.places[k] = append(m.places[k], where)
}

// count is how many distinct notes say something was not mapped (the
// "replaced by gitboot" ones do not count).
func (m *migration) count() int {
	n := 0
	for k := range m.places {
		if k.section != secReplaced {
			n++
		}
	}
	return n
}

// maxPlaces is how many places one line lists before "and N more".
const maxPlaces = 8

// render writes MIGRATION.md.
func (m *migration) render(src string, stats string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Migration from Warewulf\n\nImported by `gitboot import warewulf` from %s.\n\n%s\n", src, stats)
	if len(m.places) == 0 {
		b.WriteString("\nEverything was mapped.\n")
		return []byte(b.String())
	}
	for _, sec := range sectionOrder {
		var notes []note
		for k := range m.places {
			if k.section == sec {
				notes = append(notes, k)
			}
		}
		if len(notes) == 0 {
			continue
		}
		sort.Slice(notes, func(i, j int) bool {
			pi, pj := m.places[notes[i]][0], m.places[notes[j]][0]
			if pi != pj {
				return placeLess(pi, pj)
			}
			if notes[i].what != notes[j].what {
				return notes[i].what < notes[j].what
			}
			return notes[i].todo < notes[j].todo
		})
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", sec, sectionIntro[sec])
		for _, n := range notes {
			places := m.places[n]
			shown := places
			more := ""
			if len(places) > maxPlaces {
				shown = places[:maxPlaces]
				more = fmt.Sprintf(" and %d more", len(places)-maxPlaces)
			}
			fmt.Fprintf(&b, "- **%s** (%s%s): %s\n", n.what, strings.Join(shown, ", "), more, n.todo)
		}
	}
	return []byte(b.String())
}

// placeLess orders "file:line (...)" places by file, then line.
func placeLess(a, b string) bool {
	fa, la := splitPlace(a)
	fb, lb := splitPlace(b)
	if fa != fb {
		return fa < fb
	}
	if la != lb {
		return la < lb
	}
	return a < b
}

func splitPlace(p string) (string, int) {
	head, _, _ := strings.Cut(p, " ")
	file, line, ok := strings.Cut(head, ":")
	if !ok {
		return head, 0
	}
	n := 0
	fmt.Sscanf(line, "%d", &n)
	return file, n
}
