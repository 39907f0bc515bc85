# Overlays: Warewulf's copied from its overlay directories (templates
# translated to *.tmpl), its own replaced by gitboot's built-ins.

overlay "generic" {
  source = "overlays/generic"
  file "etc/generic.conf" {
    mode = "0600"
  }
}

overlay "hostname" {
  builtin = "hostname"
}

overlay "hosts" {
  builtin = "hosts"
}

overlay "slurm" {
  source = "overlays/slurm"
}
