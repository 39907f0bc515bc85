// Package redfishtest is a small Redfish service (DMTF DSP0266) for tests:
// a service root, a Systems collection with one ComputerSystem whose
// PowerState and #ComputerSystem.Reset action drive a Machine (a QEMU
// process in the end-to-end tests), HTTP basic authentication and, with
// ServeTLS, HTTPS with a self-signed certificate. No Redfish emulator is
// packaged for Debian; real clients (redfishtool, gitboot power) are run
// against this one. Imported by tests only.
package redfishtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Machine is what the ComputerSystem's power controls.
type Machine interface {
	On() bool
	PowerOn() error
	PowerOff() error
	// Reset restarts a running machine (off and on again).
	Reset() error
}

// Paths of the service's resources.
const (
	RootPath   = "/redfish/v1/"
	SystemsURI = "/redfish/v1/Systems"
	SystemURI  = "/redfish/v1/Systems/1"
	ResetURI   = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
)

// ResetTypes are the reset types the ComputerSystem allows by default.
var ResetTypes = []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"}

// Service is the Redfish service; it is an http.Handler.
type Service struct {
	m          Machine
	user, pass string
	// Allowed are the ResetType values advertised and accepted.
	Allowed []string

	mu     sync.Mutex
	resets []string // the reset types posted, in order
}

// New returns a service for m that accepts user and pass.
func New(m Machine, user, pass string) *Service {
	return &Service{m: m, user: user, pass: pass, Allowed: slices.Clone(ResetTypes)}
}

// Resets returns the reset types posted so far.
func (s *Service) Resets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resets)
}

// ServeHTTP answers the Redfish resources. The service root (and
// /redfish) is open, as the standard says; everything else needs basic
// authentication.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch path {
	case "/redfish":
		s.json(w, http.StatusOK, map[string]any{"v1": RootPath})
		return
	case "/redfish/v1":
		s.json(w, http.StatusOK, s.root())
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.user)) != 1 ||
		subtle.ConstantTimeCompare([]byte(p), []byte(s.pass)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="redfish"`)
		s.fail(w, http.StatusUnauthorized, "Base.1.8.InsufficientPrivilege", "Authentication required.")
		return
	}
	switch {
	case path == SystemsURI && r.Method == http.MethodGet:
		s.json(w, http.StatusOK, map[string]any{
			"@odata.id": SystemsURI, "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
			"@odata.context": "/redfish/v1/$metadata#ComputerSystemCollection.ComputerSystemCollection",
			"Name":           "Computer System Collection", "Members@odata.count": 1,
			"Members": []any{map[string]string{"@odata.id": SystemURI}},
		})
	case path == SystemURI && r.Method == http.MethodGet:
		s.json(w, http.StatusOK, s.system())
	case path == ResetURI && r.Method == http.MethodPost:
		s.reset(w, r)
	case path == SystemsURI || path == SystemURI || path == ResetURI:
		s.fail(w, http.StatusMethodNotAllowed, "Base.1.8.OperationNotAllowed", r.Method+" is not allowed here.")
	default:
		s.fail(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "No resource at "+r.URL.Path+".")
	}
}

func (s *Service) root() map[string]any {
	return map[string]any{
		"@odata.id": RootPath, "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
		"@odata.context": "/redfish/v1/$metadata#ServiceRoot.ServiceRoot",
		"Id":             "RootService", "Name": "gitboot test Redfish service", "RedfishVersion": "1.6.0",
		"UUID":    "92384634-2938-2342-8820-489239905423",
		"Systems": map[string]string{"@odata.id": SystemsURI},
		"Links":   map[string]any{"Sessions": map[string]string{"@odata.id": "/redfish/v1/SessionService/Sessions"}},
	}
}

func (s *Service) system() map[string]any {
	state := "Off"
	if s.m.On() {
		state = "On"
	}
	return map[string]any{
		"@odata.id": SystemURI, "@odata.type": "#ComputerSystem.v1_5_0.ComputerSystem",
		"@odata.context": "/redfish/v1/$metadata#ComputerSystem.ComputerSystem",
		"Id":             "1", "Name": "QEMU node", "SystemType": "Physical", "PowerState": state,
		"Status": map[string]string{"State": "Enabled", "Health": "OK"},
		"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
			"target": ResetURI, "ResetType@Redfish.AllowableValues": s.Allowed,
		}},
	}
}

func (s *Service) reset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ResetType string `json:"ResetType"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		s.fail(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body is not valid JSON.")
		return
	}
	if !slices.Contains(s.Allowed, req.ResetType) {
		s.fail(w, http.StatusBadRequest, "Base.1.8.ActionParameterValueNotInList",
			fmt.Sprintf("ResetType %q is not one of %s.", req.ResetType, strings.Join(s.Allowed, ", ")))
		return
	}
	s.mu.Lock()
	s.resets = append(s.resets, req.ResetType)
	s.mu.Unlock()
	var err error
	on := s.m.On()
	switch req.ResetType {
	case "On":
		if !on {
			err = s.m.PowerOn()
		}
	case "ForceOff", "GracefulShutdown":
		if on {
			err = s.m.PowerOff()
		}
	case "ForceRestart", "PowerCycle":
		if on {
			err = s.m.Reset()
		} else {
			err = s.m.PowerOn()
		}
	}
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "Base.1.8.InternalError", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Service) fail(w http.ResponseWriter, code int, id, msg string) {
	s.json(w, code, map[string]any{"error": map[string]any{
		"code": id, "message": msg,
		"@Message.ExtendedInfo": []any{map[string]string{"MessageId": id, "Message": msg}},
	}})
}

// ServeTLS serves the service over HTTPS on l with a fresh self-signed
// certificate for host (an IP address or a name) until l is closed.
func (s *Service) ServeTLS(l net.Listener, host string) error {
	cert, err := SelfSigned(host)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	return srv.Serve(tls.NewListener(l, srv.TLSConfig))
}

// SelfSigned makes a self-signed ECDSA certificate for host.
func SelfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host, Organization: []string{"gitboot redfishtest"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
