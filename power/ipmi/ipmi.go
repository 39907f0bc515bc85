// Package ipmi switches a machine's power through its BMC over IPMI 2.0
// LAN (lanplus: RAKP authentication, an encrypted session), with
// github.com/bougou/go-ipmi (pkg/client). It is imported by package power only.
package ipmi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goipmi "github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// exchangeTimeout bounds one request and its answer (UDP); the caller's
// context bounds the whole session.
const exchangeTimeout = 3 * time.Second

// Conn is an open lanplus session with one BMC.
type Conn struct {
	c *goipmi.Client
}

// Dial opens a lanplus session with the BMC at host:port.
func Dial(ctx context.Context, host string, port int, username, password string) (*Conn, error) {
	c, err := goipmi.NewClient(host, port, username, password)
	if err != nil {
		return nil, fmt.Errorf("ipmi client: %w", err)
	}
	c.WithInterface(goipmi.InterfaceLanplus).WithTimeout(exchangeTimeout).WithRetry(1)
	c.WithMaxPrivilegeLevel(types.PrivilegeLevelAdministrator)
	// Try suites 17 (HMAC-SHA256, AES) and 3 (HMAC-SHA1, AES), as ipmitool
	// does, instead of asking for the list first: some BMCs (ipmi_sim
	// among them) never answer Get Channel Cipher Suites, which would cost
	// two timeouts per session.
	c.WithCipherSuiteID(types.CipherSuiteID17, types.CipherSuiteID3)
	if err := c.Connect(ctx); err != nil {
		// Close the UDP socket (a long-running server must not leak one
		// per failed session); the close-session request it also sends
		// may go unanswered.
		cctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_ = c.Close(cctx)
		cancel()
		if refused(err) {
			return nil, errors.New("the BMC refused the user name or password (RAKP authentication failed)")
		}
		return nil, fmt.Errorf("opening a lanplus session: %s", oneLine(err))
	}
	return &Conn{c: c}, nil
}

// refused reports whether a failed session setup failed on the
// credentials: the BMC's RAKP2 answer did not match the password, or it
// did not know the user name.
func refused(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "rakp2 authentication code mismatch") || strings.Contains(s, "unauthorized name") ||
		strings.Contains(s, "invalid name") || strings.Contains(s, "unauthorized role")
}

// oneLine puts go-ipmi's multi-line errors (one line per cipher suite
// tried) on one line, for a table cell.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// State reports whether the machine is powered on (Get Chassis Status).
func (c *Conn) State(ctx context.Context) (bool, error) {
	st, err := c.c.GetChassisStatus(ctx)
	if err != nil {
		return false, fmt.Errorf("get chassis status: %w", err)
	}
	return st.PowerIsOn, nil
}

func (c *Conn) control(ctx context.Context, what chassis.ChassisControl) error {
	if _, err := c.c.ChassisControl(ctx, what); err != nil {
		return fmt.Errorf("chassis control %d: %w", what, err)
	}
	return nil
}

// On powers the machine up.
func (c *Conn) On(ctx context.Context) error { return c.control(ctx, chassis.ChassisControlPowerUp) }

// Off powers the machine down at once (not a soft shutdown).
func (c *Conn) Off(ctx context.Context) error { return c.control(ctx, chassis.ChassisControlPowerDown) }

// Cycle powers the machine down and up again.
func (c *Conn) Cycle(ctx context.Context) error {
	return c.control(ctx, chassis.ChassisControlPowerCycle)
}

// Reset resets the machine (a hard reset, power stays on).
func (c *Conn) Reset(ctx context.Context) error {
	return c.control(ctx, chassis.ChassisControlHardReset)
}

// Close ends the session.
func (c *Conn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), exchangeTimeout)
	defer cancel()
	return c.c.Close(ctx)
}
