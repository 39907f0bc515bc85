package rollout

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// MaxRequestBody bounds the body of POST /rollout.
const MaxRequestBody = 1 << 20

// ServeHTTP answers the server's /rollout: GET the current or last
// rollout's Progress as JSON ({} when there was none); POST a Request to
// start one (202 with its Progress; 200 for a dry run or when no node
// needs a reboot; 409 while another runs; 400 for a bad request); DELETE
// cancels the running one. Who may POST or DELETE is checked by the
// caller (httpboot: the server's own host only).
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := func(code int, v any) {
		data, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		w.Write(append(data, '\n'))
	}
	fail := func(code int, err error) { answer(code, map[string]string{"error": err.Error()}) }
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if p := m.Current(); p != nil {
			answer(http.StatusOK, p)
			return
		}
		answer(http.StatusOK, struct{}{})
	case http.MethodPost:
		var req Request
		dec := json.NewDecoder(io.LimitReader(r.Body, MaxRequestBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(http.StatusBadRequest, errors.New("reading the rollout request: "+err.Error()))
			return
		}
		req.Auto = false
		p, err := m.Start(r.Context(), req)
		switch {
		case errors.Is(err, ErrBusy):
			fail(http.StatusConflict, err)
		case errors.Is(err, ErrClosed):
			fail(http.StatusServiceUnavailable, err)
		case err != nil:
			fail(http.StatusBadRequest, err)
		case p.State == StateRunning:
			answer(http.StatusAccepted, p)
		default:
			answer(http.StatusOK, p)
		}
	case http.MethodDelete:
		if !m.Cancel(errors.New("canceled by DELETE /rollout")) {
			fail(http.StatusNotFound, errors.New("no rollout is running"))
			return
		}
		answer(http.StatusOK, m.Current())
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, DELETE")
		fail(http.StatusMethodNotAllowed, errors.New("only GET, POST and DELETE"))
	}
}
