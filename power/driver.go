package power

import (
	"context"
	"fmt"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/power/ipmi"
	"github.com/gitboot/gitboot/power/redfish"
)

// conn is one session with a BMC, whichever its protocol.
type conn interface {
	State(ctx context.Context) (on bool, err error)
	On(ctx context.Context) error
	Off(ctx context.Context) error
	Cycle(ctx context.Context) error
	Reset(ctx context.Context) error
	Close() error
}

// dial opens a session with t's BMC.
func dial(ctx context.Context, t Target) (conn, error) {
	switch t.BMC.Driver {
	case hclspec.BMCDriverIPMI:
		return ipmi.Dial(ctx, t.BMC.Address, t.BMC.Port, t.Cred.Username, t.Cred.Password)
	case hclspec.BMCDriverRedfish:
		return redfish.Dial(ctx, redfish.Config{Host: t.BMC.Address, Port: t.BMC.Port,
			Username: t.Cred.Username, Password: t.Cred.Password, Insecure: t.BMC.Insecure})
	}
	return nil, fmt.Errorf("unknown BMC driver %q", t.BMC.Driver)
}
