package artifact

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A template that loops without writing (nested ranges over the cluster's
// nodes: 2,000^3 passes, hours) is reported at its timeout and stopped:
// its goroutine ends instead of spinning on.
func TestRenderLoopWithoutOutputStops(t *testing.T) {
	old := renderTimeout
	renderTimeout = 200 * time.Millisecond
	defer func() { renderTimeout = old }()
	tmpl, _, err := parseTemplate("spin.tmpl", `{{range .Cluster.Nodes}}{{range $.Cluster.Nodes}}{{range $.Cluster.Nodes}}{{end}}{{end}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	data := &TemplateData{}
	for i := range 2000 {
		data.Cluster.Nodes = append(data.Cluster.Nodes, TemplateNode{Name: fmt.Sprintf("n%04d", i)})
	}
	before := runtime.NumGoroutine()
	_, err = render(tmpl, data)
	if err == nil || !strings.Contains(err.Error(), "still running after") {
		t.Fatalf("render: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the timeout, %d before: the template still runs", n, before)
	}
	// The template itself is not spoiled: a small cluster renders.
	data.Cluster.Nodes = data.Cluster.Nodes[:3]
	if _, err := render(tmpl, data); err != nil {
		t.Errorf("render of 3 nodes after a stopped one: %v", err)
	}
}
