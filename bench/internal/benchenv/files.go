package benchenv

import (
	"os"
	"path/filepath"
)

// WriteFiles writes files (slash paths relative to dir) under dir.
func WriteFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Base returns the files bench/apply's generated repository starts with: a
// cluster.hcl with a required variable image_source, a server, network
// "cluster" (subnet given), image "compute", the overlays "generic" (a
// directory with a template) and "hostname" (builtin); callers append
// their profile and nodes to cluster.hcl or add files.
func Base(subnet string) map[string]string {
	return map[string]string{
		"cluster.hcl": `variable "image_source" {
  type = string
}

server "head" {
  address = "10.0.0.1"
}

network "cluster" {
  subnet  = "` + subnet + `"
  gateway = "10.0.0.1"
  domain  = "cluster.local"
}

image "compute" {
  source = var.image_source
}

overlay "generic" {
  source = "overlays/generic"
}

overlay "hostname" {
  builtin = "hostname"
}
`,
		"overlays/generic/etc/motd.tmpl": "Welcome to {{ .Node.Name }} ({{ .Node.IP }})\n",
		"overlays/generic/etc/issue":     "gitboot bench\n",
	}
}
