package reconcile

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The JSON plan format is a contract: docs/plan-json.md describes it and
// docs/plan-schema.json states it as a strict JSON Schema (no unknown
// fields), so renaming or adding a field without documenting it fails here.
const (
	planSchemaFile = "../docs/plan-schema.json"
	planDocFile    = "../docs/plan-json.md"
)

func compilePlanSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(planSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", planSchemaFile, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("plan-schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("plan-schema.json")
	if err != nil {
		t.Fatalf("%s: %v", planSchemaFile, err)
	}
	return sch
}

func validatePlanJSON(sch *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// planEncodings are the two JSON forms of a plan: plan --json (without the
// desired state) and a saved plan (with it).
func planEncodings(t *testing.T, p *Plan) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	cp := *p
	cp.Desired = nil
	for name, v := range map[string]*Plan{"json": &cp, "saved": p} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

// TestPlanJSONSchema encodes the plan of every golden case, in both forms,
// and validates it against docs/plan-schema.json.
func TestPlanJSONSchema(t *testing.T) {
	sch := compilePlanSchema(t)
	for _, pc := range planCases() {
		t.Run(pc.name, func(t *testing.T) {
			e := newPlanEnv(t)
			running, desired := pc.states(e)
			p := diff(t, running, desired)
			for form, data := range planEncodings(t, p) {
				if err := validatePlanJSON(sch, data); err != nil {
					t.Errorf("%s form does not match %s: %v\n%s", form, planSchemaFile, err, data)
				}
				// A program reading the plan gets back what was encoded.
				var back Plan
				if err := json.Unmarshal(data, &back); err != nil {
					t.Fatal(err)
				}
				if back.FormatVersion != PlanFormatVersion || back.Summary != p.Summary || len(back.ResourceChanges) != len(p.ResourceChanges) {
					t.Errorf("%s form does not read back: %+v", form, back)
				}
			}
		})
	}
}

// TestPlanJSONSchemaRejectsRenames proves the check has teeth: a plan with
// any field renamed, an unknown action, or a node attribute renamed does
// not validate.
func TestPlanJSONSchemaRejectsRenames(t *testing.T) {
	sch := compilePlanSchema(t)
	e := newPlanEnv(t)
	// A plan with every resource type and action but create.
	f := edit(t, baseFiles(), "main.hcl", `52:54:00:00:00:02`, `52:54:00:00:00:22`)
	f = edit(t, f, "main.hcl", `address = "10.99.0.1"`, "address   = \"10.99.0.1\"\n  http_port = 8080")
	f = edit(t, f, "main.hcl", `lease_time = "1h"`, `lease_time = "2h"`)
	f = with(f, "overlays/generic/etc/motd", "new motd\n")
	desired := e.desire(f, map[string]string{"image": e.image2}, true, nextHash, "everything")
	data := planEncodings(t, diff(t, e.running(baseFiles()), desired))["json"]
	if err := validatePlanJSON(sch, data); err != nil {
		t.Fatalf("the unchanged plan does not validate: %v", err)
	}
	for _, m := range []struct{ old, new string }{
		{`"format_version"`, `"formatVersion"`},
		{`"resource_changes"`, `"changes"`},
		{`"needs_reboot":[`, `"reboot":[`},
		{`"needs_reboot":false`, `"reboot":false`},
		{`"address"`, `"addr"`},
		{`"actions"`, `"action"`},
		{`"before"`, `"old"`},
		{`"summary"`, `"totals"`},
		{`"add"`, `"added"`},
		{`"kernel_args"`, `"kernelargs"`},
		{`"runtime_input"`, `"runtime_key"`},
		{`"file etc/motd"`, `"etc/motd"`},
		{`"content"`, `"input"`},
		{`"http_port"`, `"port"`},
		{`"lease_time"`, `"lease"`},
		{`["delete","create"]`, `["replace"]`},
		{`["update"]`, `["change"]`},
	} {
		if !bytes.Contains(data, []byte(m.old)) {
			t.Errorf("the test plan has no %s", m.old)
			continue
		}
		bad := bytes.Replace(data, []byte(m.old), []byte(m.new), 1)
		if err := validatePlanJSON(sch, bad); err == nil {
			t.Errorf("a plan with %s renamed to %s still validates", m.old, m.new)
		}
	}
}

// TestPlanJSONFieldsDocumented checks that every JSON field of the Go
// types is in the schema and in docs/plan-json.md, and that every
// before/after attribute the schema lists is documented: a field renamed
// in Go but not in the contract (even one omitted when empty) fails.
func TestPlanJSONFieldsDocumented(t *testing.T) {
	schema, err := os.ReadFile(planSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(planDocFile)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	var summary struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(s.Properties["summary"], &summary); err != nil {
		t.Fatal(err)
	}
	props := map[reflect.Type]map[string]json.RawMessage{
		reflect.TypeFor[Plan]():            s.Properties,
		reflect.TypeFor[ResourceChange]():  s.Defs["resource_change"].Properties,
		reflect.TypeFor[AttributeChange](): s.Defs["attribute_change"].Properties,
		reflect.TypeFor[PlanSummary]():     summary.Properties,
	}
	for typ, want := range props {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if _, ok := want[name]; !ok {
				t.Errorf("%s field %q is not in %s", typ.Name(), name, planSchemaFile)
			}
			if !bytes.Contains(doc, []byte("`"+name+"`")) {
				t.Errorf("%s field %q is not documented in %s", typ.Name(), name, planDocFile)
			}
		}
	}
	for _, def := range []string{"server", "network", "image", "node"} {
		for name := range s.Defs[def].Properties {
			if !bytes.Contains(doc, []byte("`"+name+"`")) {
				t.Errorf("%s attribute %q is not documented in %s", def, name, planDocFile)
			}
		}
	}
	// And the attribute maps Diff makes have exactly the schema's names.
	for def, attrs := range map[string]map[string]any{
		"server": serverAttrs(ServerState{}), "network": networkAttrs(NetworkState{}),
		"image": imageAttrs(ImageState{Exclude: []string{}}),                                     // exclude only when set
		"node":  nodeAttrs(NodeState{AssetKey: "hmac-sha256:x", Root: "tmpfs", RootSize: "50%"}), // asset_key, root only when set
	} {
		for name := range attrs {
			if _, ok := s.Defs[def].Properties[name]; !ok {
				t.Errorf("%s attribute %q is not in %s", def, name, planSchemaFile)
			}
		}
		for name := range s.Defs[def].Properties {
			if _, ok := attrs[name]; !ok {
				t.Errorf("%s attribute %q of %s is no longer made by Diff", def, name, planSchemaFile)
			}
		}
	}
}
