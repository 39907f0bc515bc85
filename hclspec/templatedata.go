package hclspec

// The data overlay templates (*.tmpl) see as dot. reconcile/artifact fills
// it for each node; validation checks templates' field names against these
// types (CheckTemplate), so a misspelt field is an error at validate.

// TemplateData is what an overlay template sees as dot.
type TemplateData struct {
	Node TemplateNode
	// Network is the node's (boot) network; Networks every network the
	// node is on (its boot network first, then its interfaces' by name).
	Network  TemplateNetwork
	Networks []TemplateNetwork
	Cluster  TemplateCluster
	Server   TemplateServer
}

// TemplateNode is one node as templates see it.
type TemplateNode struct {
	Name       string
	MAC        string
	IP         string // empty when the node has no address
	Network    string // network name
	Domain     string // its network's domain
	Tags       map[string]string
	KernelArgs []string
	// Interfaces are the node's interface blocks (none: nil), sorted by
	// name.
	Interfaces []TemplateInterface
	// Profiles are the profiles listed on the node; Image its image's name.
	Profiles []string
	Image    string
	// BMC is the node's baseboard management controller (all empty: none).
	BMC TemplateBMC
	// Resources is the node's `resources` (see Resources and
	// FreezeResources); never nil, so a missing key reads as empty.
	Resources ResourceMap
}

// TemplateInterface is one of a node's interface blocks as templates see
// it (.Node.Interfaces).
type TemplateInterface struct {
	Name    string
	Type    string // ethernet | infiniband | bond | vlan
	MAC     string // may be empty for bond and vlan
	IP      string // empty when it has no address
	Network string // network name
	MTU     int    // 0: the default
	Members []string
	Parent  string
	VLANID  int
	Boot    bool // the boot NIC (its mac is the node's)
}

// TemplateBMC is a node's BMC as templates see it (no credentials).
type TemplateBMC struct {
	Driver  string // "ipmi" | "redfish"; empty: the node has no BMC
	Address string
	Port    int
}

// TemplateNetwork is a network as templates see it.
type TemplateNetwork struct {
	Name    string
	Subnet  string // "10.99.0.0/24"
	Prefix  int    // 24
	Netmask string // "255.255.255.0"
	Gateway string
	DNS     []string
	Domain  string
}

// TemplateCluster holds every node of the cluster, sorted by name.
type TemplateCluster struct {
	Nodes []TemplateNode
}

// TemplateServer is the gitboot server the node boots from.
type TemplateServer struct {
	Name     string
	Address  string
	HTTPPort int
	URL      string // "http://10.99.0.1:9873"
}

// ResourceMap and ResourceList are the objects and lists of a node's
// resources as templates see them: map[string]any and []any under names
// of their own, so that sprig's set and unset (which change a dict in
// place) refuse them: the data is shared by every node's render.
type (
	ResourceMap  map[string]any
	ResourceList []any
)

// FreezeResources returns r for templates: a copy whose objects are
// ResourceMaps and lists ResourceLists (never nil).
func FreezeResources(r Resources) ResourceMap {
	if r == nil {
		return ResourceMap{}
	}
	return freeze(r).(ResourceMap)
}

func freeze(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(ResourceMap, len(v))
		for k, e := range v {
			out[k] = freeze(e)
		}
		return out
	case []any:
		out := make(ResourceList, len(v))
		for i, e := range v {
			out[i] = freeze(e)
		}
		return out
	}
	return v
}
