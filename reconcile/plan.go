package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// PlanFormatVersion is the version of the JSON plan format (plan --json,
// plan --out). Consumers check its major part.
const PlanFormatVersion = "1.0"

// Actions of a resource change, as in `terraform show -json`.
const (
	ActCreate = "create"
	ActUpdate = "update"
	ActDelete = "delete"
)

// Plan is the difference between a running state and a desired one: what
// apply would change. It is made by Diff and printed by WriteText or
// encoded as JSON (its fields are the documented format).
type Plan struct {
	FormatVersion string `json:"format_version"`
	// Commit is the commit planned; PriorCommit the one running ("" when
	// nothing was applied yet).
	Commit      string `json:"commit"`
	Subject     string `json:"subject,omitempty"`
	PriorCommit string `json:"prior_commit,omitempty"`
	// InventoryDigest is the digest of the running inventory the plan was
	// made against ("" when none): apply refuses a plan whose digest is
	// not the running one's (stale).
	InventoryDigest string           `json:"inventory_digest,omitempty"`
	ResourceChanges []ResourceChange `json:"resource_changes"`
	// NeedsReboot lists running nodes whose kernel, image, kernel
	// arguments or system overlay change: they pick the change up only
	// when rebooted.
	NeedsReboot []string `json:"needs_reboot"`
	// Unknown lists images whose content could not be checked where the
	// plan was made (known after apply).
	Unknown []string    `json:"unknown_images,omitempty"`
	Summary PlanSummary `json:"summary"`
	// Desired is the desired state planned (for apply of a saved plan).
	Desired *Inventory `json:"desired,omitempty"`

	// loaded is the commit as the plan evaluated it, for an apply in the
	// same process (not saved with the plan).
	loaded *loadedCommit
	// running is the running inventory the plan was made against, as
	// read from the state directory (nil: fetched from a server, or
	// nothing applied), for an apply in the same process (not saved).
	running *RunningRead
}

// RunningRead is the running inventory the plan was made against as it
// read it from a state directory (nil when it was not): pass it as
// Config.Prior to the reconciler applying the plan in this process.
func (p *Plan) RunningRead() *RunningRead { return p.running }

// loadedCommit is a commit loaded and validated (loadCached) with vars,
// its server block srv picked.
type loadedCommit struct {
	commit  string
	vars    map[string]string
	cluster *hclspec.Cluster
	srv     *hclspec.Server
	// cache is the evaluation cache the load used (nil: none), saved by
	// the apply: the plan could not write it when the state directory
	// did not exist yet (the first apply).
	cache *hclspec.EvalCache
	// inputs are the input keys the plan computed for cluster and srv
	// (nil: none kept): the apply examines the images again and takes the
	// node keys, which depend on the commit alone.
	inputs *artifact.Inputs
}

// PlanSummary counts resource changes; a replacement counts as one add and
// one destroy, as terraform does.
type PlanSummary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// HasChanges reports whether applying the plan changes anything.
func (p *Plan) HasChanges() bool { return len(p.ResourceChanges) > 0 }

// dropDetails forgets what people read in a plan (each change's before and
// after values and changed attributes, a few hundred bytes a node: 150 MB
// for 100,000 new nodes), keeping its addresses, actions, summary and the
// nodes that need a reboot. An apply does so before it builds: only the
// printed or saved plan needs the details.
func (p *Plan) dropDetails() {
	for i := range p.ResourceChanges {
		rc := &p.ResourceChanges[i]
		rc.Before, rc.After, rc.Attributes = nil, nil, nil
	}
}

// ResourceChange is one resource's change.
type ResourceChange struct {
	Address     string         `json:"address"` // e.g. "node.c001"
	Type        string         `json:"type"`    // server, network, image, overlay, node
	Name        string         `json:"name"`
	Actions     []string       `json:"actions"`
	Before      map[string]any `json:"before"`
	After       map[string]any `json:"after"`
	NeedsReboot bool           `json:"needs_reboot"`
	// Attributes lists the changed attributes in order, for people.
	Attributes []AttributeChange `json:"attributes,omitempty"`
}

// AttributeChange is one changed attribute: values rendered as HCL-ish
// literals; Old is empty for a new attribute, New for a removed one.
type AttributeChange struct {
	Name string `json:"name"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
	// Unknown: the new value is known after apply.
	Unknown bool `json:"unknown,omitempty"`
}

// knownAfterApply is how an unknown value is shown.
const knownAfterApply = "(known after apply)"

// sensitiveValue is how a secret (a node's asset_key) is shown: never its
// value, not even its hash.
const sensitiveValue = "(sensitive value)"

// newSensitiveValue is the new value of a secret that changed.
const newSensitiveValue = "(new sensitive value)"

// Diff computes the plan that makes running (nil: nothing applied yet)
// equal desired. runningDigest is the running inventory's Digest.
func Diff(running, desired *Inventory, runningDigest string) *Plan {
	if running == nil {
		running = &Inventory{}
	}
	p := &Plan{FormatVersion: PlanFormatVersion, Commit: desired.Commit, Subject: desired.Subject,
		PriorCommit: running.Commit, InventoryDigest: runningDigest, ResourceChanges: []ResourceChange{},
		NeedsReboot: []string{}, Desired: desired}

	// Server: one resource; another name is a replacement.
	if running.Server.Name != "" || desired.Server.Name != "" {
		before, after := serverAttrs(running.Server), serverAttrs(desired.Server)
		if running.Server.Name == "" {
			before = nil
		}
		p.add("server", desired.Server.Name, running.Server.Name, before, after, nil, false)
	}
	for _, name := range unionKeys(running.Networks, desired.Networks) {
		b, inB := running.Networks[name]
		a, inA := desired.Networks[name]
		p.add("network", name, name, attrsIf(inB, networkAttrs(b)), attrsIf(inA, networkAttrs(a)), nil, false)
	}
	imageChanged := map[string]bool{}
	for _, name := range unionKeys(running.Images, desired.Images) {
		b, inB := running.Images[name]
		a, inA := desired.Images[name]
		if inA && a.Unknown {
			p.Unknown = append(p.Unknown, name)
			if inB && a.Source == b.Source && !hclspec.IsRegistrySource(a.Source) {
				// Not knowable here: compare the rest. (A registry tag
				// may have moved: its digest is known after apply.)
				a.Input, a.Unknown = b.Input, false
			}
		}
		if p.add("image", name, name, attrsIf(inB, imageAttrs(b)), attrsIf(inA, imageAttrs(a)), nil, false) {
			imageChanged[name] = true
		}
	}
	// A new gitboot-agent (a server upgrade) changes every system overlay.
	agentChanged := running.Agent != "" && desired.Agent != "" && running.Agent != desired.Agent
	serverChanged := serverBootChanged(running.Server, desired.Server)
	for _, name := range unionKeys(running.Overlays, desired.Overlays) {
		b, inB := running.Overlays[name]
		a, inA := desired.Overlays[name]
		var extra []AttributeChange
		if agentChanged && name == initOverlayName && inA && inB {
			extra = []AttributeChange{{Name: "file " + agentFile, Old: render(Short(running.Agent)), New: render(Short(desired.Agent))}}
		}
		if inA && inB {
			extra = append(extra, secretFileChanges(b, a)...)
		}
		p.add("overlay", name, name, attrsIf(inB, overlayAttrs(name, b)), attrsIf(inA, overlayAttrs(name, a)), extra, false)
	}
	for _, name := range unionKeys(running.Nodes, desired.Nodes) {
		b, inB := running.Nodes[name]
		a, inA := desired.Nodes[name]
		if inA && inB && sameNode(&a, &b) && !imageChanged[a.Image] && !agentChanged && !serverChanged {
			continue // the common case: no attribute maps for 10,000 unchanged nodes
		}
		before, after := attrsIf(inB, nodeAttrs(b)), attrsIf(inA, nodeAttrs(a))
		reboot := false
		var extra []AttributeChange
		if inA && inB {
			extra, reboot = nodeChanges(running, desired, &b, &a, imageChanged[a.Image], agentChanged, serverChanged)
		}
		p.add("node", name, name, before, after, extra, reboot)
		// A node whose image's content or source changed needs a reboot
		// even when nothing of its own changed (it is then no resource
		// change); a replaced node (another MAC) boots anew anyway.
		if reboot && a.MAC == b.MAC {
			p.NeedsReboot = append(p.NeedsReboot, name)
		}
	}
	p.count()
	return p
}

// nodeChanges are the changes of node b (running) to a (desired) the
// attribute maps do not show, and whether it needs a reboot.
func nodeChanges(running, desired *Inventory, b, a *NodeState, imageChanged, agentChanged, serverChanged bool) (extra []AttributeChange, reboot bool) {
	switch {
	case a.SystemInput != b.SystemInput:
		extra = append(extra, AttributeChange{Name: "system_overlay", New: overlayChanges(running, desired, b.SystemOverlays, a.SystemOverlays, true)})
	case agentChanged:
		extra = append(extra, AttributeChange{Name: "system_overlay", New: initOverlayName + ": ~" + agentFile})
	}
	if ak, bk := a.assetKey(), b.assetKey(); !sameAssetKey(ak, bk) && ak != "" && bk != "" {
		// Both set: the attribute maps show the same placeholder.
		extra = append(extra, AttributeChange{Name: "asset_key", Old: sensitiveValue, New: newSensitiveValue})
	}
	if a.RuntimeInput != b.RuntimeInput {
		extra = append(extra, AttributeChange{Name: "runtime_overlay", New: overlayChanges(running, desired, b.RuntimeOverlays, a.RuntimeOverlays, false)})
	}
	reboot = serverChanged || a.SystemInput != b.SystemInput || agentChanged || a.Image != b.Image || imageChanged ||
		!slices.Equal(a.KernelArgs, b.KernelArgs) || a.Root != b.Root || a.RootSize != b.RootSize
	return extra, reboot
}

// add appends the change of one resource, if any, and reports whether
// there was one. before or after nil means absent; extra are changes
// not visible in the attribute maps (why an overlay input changed). A
// node whose MAC changes, or a server renamed, is replaced.
func (p *Plan) add(typ, name, oldName string, before, after map[string]any, extra []AttributeChange, reboot bool) bool {
	rc := ResourceChange{Address: typ + "." + name, Type: typ, Name: name, Before: before, After: after}
	switch {
	case before == nil && after == nil:
		return false
	case before == nil:
		rc.Actions = []string{ActCreate}
	case after == nil:
		rc.Actions = []string{ActDelete}
		rc.Address, rc.Name = typ+"."+oldName, oldName
	default:
		for _, k := range unionKeys(before, after) {
			if ov, nv := render(before[k]), render(after[k]); ov != nv && !hiddenAttr(k) {
				rc.Attributes = append(rc.Attributes, AttributeChange{Name: k, Old: ov, New: nv, Unknown: nv == knownAfterApply})
			}
		}
		rc.Attributes = append(rc.Attributes, extra...)
		if len(rc.Attributes) == 0 {
			return false
		}
		rc.Actions = []string{ActUpdate}
		if (typ == "node" && before["mac"] != after["mac"]) || (typ == "server" && oldName != name) {
			rc.Actions = []string{ActDelete, ActCreate}
		}
	}
	if rc.Actions[0] == ActCreate || len(rc.Actions) == 2 {
		rc.Attributes = rc.Attributes[:0]
		for _, k := range sortedKeys(after) {
			if hiddenAttr(k) {
				continue
			}
			ac := AttributeChange{Name: k, New: render(after[k])}
			if len(rc.Actions) == 1 && (ac.New == `""` || ac.New == "[]" || ac.New == "{}") {
				continue // unset: not worth a line
			}
			ac.Unknown = ac.New == knownAfterApply
			if len(rc.Actions) == 2 {
				ac.Old = render(before[k])
			}
			rc.Attributes = append(rc.Attributes, ac)
		}
	}
	if rc.Actions[0] == ActDelete && len(rc.Actions) == 1 {
		for _, k := range sortedKeys(before) {
			if !hiddenAttr(k) {
				rc.Attributes = append(rc.Attributes, AttributeChange{Name: k, Old: render(before[k])})
			}
		}
	}
	rc.NeedsReboot = reboot && len(rc.Actions) == 1 && rc.Actions[0] == ActUpdate
	p.ResourceChanges = append(p.ResourceChanges, rc)
	return true
}

// hiddenAttr: input keys are in before/after for programs; people see
// what changed in them as system_overlay / runtime_overlay lines.
func hiddenAttr(k string) bool { return k == "system_input" || k == "runtime_input" }

// overlayChanges says why a node's overlay input changed: the overlays
// added or removed from its list, the changed files of its overlays, or
// else that templates render differently (the data they read changed).
func overlayChanges(running, desired *Inventory, before, after []string, system bool) string {
	if system {
		before = append([]string{"gitboot-init"}, before...)
		after = append([]string{"gitboot-init"}, after...)
		if _, ok := desired.Overlays[accountsOverlayName]; ok {
			before = append(before, accountsOverlayName) // declared users and groups
			after = append(after, accountsOverlayName)
		}
	}
	var parts []string
	if !slices.Equal(before, after) {
		parts = append(parts, "overlays "+render(before)+" -> "+render(after))
	}
	for _, ov := range after {
		if !slices.Contains(before, ov) {
			continue
		}
		files := fileChanges(running.Overlays[ov], desired.Overlays[ov])
		if len(files) > 0 {
			parts = append(parts, ov+": "+strings.Join(files, ", "))
		}
	}
	if len(parts) == 0 {
		return "templates render differently"
	}
	return strings.Join(parts, "; ")
}

// fileChanges lists an overlay's changed files: "+path", "~path", "-path".
func fileChanges(before, after map[string]string) []string {
	var out []string
	for _, f := range unionKeys(before, after) {
		b, inB := before[f]
		a, inA := after[f]
		switch {
		case !inB:
			out = append(out, "+"+f)
		case !inA:
			out = append(out, "-"+f)
		case a != b:
			out = append(out, "~"+f)
		}
	}
	return out
}

// The built-in init overlay and the agent file in it, as the plan names
// them.
const (
	initOverlayName     = "gitboot-init"
	accountsOverlayName = "gitboot-accounts" // the declared users and groups (artifact/accounts.go)
	agentFile           = "usr/lib/gitboot/gitboot-agent"
)

// sameNode reports whether two node states are equal in everything a
// plan compares (artifact digests are outcomes, not inputs).
func sameNode(a, b *NodeState) bool {
	return a.MAC == b.MAC && a.IP == b.IP && a.Network == b.Network && a.Image == b.Image &&
		a.SystemInput == b.SystemInput && a.RuntimeInput == b.RuntimeInput &&
		slices.Equal(a.KernelArgs, b.KernelArgs) && maps.Equal(a.Tags, b.Tags) &&
		slices.Equal(a.SystemOverlays, b.SystemOverlays) && slices.Equal(a.RuntimeOverlays, b.RuntimeOverlays) &&
		sameAssetKey(a.assetKey(), b.assetKey()) && a.Root == b.Root && a.RootSize == b.RootSize &&
		sameBMC(a.BMC, b.BMC)
}

func attrsIf(present bool, m map[string]any) map[string]any {
	if !present {
		return nil
	}
	return m
}

func serverAttrs(s ServerState) map[string]any {
	return map[string]any{
		"name": s.Name, "address": s.Address, "networks": s.Networks, "interface": s.Interface,
		"http_port": s.HTTPPort, "https_port": s.HTTPSPort, "tftp_port": s.TFTPPort, "dhcp_port": s.DHCPPort, "dhcp_mode": s.DHCPMode,
		"ipxe_dir": s.IPXEDir, "uefi_boot_file": s.UEFIBootFile, "runtime_interval": s.RuntimeInterval,
		"router_advert": s.RouterAdvert, "secure_runtime": s.SecureRuntime, "auto_apply": s.AutoApply,
	}
}

func networkAttrs(n NetworkState) map[string]any {
	return map[string]any{
		"subnet": n.Subnet, "gateway": n.Gateway, "dns": nonNil(n.DNS), "domain": n.Domain,
		"lease_time": n.LeaseTime, "dynamic_range": nonNil(n.DynamicRange),
	}
}

func imageAttrs(i ImageState) map[string]any {
	content := Short(i.Input)
	if i.Unknown {
		content = knownAfterApply
	}
	m := map[string]any{"source": i.Source, "kernel": i.Kernel, "digest": i.Pin, "content": content,
		"platform": i.Platform, "compression": i.Compression}
	if i.Exclude != nil {
		m["exclude"] = nonNil(i.Exclude)
	}
	if hclspec.IsRegistrySource(i.Source) {
		// The digest the reference names now: a moved tag shows as
		// digest sha256:aa.. -> sha256:bb.. (content follows from it).
		m["digest"], m["content"] = i.Resolved, ""
		if i.Unknown {
			m["digest"] = knownAfterApply
		}
	}
	return m
}

// overlayAttrs are an overlay's plan attributes: "file PATH" for each
// file; the declared accounts' entries as they are ("user alice").
func overlayAttrs(name string, files map[string]string) map[string]any {
	prefix := "file "
	if name == accountsOverlayName {
		prefix = ""
	}
	m := make(map[string]any, len(files))
	for f, d := range files {
		m[prefix+f] = planFileValue(d)
	}
	return m
}

func nodeAttrs(n NodeState) map[string]any {
	tags := n.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	m := map[string]any{
		"mac": n.MAC, "ip": n.IP, "network": n.Network, "image": n.Image, "kernel_args": nonNil(n.KernelArgs),
		"tags": tags, "system_overlays": nonNil(n.SystemOverlays), "runtime_overlays": nonNil(n.RuntimeOverlays),
		"system_input": n.SystemInput, "runtime_input": n.RuntimeInput,
	}
	if n.assetKey() != "" {
		m["asset_key"] = sensitiveValue
	}
	addBMCAttrs(m, n.BMC)
	if n.Root != "" { // a tmpfs root; the default initramfs root is not shown
		m["root"], m["root_size"] = n.Root, n.RootSize
	}
	return m
}

// render shows a value as an HCL literal.
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		if v == knownAfterApply || v == sensitiveValue {
			return v
		}
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]string:
		var parts []string
		for _, k := range sortedKeys(v) {
			parts = append(parts, k+" = "+strconv.Quote(v[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func unionKeys[V any](a, b map[string]V) []string {
	out := make([]string, 0, len(a)+len(b))
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
