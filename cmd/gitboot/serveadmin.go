package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
)

// adminListener is serve's admin listener (--listen-admin), bound before
// the boot services start so that a bad address or a missing token stops
// serve at once.
type adminListener struct {
	ln    net.Listener
	token string
}

// adminConfig is serve's admin listener as the flags ask for it.
type adminConfig struct {
	addr, token string
}

// checkAdmin reads the admin token and checks that a non-loopback
// --listen-admin has one, before serve does anything else.
func checkAdmin(addr string) (adminConfig, error) {
	if addr == "" {
		return adminConfig{}, nil
	}
	tok, err := adminToken()
	if err != nil {
		return adminConfig{}, err
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return adminConfig{}, fmt.Errorf("--listen-admin %q: %w", addr, err)
	}
	if err := needsToken(addr, ta, tok); err != nil {
		return adminConfig{}, err
	}
	return adminConfig{addr: addr, token: tok}, nil
}

func needsToken(addr string, a net.Addr, tok string) error {
	err := httpboot.CheckAdminAddr(a, tok)
	if errors.Is(err, httpboot.ErrAdminNeedsToken) {
		return fmt.Errorf("--listen-admin %s is not a loopback address: give --admin-token-file FILE (a bearer token the clients send too), or listen on %s", addr, defaultListenAdmin)
	}
	return err
}

// listen binds the admin listener; nil without one.
func (c adminConfig) listen() (*adminListener, error) {
	if c.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener on %s: %w (use --listen-admin)", c.addr, err)
	}
	if err := needsToken(c.addr, ln.Addr(), c.token); err != nil {
		ln.Close()
		return nil, err
	}
	return &adminListener{ln: ln, token: c.token}, nil
}

// Addr is the bound address ("" without an admin listener).
func (a *adminListener) Addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Serve serves h's admin routes until ctx ends; without an admin
// listener it returns nil at once.
func (a *adminListener) Serve(ctx context.Context, h *httpboot.Handler) error {
	if a == nil {
		return nil
	}
	if err := h.ServeAdmin(ctx, a.ln, a.token); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}
