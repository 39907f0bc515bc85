package artifact

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// decodeManifest decodes a manifest's text. The node records of one that
// Manifest.encode wrote (the only writer) are read by a parser of exactly
// that layout, some ten times faster than encoding/json at 10,000 nodes
// (an apply reads the current manifest); anything else it does not accept
// (another layout, an escaped or non-ASCII string, a number json would
// refuse) is decoded by encoding/json, as before.
func decodeManifest(data []byte) (*Manifest, error) {
	if m, ok := decodeManifestFast(data); ok {
		return m, nil
	}
	var m Manifest
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// decodeManifestFast decodes what Manifest.encode writes: the head
// (version, cluster, server, images) by encoding/json, then the node
// records; false for anything else.
func decodeManifestFast(data []byte) (*Manifest, bool) {
	d := json.NewDecoder(bytes.NewReader(data))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	head := bytes.NewBufferString("{")
	for {
		t, err := d.Token()
		if err != nil {
			return nil, false
		}
		key, _ := t.(string)
		if key == "nodes" {
			break
		}
		if key != "version" && key != "cluster" && key != "server" && key != "images" {
			return nil, false
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, false
		}
		if head.Len() > 1 {
			head.WriteByte(',')
		}
		head.WriteString(strconv.Quote(key))
		head.WriteByte(':')
		head.Write(v)
	}
	head.WriteByte('}')
	var m Manifest
	if err := json.Unmarshal(head.Bytes(), &m); err != nil || m.Nodes != nil {
		return nil, false
	}
	p := &manifestParser{b: data, at: int(d.InputOffset()), intern: map[string]string{}}
	if !p.lit(`:{`) {
		return nil, false
	}
	m.Nodes = map[string]nodeRecord{}
	if !p.lit(`}`) {
		for {
			name, ok := p.str()
			if !ok {
				return nil, false
			}
			rec, ok := p.record()
			if !ok {
				return nil, false
			}
			m.Nodes[name] = rec
			if p.lit(`}`) {
				break
			}
			if !p.lit(`,`) {
				return nil, false
			}
		}
	}
	if !p.lit(`}`) || p.at != len(data) {
		return nil, false
	}
	return &m, true
}

// manifestParser reads node records at b[at:]; each method reports
// whether the text was what Manifest.encode writes there.
type manifestParser struct {
	b      []byte
	at     int
	intern map[string]string // image names, shared by many nodes
}

func (p *manifestParser) lit(s string) bool {
	if !bytes.HasPrefix(p.b[p.at:], []byte(s)) {
		return false
	}
	p.at += len(s)
	return true
}

// record reads `:{"image":...,"runtime_input":"..."}`.
func (p *manifestParser) record() (nodeRecord, bool) {
	var r nodeRecord
	ok := p.lit(`:{"image":`)
	var image string
	if ok {
		image, ok = p.str()
		if s, seen := p.intern[image]; seen {
			image = s
		} else {
			p.intern[image] = image
		}
	}
	r.Image = image
	ok = ok && p.lit(`,"system":`) && p.ref(&r.System) && p.lit(`,"system_input":`) && p.strInto(&r.SystemInput) &&
		p.lit(`,"runtime":`) && p.ref(&r.Runtime) && p.lit(`,"runtime_input":`) && p.strInto(&r.RuntimeInput) && p.lit(`}`)
	return r, ok
}

// ref reads `{"sha256":"...","size":N}`.
func (p *manifestParser) ref(r *ref) bool {
	if !p.lit(`{"sha256":`) || !p.strInto(&r.Hex) || !p.lit(`,"size":`) {
		return false
	}
	start := p.at
	if p.at < len(p.b) && p.b[p.at] == '-' {
		p.at++
	}
	digits := p.at
	for p.at < len(p.b) && p.b[p.at] >= '0' && p.b[p.at] <= '9' {
		p.at++
	}
	if p.at == digits || p.b[digits] == '0' && p.at-digits > 1 { // none, or a leading zero (not JSON)
		return false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.at]), 10, 64)
	r.Size = n
	return err == nil && p.lit(`}`)
}

func (p *manifestParser) strInto(s *string) bool {
	v, ok := p.str()
	*s = v
	return ok
}

// str reads a quoted string of printable ASCII without escapes (what
// jsonstr.Append copies as it is); anything else is not taken.
func (p *manifestParser) str() (string, bool) {
	if !p.lit(`"`) {
		return "", false
	}
	start := p.at
	for ; p.at < len(p.b); p.at++ {
		switch c := p.b[p.at]; {
		case c == '"':
			s := string(p.b[start:p.at])
			p.at++
			return s, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
	}
	return "", false
}
