package wwimport

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// DefaultImagesDir is where Warewulf 4.6 keeps its images
// (IMAGE/rootfs below it).
const DefaultImagesDir = "/var/lib/warewulf/chroots"

// Config says what to import and where to.
type Config struct {
	NodesConf    string // Warewulf's nodes.conf (required)
	WarewulfConf string // warewulf.conf; "" leaves the server block to write by hand
	OverlaysDir  string // the directory holding Warewulf's overlays; "" copies none
	ImagesDir    string // where the images' rootfs directories are on the gitboot server; "" DefaultImagesDir
	Out          string // the repository directory to write (created when missing)
	// Credentials is the BMC credentials file to write; "" is Out's
	// sibling OUT.bmc-credentials.hcl. It must be outside Out.
	Credentials string
}

// Report says what an import did.
type Report struct {
	Nodes, Profiles, ForEach int      // nodes imported, profile blocks, for_each blocks
	Unmapped                 int      // lines in MIGRATION.md
	Written                  []string // files written (changed), relative to Out
	Credentials              string   // the credentials file, "" when no BMC has credentials
	CredentialsWritten       bool
}

// importer holds one import's state.
type importer struct {
	cfg      Config
	conf     *wwConf
	server   *wwServer
	mig      *migration
	out      *output
	networks []*network
	ids      map[string]map[string]string // kind -> Warewulf name -> block name
	taken    map[string]map[string]bool   // kind -> block names used
	overlays map[string]string            // Warewulf overlay -> gitboot overlay block ("" dropped)
	images   []string                     // Warewulf image names used, in order met
	blocks   []*overlayBlock              // overlay blocks, in name order
	creds    map[string][2]string         // credentials name -> user, password
	report   Report
}

// Run imports cfg.NodesConf (and the rest of cfg) into cfg.Out. An error is
// input that cannot be read (a *ReadError names the file and line) or output
// that cannot be written; everything that could not be mapped is in
// MIGRATION.md instead.
func Run(cfg Config) (*Report, error) {
	if cfg.NodesConf == "" || cfg.Out == "" {
		return nil, errors.New("import warewulf: --nodes-conf and --out are required")
	}
	if cfg.ImagesDir == "" {
		cfg.ImagesDir = DefaultImagesDir
	}
	out, err := filepath.Abs(cfg.Out)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials == "" {
		cfg.Credentials = out + ".bmc-credentials.hcl"
	}
	if c, err := filepath.Abs(cfg.Credentials); err == nil {
		if rel, err := filepath.Rel(out, c); err == nil && !strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("import warewulf: the credentials file %s is inside the output %s; passwords never go into the repository", cfg.Credentials, cfg.Out)
		}
	}
	im := &importer{cfg: cfg, mig: newMigration(), out: newOutput(cfg.Out), ids: map[string]map[string]string{},
		taken: map[string]map[string]bool{}, overlays: map[string]string{}, creds: map[string][2]string{}}
	if im.conf, err = readNodesConf(cfg.NodesConf); err != nil {
		return nil, err
	}
	if cfg.WarewulfConf != "" {
		if im.server, err = readWarewulfConf(cfg.WarewulfConf); err != nil {
			return nil, err
		}
	}
	if err := im.run(); err != nil {
		return nil, err
	}
	return &im.report, nil
}

func (im *importer) run() error {
	if err := im.importOverlays(); err != nil {
		return err
	}
	profiles, gb := im.profileBlocks()
	nodes := im.convertNodes(gb)
	if err := im.writeNodes(nodes); err != nil {
		return err
	}
	if err := im.writeSite(nodes); err != nil {
		return err
	}
	if err := im.out.hcl("profiles.hcl", "# Warewulf's node profiles. Warewulf appends profile lists; gitboot's lists\n# replace, so nodes whose lists differ set them themselves (nodes.hcl).\n\n", profiles); err != nil {
		return err
	}
	im.report.Unmapped = im.mig.count()
	stats := fmt.Sprintf("%d nodes (%d for_each blocks), %d profiles, %d images, %d overlays.",
		im.report.Nodes, im.report.ForEach, im.report.Profiles, len(im.images), im.countOverlays())
	im.out.files["MIGRATION.md"] = im.mig.render(filepath.Base(im.cfg.NodesConf), stats)
	written, err := im.out.write()
	im.report.Written = written
	if err != nil {
		return fmt.Errorf("writing %s: %w", im.cfg.Out, err)
	}
	return im.writeCredentials()
}

func (im *importer) countOverlays() int {
	n := 0
	for _, id := range im.overlays {
		if id != "" {
			n++
		}
	}
	return n
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// id returns the block name for Warewulf's name of a kind ("image",
// "profile", "overlay", "network", "credentials"): letters, digits and '_',
// starting with a letter, unique within the kind.
func (im *importer) id(kind, name string) string { return im.idFor(kind, name, name) }

// idFor is id with a key apart from the name the block name is made from.
func (im *importer) idFor(kind, key, name string) string {
	if v, ok := im.ids[kind][key]; ok {
		return v
	}
	s := strings.Trim(nonIdent.ReplaceAllString(name, "_"), "_")
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		s = kind[:1] + "_" + s
	}
	if im.taken[kind] == nil {
		im.taken[kind], im.ids[kind] = map[string]bool{}, map[string]string{}
	}
	base := s
	for i := 2; im.taken[kind][s]; i++ {
		s = base + "_" + strconv.Itoa(i)
	}
	im.taken[kind][s], im.ids[kind][key] = true, s
	return s
}

// where is a nodes.conf place: "nodes.conf:12 (node n001)".
func (im *importer) where(p *wwProfile, key string) string {
	what := "node"
	if _, ok := im.conf.profiles[p.name]; ok && im.conf.nodes[p.name] != p {
		what = "profile"
	}
	line := p.line
	if l, ok := p.keys[key]; ok {
		line = l
	}
	return fmt.Sprintf("%s:%d (%s %s)", filepath.Base(im.conf.file), line, what, p.name)
}

// network is a `network` block being built.
type network struct {
	id      string
	subnet  netip.Prefix
	gateway netip.Addr
	dns     []string
	domain  string
	dynamic [2]netip.Addr
}

// networkFor returns the network whose subnet is ip/mask, adding it, named
// after hint, the first time.
func (im *importer) networkFor(ip netip.Addr, mask, hint string) (*network, error) {
	bits, err := maskBits(mask)
	if err != nil {
		return nil, err
	}
	pfx := netip.PrefixFrom(ip, bits).Masked()
	for _, n := range im.networks {
		if n.subnet == pfx {
			return n, nil
		}
	}
	n := &network{id: im.idFor("network", pfx.String(), hint), subnet: pfx}
	im.networks = append(im.networks, n)
	return n, nil
}

// maskBits turns a dotted netmask ("255.255.252.0") or a prefix length
// ("22") into a prefix length.
func maskBits(mask string) (int, error) {
	if n, err := strconv.Atoi(mask); err == nil && n >= 0 && n <= 32 {
		return n, nil
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() {
		return 0, fmt.Errorf("netmask %q is not an IPv4 netmask", mask)
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for v&(1<<31) != 0 {
		ones++
		v <<= 1
	}
	if v != 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous", mask)
	}
	return ones, nil
}

// imageID returns the image block for a Warewulf image name.
func (im *importer) imageID(name string) string {
	if _, ok := im.ids["image"][name]; !ok {
		im.images = append(im.images, name)
	}
	return im.id("image", name)
}

// writeSite writes site.hcl (server, networks), images.hcl and
// overlays.hcl.
func (im *importer) writeSite(nodes []*nodeOut) error {
	f := hclwrite.NewEmptyFile()
	im.serverBlock(f.Body(), nodes)
	for _, n := range im.networks {
		b := f.Body().AppendNewBlock("network", []string{n.id}).Body()
		b.SetAttributeValue("subnet", cty.StringVal(n.subnet.String()))
		if n.gateway.IsValid() {
			b.SetAttributeValue("gateway", cty.StringVal(n.gateway.String()))
		}
		if len(n.dns) > 0 {
			b.SetAttributeValue("dns", strList(n.dns))
		}
		if n.domain != "" {
			b.SetAttributeValue("domain", cty.StringVal(n.domain))
		}
		if n.dynamic[0].IsValid() {
			b.SetAttributeValue("dynamic_range", strList([]string{n.dynamic[0].String(), n.dynamic[1].String()}))
		}
		f.Body().AppendNewline()
	}
	if err := im.out.hcl("site.hcl", "# Imported from Warewulf by `gitboot import warewulf`: the server and its networks.\n\n", f); err != nil {
		return err
	}
	f = hclwrite.NewEmptyFile()
	for _, name := range im.images {
		b := f.Body().AppendNewBlock("image", []string{im.id("image", name)}).Body()
		b.SetAttributeValue("source", cty.StringVal(filepath.ToSlash(filepath.Join(im.cfg.ImagesDir, name, "rootfs"))))
		f.Body().AppendNewline()
	}
	if err := im.out.hcl("images.hcl", "# Warewulf's images: each one's rootfs directory on the gitboot server.\n\n", f); err != nil {
		return err
	}
	return im.writeOverlayBlocks()
}

// writeCredentials writes the BMC credentials file (mode 0600) beside the
// repository, when any BMC has a user name or password.
func (im *importer) writeCredentials() error {
	if len(im.creds) == 0 {
		return nil
	}
	f := hclwrite.NewEmptyFile()
	for _, name := range sortedKeys(im.creds) {
		b := f.Body().AppendNewBlock("credentials", []string{name}).Body()
		b.SetAttributeValue("username", cty.StringVal(im.creds[name][0]))
		b.SetAttributeValue("password", cty.StringVal(im.creds[name][1]))
		f.Body().AppendNewline()
	}
	o := newOutput(filepath.Dir(im.cfg.Credentials))
	name := filepath.Base(im.cfg.Credentials)
	if err := o.hcl(name, "# BMC credentials imported from Warewulf's nodes.conf: for `gitboot serve\n# --bmc-credentials`. Keep this file on the server only, never in git.\n\n", f); err != nil {
		return err
	}
	o.modes[name] = 0o600
	w, err := o.write()
	if err != nil {
		return fmt.Errorf("writing %s: %w", im.cfg.Credentials, err)
	}
	im.report.Credentials, im.report.CredentialsWritten = im.cfg.Credentials, len(w) > 0
	return nil
}

// fileExists reports whether p is a directory (dir) or a regular file.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
