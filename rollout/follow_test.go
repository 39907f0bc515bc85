package rollout

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsRequest(t *testing.T) {
	req, err := Options{Batch: "10%", MaxFailures: 2, Timeout: time.Minute, Tags: []string{"rack=r1"}}.Request()
	if err != nil || req.Batch != "10%" || req.MaxFailures == nil || *req.MaxFailures != 2 || req.Timeout != "1m0s" || req.Tags["rack"] != "r1" {
		t.Fatalf("Request: %+v, %v", req, err)
	}
	req, err = Options{MaxFailures: -1}.Request()
	if err != nil || req.MaxFailures != nil || req.Timeout != "" || req.Tags != nil {
		t.Fatalf("defaults: %+v, %v", req, err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Batch: "x", MaxFailures: -1}, "--batch"},
		{Options{MaxFailures: -2}, "must be 0 or more"},
		{Options{MaxFailures: -1, Timeout: -time.Second}, "must be positive"},
		{Options{MaxFailures: -1, Tags: []string{"rack"}}, "expected KEY=VALUE"},
	} {
		if _, err := tc.o.Request(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
