package webui

import (
	"html/template"
	"net/url"
	"strconv"
)

// appendRow appends a node's table row as HTML. The table is the bulk of a
// 10,000-node page, so rows are written here rather than by html/template
// (ten times slower for this); every value is escaped for its context:
// text and quoted attributes with template.HTMLEscapeString, the link's
// query with url.QueryEscape first.
func appendRow(b []byte, r *rowView) []byte {
	esc := template.HTMLEscapeString
	b = append(b, `<tr id="n-`...)
	b = append(b, esc(r.Name)...)
	b = append(b, `" class="`...)
	switch r.Stale {
	case 1:
		b = append(b, "late"...)
	case 2:
		b = append(b, "lost"...)
	}
	b = append(b, `" data-seen="`...)
	b = strconv.AppendInt(b, r.SeenMS, 10)
	b = append(b, `"><td><a href="?node=`...)
	b = append(b, esc(url.QueryEscape(r.Name))...)
	b = append(b, `#timeline">`...)
	b = append(b, esc(r.Name)...)
	b = append(b, `</a></td><td><span class="st `...)
	b = append(b, esc(r.Class)...)
	b = append(b, `">`...)
	b = append(b, esc(r.Stage)...)
	b = append(b, `</span>`...)
	if r.Reboot {
		b = append(b, `<span class="reboot" title="needs a reboot to pick up the applied commit">*</span>`...)
	}
	b = append(b, `</td><td>`...)
	b = append(b, esc(r.Sent)...)
	b = append(b, `</td><td class="age">`...)
	b = append(b, esc(r.Seen)...)
	b = append(b, "</td></tr>"...)
	return b
}

// rowsHTML is the table body of every row.
func rowsHTML(rows []rowView) template.HTML {
	b := make([]byte, 0, 200*len(rows))
	for i := range rows {
		b = appendRow(b, &rows[i])
		b = append(b, '\n')
	}
	return template.HTML(b)
}
