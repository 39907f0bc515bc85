// Package redfish switches a machine's power through its BMC's Redfish
// service (DMTF DSP0266) over HTTPS with net/http: the ComputerSystem is
// found from /redfish/v1/Systems, its PowerState read, and its
// #ComputerSystem.Reset action posted with a ResetType the service allows.
// HTTP basic authentication; Config.Insecure accepts a self-signed
// certificate. It is imported by package power only.
package redfish

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config says how to reach one Redfish service.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	// Insecure accepts any certificate (a BMC's self-signed one).
	Insecure bool
	// Scheme is "https" (default) or "http" (tests only).
	Scheme string
	// Client is the HTTP client to use; nil: one built from Insecure.
	Client *http.Client
}

// Conn is a Redfish service with its ComputerSystem found.
type Conn struct {
	cfg     Config
	base    string // scheme://host:port
	client  *http.Client
	system  string   // the ComputerSystem's @odata.id
	target  string   // its #ComputerSystem.Reset target
	allowed []string // ResetType@Redfish.AllowableValues; nil: not advertised
}

// maxBody bounds what is read of one answer.
const maxBody = 1 << 20

// Dial finds the first ComputerSystem of the service's Systems collection
// and its Reset action.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Scheme == "" {
		cfg.Scheme = "https"
	}
	c := &Conn{cfg: cfg, client: cfg.Client,
		base: cfg.Scheme + "://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
	if c.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: cfg.Insecure} //nolint:gosec // a BMC's self-signed certificate, when the bmc block says so
		tr.Proxy = nil
		tr.MaxIdleConnsPerHost = 2
		c.client = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	var coll struct {
		Members []struct {
			ID string `json:"@odata.id"`
		} `json:"Members"`
	}
	if err := c.get(ctx, "/redfish/v1/Systems", &coll); err != nil {
		return nil, err
	}
	if len(coll.Members) == 0 || coll.Members[0].ID == "" {
		return nil, errors.New("/redfish/v1/Systems lists no ComputerSystem")
	}
	c.system = coll.Members[0].ID
	sys, err := c.readSystem(ctx)
	if err != nil {
		return nil, err
	}
	reset := sys.Actions.Reset
	if reset.Target == "" {
		return nil, fmt.Errorf("%s has no #ComputerSystem.Reset action", c.system)
	}
	c.target, c.allowed = reset.Target, reset.Allowed
	return c, nil
}

type system struct {
	PowerState string `json:"PowerState"`
	Actions    struct {
		Reset struct {
			Target  string   `json:"target"`
			Allowed []string `json:"ResetType@Redfish.AllowableValues"`
		} `json:"#ComputerSystem.Reset"`
	} `json:"Actions"`
}

func (c *Conn) readSystem(ctx context.Context) (*system, error) {
	var s system
	if err := c.get(ctx, c.system, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// State reports whether the system is on: PowerState "On" or
// "PoweringOff" (still running) is on, "Off" or "PoweringOn" is off.
func (c *Conn) State(ctx context.Context) (bool, error) {
	s, err := c.readSystem(ctx)
	if err != nil {
		return false, err
	}
	switch s.PowerState {
	case "On", "PoweringOff":
		return true, nil
	case "Off", "PoweringOn":
		return false, nil
	}
	return false, fmt.Errorf("%s: unknown PowerState %q", c.system, s.PowerState)
}

// On posts ResetType On.
func (c *Conn) On(ctx context.Context) error { return c.reset(ctx, "On") }

// Off posts ResetType ForceOff.
func (c *Conn) Off(ctx context.Context) error { return c.reset(ctx, "ForceOff") }

// Reset posts ResetType ForceRestart.
func (c *Conn) Reset(ctx context.Context) error { return c.reset(ctx, "ForceRestart") }

// Cycle posts ResetType PowerCycle when the service allows it, else
// ForceRestart, else ForceOff and then On.
func (c *Conn) Cycle(ctx context.Context) error {
	switch {
	case c.allows("PowerCycle"):
		return c.reset(ctx, "PowerCycle")
	case c.allows("ForceRestart"):
		return c.reset(ctx, "ForceRestart")
	}
	if err := c.reset(ctx, "ForceOff"); err != nil {
		return err
	}
	return c.reset(ctx, "On")
}

// allows reports whether t is among the advertised reset types (any is,
// when the service does not list them, except PowerCycle, which is optional).
func (c *Conn) allows(t string) bool {
	if c.allowed == nil {
		return t != "PowerCycle"
	}
	return slices.Contains(c.allowed, t)
}

func (c *Conn) reset(ctx context.Context, resetType string) error {
	if !c.allows(resetType) {
		return fmt.Errorf("the service does not allow ResetType %s (it allows %s)", resetType, strings.Join(c.allowed, ", "))
	}
	body, _ := json.Marshal(map[string]string{"ResetType": resetType})
	_, err := c.do(ctx, http.MethodPost, c.target, body)
	if err != nil {
		return fmt.Errorf("ResetType %s: %w", resetType, err)
	}
	return nil
}

// Close releases idle connections.
func (c *Conn) Close() error {
	if c.cfg.Client == nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

func (c *Conn) get(ctx context.Context, path string, v any) error {
	data, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("GET %s: decoding the answer: %w", path, err)
	}
	return nil
}

// do sends one request to path (an @odata.id or a target: a path on the
// service, never another host) and returns the body of a 2xx answer.
func (c *Conn) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	u, err := url.Parse(path)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/redfish/") {
		return nil, fmt.Errorf("%s %q: not a path on the Redfish service", method, path)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s %s: %s (wrong user name or password?)", method, path, resp.Status)
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("%s %s: %s%s", method, path, resp.Status, redfishMessage(data))
	}
	return data, nil
}

// redfishMessage extracts the message of a Redfish error body, if any.
func redfishMessage(data []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
		return ": " + e.Error.Message
	}
	return ""
}
