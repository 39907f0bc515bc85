package serve

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/tlsca"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// loadTrust returns the server's CA, overlay key and (with
// --tls-cert/--tls-key) its own certificate, creating what is missing in
// the state directory.
func loadTrust(cfg Config) (*tlsca.Bundle, error) {
	return tlsca.Load(tlsca.Options{StateDir: cfg.State, CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey})
}

// artifactTrust is what every system overlay carries from b.
func artifactTrust(b *tlsca.Bundle) *artifact.Trust {
	return &artifact.Trust{CA: b.CAPEM, OverlayKey: b.OverlayPub}
}

// httpsKey is the "https" service's socket key: the port and the address
// its certificate names; "" when it does not run.
func (s *services) httpsKey(srv *bootsvc.Server) string {
	if s.agentTLS == nil || srv.HTTPSPort == 0 {
		return ""
	}
	return ":" + strconv.Itoa(srv.HTTPSPort) + "|" + srv.Address.String()
}

// bindHTTPS binds the agents' HTTPS listener for srv with a certificate
// for its address.
func (s *services) bindHTTPS(sl *slot, srv *bootsvc.Server) ([]func(context.Context) error, error) {
	tc, err := s.agentTLS.ServerConfigFor([]string{srv.Address.String()})
	if err != nil {
		return nil, err
	}
	if s.agentTLS.Issued {
		s.log.Info("issued the agents' HTTPS certificate", "address", srv.Address)
	}
	addr := ":" + strconv.Itoa(srv.HTTPSPort)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTPS on %s: %w (change https_port in the server block)", addr, err)
	}
	sl.closers = append(sl.closers, ln)
	sl.addrs = append(sl.addrs, ln.Addr().String())
	return []func(context.Context) error{func(ctx context.Context) error { return s.http.ServeAgentTLS(ctx, ln, tc) }}, nil
}
