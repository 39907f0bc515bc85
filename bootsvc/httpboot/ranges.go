package httpboot

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveContent is http.ServeContent with one fault of it mended: a suffix
// range of length zero (`Range: bytes=-0`) asks for no byte at all, which
// RFC 9110 calls unsatisfiable, but ServeContent answers it with 206 and
// an invalid Content-Range (bytes size-(size-1)/size). Such ranges are
// dropped from the header; when none is left, the answer is 416 with
// Content-Range bytes */size.
func serveContent(w http.ResponseWriter, r *http.Request, content io.ReadSeeker, size int64) {
	if rh := r.Header.Get("Range"); rh != "" {
		if kept, changed := dropEmptySuffixRanges(rh); changed {
			if kept == "" {
				w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
				w.Header()["Content-Type"] = hdrText
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				w.Write([]byte("Requested Range Not Satisfiable: a suffix range of length 0 selects no byte\n"))
				return
			}
			r.Header.Set("Range", kept)
		}
	}
	http.ServeContent(w, r, "", time.Time{}, content)
}

// dropEmptySuffixRanges removes the "-0" specs (suffix length zero, any
// number of zeros, spaces allowed) from a bytes Range header. It reports
// whether it removed any and what is left ("" when nothing is).
func dropEmptySuffixRanges(h string) (string, bool) {
	unit, specs, ok := strings.Cut(h, "=")
	if !ok || strings.TrimSpace(unit) != "bytes" {
		return h, false
	}
	var kept []string
	changed := false
	for _, spec := range strings.Split(specs, ",") {
		s := strings.TrimSpace(spec)
		if strings.HasPrefix(s, "-") && len(s) > 1 && strings.Trim(s[1:], "0") == "" {
			changed = true
			continue
		}
		kept = append(kept, s)
	}
	if !changed {
		return h, false
	}
	if len(kept) == 0 {
		return "", true
	}
	return "bytes=" + strings.Join(kept, ","), true
}
