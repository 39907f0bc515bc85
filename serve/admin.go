package serve

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
)

// DefaultListenAdmin is the admin listener's address unless --listen-admin
// says otherwise (and where the clients' --server points by default).
const DefaultListenAdmin = "127.0.0.1:9875"

// adminListener is serve's admin listener (Config.ListenAdmin), bound
// before the boot services start so that a bad address or a missing token
// stops serve at once.
type adminListener struct {
	ln    net.Listener
	token string
}

// checkAdmin checks that a non-loopback admin address has a token, before
// serve does anything else.
func checkAdmin(addr, tok string) error {
	if addr == "" {
		return nil
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return fmt.Errorf("--listen-admin %q: %w", addr, err)
	}
	return needsToken(addr, ta, tok)
}

func needsToken(addr string, a net.Addr, tok string) error {
	err := httpboot.CheckAdminAddr(a, tok)
	if errors.Is(err, httpboot.ErrAdminNeedsToken) {
		return fmt.Errorf("--listen-admin %s is not a loopback address: give --admin-token-file FILE (a bearer token the clients send too), or listen on %s", addr, DefaultListenAdmin)
	}
	return err
}

// listenAdmin binds the admin listener; nil without one.
func listenAdmin(addr, tok string) (*adminListener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener on %s: %w (use --listen-admin)", addr, err)
	}
	if err := needsToken(addr, ln.Addr(), tok); err != nil {
		ln.Close()
		return nil, err
	}
	return &adminListener{ln: ln, token: tok}, nil
}

// Addr is the bound address ("" without an admin listener).
func (a *adminListener) Addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Close releases the listener (nil: nothing).
func (a *adminListener) Close() {
	if a != nil {
		a.ln.Close()
	}
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
