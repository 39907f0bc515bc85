package main

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/tlsca"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/spf13/pflag"
)

// tlsFlags are serve's flags for the agents' HTTPS listener.
type tlsFlags struct {
	cert, key string
}

func (f *tlsFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.cert, "tls-cert", "", "certificate (PEM, chain after the leaf) for the agents' HTTPS listener (https_port); it must name the server block's address. Agents pin the file's last certificate. Default: one issued by gitboot's own CA in --state/tls")
	fl.StringVar(&f.key, "tls-key", "", "the key of --tls-cert (PEM)")
}

// load returns the server's CA, overlay key and (with the flags) its own
// certificate, creating what is missing in the state directory.
func (f tlsFlags) load(stateDir string) (*tlsca.Bundle, error) {
	return tlsca.Load(tlsca.Options{StateDir: stateDir, CertFile: f.cert, KeyFile: f.key})
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

// startHTTPS binds the agents' HTTPS listener for srv with a certificate
// for its address.
func (s *services) startHTTPS(sl *slot, srv *bootsvc.Server) (func(context.Context) error, error) {
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
	return func(ctx context.Context) error { return s.http.ServeAgentTLS(ctx, ln, tc) }, nil
}
