package wwimport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The nodes.conf data model, as Warewulf 4.6/4.7 writes it (field names
// from its YAML keys). Only what the importer maps or reports is decoded;
// the rest is found by keyword and listed in MIGRATION.md.

// wwConf is a parsed nodes.conf.
type wwConf struct {
	file     string
	profiles map[string]*wwProfile
	nodes    map[string]*wwProfile
}

// wwProfile holds the settings a profile and a node share (a node adds
// asset key and discoverable).
type wwProfile struct {
	Profiles       []string             `yaml:"profiles"`
	Comment        string               `yaml:"comment"`
	ClusterName    string               `yaml:"cluster name"`
	ImageName      string               `yaml:"image name"`
	ContainerName  string               `yaml:"container name"` // before 4.6
	Ipxe           string               `yaml:"ipxe template"`
	RuntimeOverlay list                 `yaml:"runtime overlay"`
	SystemOverlay  list                 `yaml:"system overlay"`
	Kernel         *wwKernel            `yaml:"kernel"`
	Ipmi           *wwIPMI              `yaml:"ipmi"`
	Init           string               `yaml:"init"`
	Root           string               `yaml:"root"`
	NetDevs        map[string]*wwNetDev `yaml:"network devices"`
	Tags           map[string]string    `yaml:"tags"`
	PrimaryNetDev  string               `yaml:"primary network"`
	Disks          map[string]any       `yaml:"disks"`
	FileSystems    map[string]any       `yaml:"filesystems"`
	Resources      map[string]any       `yaml:"resources"`
	AssetKey       string               `yaml:"asset key"`
	Discoverable   string               `yaml:"discoverable"`

	name string
	line int                   // the line of its name in nodes.conf
	keys map[string]int        // top-level key -> line
	sub  map[string]*yaml.Node // top-level key -> its value node
}

type wwKernel struct {
	Version string `yaml:"version"`
	Args    args   `yaml:"args"`
}

type wwIPMI struct {
	UserName   string            `yaml:"username"`
	Password   string            `yaml:"password"`
	Ipaddr     string            `yaml:"ipaddr"`
	Gateway    string            `yaml:"gateway"`
	Netmask    string            `yaml:"netmask"`
	Port       string            `yaml:"port"`
	Interface  string            `yaml:"interface"`
	EscapeChar string            `yaml:"escapechar"`
	Write      string            `yaml:"write"`
	Template   string            `yaml:"template"`
	Tags       map[string]string `yaml:"tags"`
}

type wwNetDev struct {
	Type       string            `yaml:"type"`
	OnBoot     string            `yaml:"onboot"`
	Device     string            `yaml:"device"`
	Hwaddr     string            `yaml:"hwaddr"`
	Ipaddr     string            `yaml:"ipaddr"`
	Netmask    string            `yaml:"netmask"`
	Gateway    string            `yaml:"gateway"`
	Ipaddr6    string            `yaml:"ipaddr6"`
	PrefixLen6 string            `yaml:"prefixlen6"`
	Gateway6   string            `yaml:"gateway6"`
	MTU        string            `yaml:"mtu"`
	Tags       map[string]string `yaml:"tags"`
	line       int
}

// list is a YAML list of strings, or (older files) one comma-separated
// string.
type list []string

func (l *list) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*l = append(*l, s)
			}
		}
		return nil
	}
	var s []string
	err := n.Decode(&s)
	*l = s
	return err
}

// args is a kernel command line: a YAML list (4.6 and later) or one string
// (4.5), split at white space.
type args []string

func (a *args) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*a = strings.Fields(n.Value)
		return nil
	}
	var s []string
	err := n.Decode(&s)
	*a = s
	return err
}

// knownKeys are the profile and node keys the importer understands.
var knownKeys = map[string]bool{
	"profiles": true, "comment": true, "cluster name": true, "image name": true, "container name": true,
	"ipxe template": true, "runtime overlay": true, "system overlay": true, "kernel": true, "ipmi": true,
	"init": true, "root": true, "network devices": true, "tags": true, "primary network": true,
	"disks": true, "filesystems": true, "resources": true, "asset key": true, "discoverable": true,
}

// ReadError is input the importer cannot read: a file that is missing or
// is not YAML of the expected shape. It names the file and line.
type ReadError struct {
	File string
	Line int // 0: the file as a whole
	Err  error
}

func (e *ReadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

var (
	yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)
	typeRE     = regexp.MustCompile(`cannot unmarshal (\S+) (.*) into \S+$`)
)

// yamlError turns a yaml.v3 error into a ReadError with its line.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = errors.New(te.Errors[0])
	}
	msg := typeRE.ReplaceAllString(err.Error(), "cannot read $1 $2 here: the field wants another type")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ReadError{File: file, Line: line, Err: errors.New(strings.TrimPrefix(msg, m[0]))}
	}
	return &ReadError{File: file, Err: errors.New(strings.TrimPrefix(msg, "yaml: "))}
}

// readYAML reads file and returns its top-level mapping.
func readYAML(file string) (*yaml.Node, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &ReadError{File: file, Err: err}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, &ReadError{File: file, Line: top.Line, Err: errors.New("the document is not a YAML mapping")}
	}
	return top, nil
}

// pairs returns the key/value pairs of a mapping node.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out
}

// readNodesConf parses a Warewulf nodes.conf.
func readNodesConf(file string) (*wwConf, error) {
	top, err := readYAML(file)
	if err != nil {
		return nil, err
	}
	c := &wwConf{file: file, profiles: map[string]*wwProfile{}, nodes: map[string]*wwProfile{}}
	for _, kv := range pairs(top) {
		var into map[string]*wwProfile
		switch kv[0].Value {
		case "nodeprofiles":
			into = c.profiles
		case "nodes":
			into = c.nodes
		default:
			continue
		}
		if kv[1].Kind == yaml.ScalarNode && kv[1].Tag == "!!null" {
			continue
		}
		if kv[1].Kind != yaml.MappingNode {
			return nil, &ReadError{File: file, Line: kv[1].Line, Err: fmt.Errorf("%s must be a mapping of names to settings", kv[0].Value)}
		}
		for _, e := range pairs(kv[1]) {
			p := &wwProfile{name: e[0].Value, line: e[0].Line, keys: map[string]int{}, sub: map[string]*yaml.Node{}}
			if e[1].Kind == yaml.MappingNode {
				if err := e[1].Decode(p); err != nil {
					return nil, yamlError(file, err)
				}
				for _, f := range pairs(e[1]) {
					p.keys[f[0].Value], p.sub[f[0].Value] = f[0].Line, f[1]
				}
				if nd := p.sub["network devices"]; nd != nil {
					for _, d := range pairs(nd) {
						if dev := p.NetDevs[d[0].Value]; dev != nil {
							dev.line = d[0].Line
						}
					}
				}
			} else if !(e[1].Kind == yaml.ScalarNode && e[1].Tag == "!!null") {
				return nil, &ReadError{File: file, Line: e[1].Line, Err: fmt.Errorf("%q must be a mapping of settings", e[0].Value)}
			}
			if _, dup := into[p.name]; dup {
				return nil, &ReadError{File: file, Line: p.line, Err: fmt.Errorf("%q is declared twice", p.name)}
			}
			into[p.name] = p
		}
	}
	return c, nil
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// wwServer is what the importer reads of warewulf.conf.
type wwServer struct {
	file     string
	Ipaddr   string `yaml:"ipaddr"`
	Netmask  string `yaml:"netmask"`
	Network  string `yaml:"network"`
	Ipaddr6  string `yaml:"ipaddr6"`
	Warewulf struct {
		Port           int   `yaml:"port"`
		Secure         *bool `yaml:"secure"`
		UpdateInterval int   `yaml:"update interval"`
	} `yaml:"warewulf"`
	DHCP struct {
		Enabled    *bool  `yaml:"enabled"`
		RangeStart string `yaml:"range start"`
		RangeEnd   string `yaml:"range end"`
		Template   string `yaml:"template"`
	} `yaml:"dhcp"`
	TFTP struct {
		IPXE map[string]string `yaml:"ipxe"`
	} `yaml:"tftp"`
	lines map[string]int // "ipaddr", "dhcp", "tftp", "nfs", ... -> line
	other []string       // top-level keys not mapped
}

// readWarewulfConf parses warewulf.conf.
func readWarewulfConf(file string) (*wwServer, error) {
	top, err := readYAML(file)
	if err != nil {
		return nil, err
	}
	s := &wwServer{file: file, lines: map[string]int{}}
	if err := top.Decode(s); err != nil {
		return nil, yamlError(file, err)
	}
	for _, kv := range pairs(top) {
		k := kv[0].Value
		s.lines[k] = kv[0].Line
		switch k {
		case "ipaddr", "netmask", "network", "warewulf", "dhcp", "tftp", "comment":
		default:
			s.other = append(s.other, k)
		}
	}
	return s, nil
}
