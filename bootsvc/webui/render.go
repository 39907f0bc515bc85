package webui

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"sync"
)

//go:embed assets/page.html assets/style.css assets/app.js
var assets embed.FS

var (
	pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{"pair": pair}).ParseFS(assets, "assets/page.html"))
	styleCSS = template.CSS(mustRead("assets/style.css"))
	scriptJS = template.JS(mustRead("assets/app.js"))
)

// titled is a timeline with its heading, for the "boot" template.
type titled struct {
	Title string
	T     timelineView
}

func pair(title string, t timelineView) titled { return titled{title, t} }

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// servePage renders the whole page, or with ?part=timeline only the
// timeline panel of ?node=NAME.
func (u *UI) servePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	node := q.Get("node")
	if len(node) > 128 {
		node = node[:128]
	}
	snap := u.cfg.Snapshot()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	var err error
	if q.Get("part") == "timeline" {
		v := &view{Selected: node}
		if snap != nil && node != "" {
			v.Node = nodeOf(u.cfg.Status, snap, node)
		}
		err = pageTmpl.ExecuteTemplate(buf, "timeline", v)
	} else {
		v := u.build(snap, node)
		v.StyleCSS, v.ScriptJS, v.RowsHTML = styleCSS, scriptJS, rowsHTML(v.Rows)
		err = pageTmpl.Execute(buf, v)
	}
	if err != nil {
		u.cfg.Logger.Error("webui: rendering", "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}

// fragment renders one named template to a string.
func fragment(name string, data any) (string, error) {
	var b strings.Builder
	err := pageTmpl.ExecuteTemplate(&b, name, data)
	return b.String(), err
}
