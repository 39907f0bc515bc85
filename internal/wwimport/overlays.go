package wwimport

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Warewulf's own overlays that gitboot does itself.
var replacedOverlays = map[string]string{
	"wwinit":            "gitboot's own /init, in every node's system overlay",
	"wwclient":          "gitboot-agent, which pulls the runtime overlay",
	"hosts":             "gitboot's built-in overlay hosts (builtin = \"hosts\")",
	"hostname":          "gitboot's built-in overlay hostname (builtin = \"hostname\")",
	"NetworkManager":    "gitboot's network configuration from the nodes' interface blocks",
	"ifcfg":             "gitboot's network configuration from the nodes' interface blocks",
	"ifupdown":          "gitboot's network configuration from the nodes' interface blocks",
	"debian.interfaces": "gitboot's network configuration from the nodes' interface blocks",
	"systemd.networkd":  "gitboot's network configuration from the nodes' interface blocks",
	"wicked":            "gitboot's network configuration from the nodes' interface blocks",
	"netplan":           "gitboot's network configuration from the nodes' interface blocks",
	"udev.netname":      "gitboot's network configuration (interface names are pinned by MAC)",
	"systemd.netname":   "gitboot's network configuration (interface names are pinned by MAC)",
}

// builtinOverlays are the Warewulf overlays a gitboot built-in replaces.
var builtinOverlays = map[string]bool{"hosts": true, "hostname": true}

// Warewulf overlays with no gitboot counterpart yet, and what to do.
var unmappedOverlays = map[string]string{
	"fstab":         "gitboot has no fstab overlay: write etc/fstab (or a template, etc/fstab.tmpl) into an overlay of your own.",
	"ssh.host_keys": "gitboot does not generate ssh host keys yet: put each node's keys into a runtime overlay (age-encrypted, *.age) or let the image generate them at boot.",
	"ignition":      "disk provisioning does not exist in gitboot yet; partition disks from a script in an overlay meanwhile.",
	"mkfs":          "disk provisioning does not exist in gitboot yet; create file systems from a script in an overlay meanwhile.",
	"mkswap":        "disk provisioning does not exist in gitboot yet; set up swap from a script in an overlay meanwhile.",
	"sfdisk":        "disk provisioning does not exist in gitboot yet; partition disks from a script in an overlay meanwhile.",
	"systemd.mount": "disk provisioning does not exist in gitboot yet; write mount units into an overlay of your own.",
	"systemd.swap":  "disk provisioning does not exist in gitboot yet; write swap units into an overlay of your own.",
	"host":          "the Warewulf server's own configuration; nothing to do.",
}

// overlayBlock is an overlay block to write.
type overlayBlock struct {
	id, builtin, source string
	files               []fileAttr
}

type fileAttr struct {
	glob, mode, owner, group string
}

// importOverlays decides for every overlay a node or profile names whether
// it is replaced, a built-in, copied from cfg.OverlaysDir, or unmapped.
func (im *importer) importOverlays() error {
	used := map[string]string{} // overlay -> where first named
	for _, set := range []map[string]*wwProfile{im.conf.profiles, im.conf.nodes} {
		for _, name := range sortedKeys(set) {
			p := set[name]
			for _, k := range []struct {
				key  string
				list list
			}{{"system overlay", p.SystemOverlay}, {"runtime overlay", p.RuntimeOverlay}} {
				for _, o := range k.list {
					o = strings.TrimPrefix(o, "~")
					if _, ok := used[o]; !ok {
						used[o] = im.where(p, k.key)
					}
				}
			}
		}
	}
	for _, name := range sortedKeys(used) {
		at := used[name]
		if why, ok := replacedOverlays[name]; ok {
			im.mig.add(secReplaced, at, "overlay "+name, "replaced by "+why+".")
			if builtinOverlays[name] {
				id := im.id("overlay", name)
				im.overlays[name] = id
				im.blocks = append(im.blocks, &overlayBlock{id: id, builtin: name})
			}
			continue
		}
		if todo, ok := unmappedOverlays[name]; ok {
			im.mig.add(secOverlays, at, "overlay "+name, todo)
			continue
		}
		dir := ""
		if im.cfg.OverlaysDir != "" {
			dir = filepath.Join(im.cfg.OverlaysDir, name)
			if isDir(filepath.Join(dir, "rootfs")) {
				dir = filepath.Join(dir, "rootfs") // Warewulf 4.6's layout
			}
		}
		if dir == "" || !isDir(dir) {
			where := "no --overlays given"
			if im.cfg.OverlaysDir != "" {
				where = "not in the --overlays directory"
			}
			im.mig.add(secOverlays, at, "overlay "+name, where+": copy its files into overlays/"+name+"/ and add an overlay block.")
			continue
		}
		if err := im.copyOverlay(name, dir, at); err != nil {
			return err
		}
	}
	return nil
}

// copyOverlay copies one overlay directory: static files as they are,
// templates translated (or set aside), modes other than git's 0644/0755
// and owners other than root as file blocks.
func (im *importer) copyOverlay(name, dir, at string) error {
	id := im.id("overlay", name)
	blk := &overlayBlock{id: id, source: "overlays/" + name}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &ReadError{File: p, Err: err}
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			return nil
		}
		dst := path.Join(blk.source, rel)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return &ReadError{File: p, Err: err}
			}
			im.out.links[dst] = target
			files++
			return nil
		}
		if !d.Type().IsRegular() {
			im.mig.add(secOverlays, at, "overlay "+name+": "+rel, "not a regular file, link or directory; left out.")
			return nil
		}
		st, err := os.Lstat(p)
		if err != nil {
			return &ReadError{File: p, Err: err}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return &ReadError{File: p, Err: err}
		}
		outRel, data, tmpl, ok := im.overlayText(name, at, rel, data)
		if !ok {
			return nil
		}
		if tmpl {
			dst = path.Join(blk.source, outRel+".tmpl")
		}
		im.out.files[dst] = data
		gitMode, fa := fileAttrOf(st, outRel)
		im.out.modes[dst] = gitMode
		if fa.mode != "" || fa.owner != "" || fa.group != "" {
			blk.files = append(blk.files, fa)
		}
		files++
		return nil
	})
	if err != nil {
		return err
	}
	if files == 0 {
		im.mig.add(secOverlays, at, "overlay "+name, "it has no file the importer could bring over; add them by hand.")
		return nil
	}
	im.overlays[name] = id
	im.blocks = append(im.blocks, blk)
	return nil
}

// overlayText is what the importer writes for overlay file rel: a
// Warewulf template (*.ww) translated and named without .ww (tmpl true: it
// is written as NAME.tmpl), other files as they are. ok is false, noted,
// when the file is left out: a static *.tmpl file (gitboot would render
// it), or a template that could not be translated (set aside under
// warewulf-templates/).
func (im *importer) overlayText(name, at, rel string, data []byte) (outRel string, out []byte, tmpl, ok bool) {
	if strings.HasSuffix(rel, ".tmpl") {
		im.mig.add(secOverlays, at, "overlay "+name+": "+rel, "gitboot renders *.tmpl files as templates; this static file was left out: rename it or make it a template.")
		return "", nil, false, false
	}
	t, ok := strings.CutSuffix(rel, ".ww")
	if !ok {
		return rel, data, false, true
	}
	text, netdevs, err := translateTemplate(rel, string(data))
	if netdevs {
		im.mig.add(secTemplates, at, name+"/"+rel, "translated; check it: it ranges over .Node.Interfaces, which holds the interface blocks only (the boot NIC when it has one), where Warewulf's .NetDevs held every device by name.")
	}
	if err != nil {
		im.out.files[path.Join("warewulf-templates", name, rel)] = data
		im.mig.add(secTemplates, at, name+"/"+rel, "it "+err.Error()+".")
		return "", nil, false, false
	}
	return t, []byte(text), true, true
}

// fileAttrOf returns the mode git stores for a file with st's permissions
// (0644 or 0755) and the file block for glob that restores what git does
// not keep: other modes, and owners and groups other than root (numeric).
func fileAttrOf(st fs.FileInfo, glob string) (os.FileMode, fileAttr) {
	perm := st.Mode().Perm() | st.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	gitMode := os.FileMode(0o644)
	if perm&0o111 != 0 {
		gitMode = 0o755
	}
	fa := fileAttr{glob: glob}
	if perm != gitMode {
		fa.mode = fmt.Sprintf("%04o", unixMode(st.Mode()))
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if sys.Uid != 0 {
			fa.owner = fmt.Sprint(sys.Uid)
		}
		if sys.Gid != 0 {
			fa.group = fmt.Sprint(sys.Gid)
		}
	}
	return gitMode, fa
}

// unixMode is a file's permission bits with setuid, setgid and sticky in
// their octal places.
func unixMode(m fs.FileMode) uint32 {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// writeOverlayBlocks writes overlays.hcl.
func (im *importer) writeOverlayBlocks() error {
	f := hclwrite.NewEmptyFile()
	for _, o := range im.blocks {
		b := f.Body().AppendNewBlock("overlay", []string{o.id}).Body()
		if o.builtin != "" {
			b.SetAttributeValue("builtin", cty.StringVal(o.builtin))
		} else {
			b.SetAttributeValue("source", cty.StringVal(o.source))
		}
		for _, fa := range o.files {
			fb := b.AppendNewBlock("file", []string{fa.glob}).Body()
			if fa.mode != "" {
				fb.SetAttributeValue("mode", cty.StringVal(fa.mode))
			}
			if fa.owner != "" {
				fb.SetAttributeValue("owner", cty.StringVal(fa.owner))
			}
			if fa.group != "" {
				fb.SetAttributeValue("group", cty.StringVal(fa.group))
			}
		}
		f.Body().AppendNewline()
	}
	return im.out.hcl("overlays.hcl", "# Overlays: Warewulf's copied from its overlay directories (templates\n# translated to *.tmpl), its own replaced by gitboot's built-ins.\n\n", f)
}
