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
	switch r.Stale {
	case 1:
		b = append(b, `" class="late`...)
	case 2:
		b = append(b, `" class="lost`...)
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
	if r.Reason != "" {
		b = append(b, `</td><td title="`...)
		b = append(b, esc(r.Reason)...)
		b = append(b, `">`...)
	} else {
		b = append(b, `</td><td>`...)
	}
	b = append(b, esc(r.Sent)...)
	b = append(b, `</td><td>`...)
	b = append(b, esc(r.Seen)...)
	b = append(b, "</td></tr>"...)
	return b
}

// The node table's body is split into chunks of chunkRows rows, each its
// own <tbody>, which style.css marks content-visibility: auto: the browser
// lays out and paints only the chunks on screen, and a chunk off screen
// takes its placeholder height, chunkRows × rowPx (every row is rowPx
// high: style.css and app.js hold the same figure).
const (
	chunkRows = 100
	rowPx     = 24
)

// rowsHTML is the table's bodies: every row, in chunks of chunkRows; the
// last, shorter chunk carries its own placeholder height.
func rowsHTML(rows []rowView) template.HTML {
	b := make([]byte, 0, 200*len(rows)+40*(len(rows)/chunkRows+1))
	if len(rows) == 0 {
		return "<tbody></tbody>\n"
	}
	for i := range rows {
		if i%chunkRows == 0 {
			if i > 0 {
				b = append(b, "</tbody>\n"...)
			}
			if n := len(rows) - i; n < chunkRows {
				b = append(b, `<tbody style="contain-intrinsic-size:auto `...)
				b = strconv.AppendInt(b, int64(n*rowPx), 10)
				b = append(b, `px">`...)
			} else {
				b = append(b, "<tbody>"...)
			}
		}
		b = appendRow(b, &rows[i]) // no newline: it would be a text node in the table
	}
	b = append(b, "</tbody>\n"...)
	return template.HTML(b)
}
