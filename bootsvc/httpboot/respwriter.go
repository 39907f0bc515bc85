package httpboot

import (
	"io"
	"net/http"
	"sync"
)

// respWriter counts the status code and body bytes of a response. It keeps
// the underlying writer's ReadFrom, so files still go out with sendfile.
type respWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

var respPool = sync.Pool{New: func() any { return new(respWriter) }}

func (w *respWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *respWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		w.n += n
		return n, err
	}
	return io.Copy(writerOnly{w}, r)
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
