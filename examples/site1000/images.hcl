# Images are paths on the gitboot server (a directory, a .tar or .tar.gz
# archive, or an OCI image layout); `gitboot validate` does not need them.
# A block name is used in references (image.rocky9_cuda), so it uses '_'
# rather than '-', which would read as a subtraction.

image "rocky9" {
  source = "/var/lib/gitboot/images/rocky9"
  kernel = "boot/vmlinuz-5.14.*" # the newest kernel matching this, not just any
}

image "rocky9_cuda" {
  source = "/var/lib/gitboot/images/rocky9-cuda.tar.gz"
}

image "rocky9_login" {
  source = "/var/lib/gitboot/images/rocky9-login-oci"
}

# Overlays with a source are directories in this repository. System
# overlays are laid over the image at boot; runtime overlays are also
# fetched again by each node's agent every minute.

# Site-wide settings for every node: time server, kernel tuning.
overlay "site" {
  source = "overlays/site"
}

# GPU drivers: load nvidia, keep nouveau away.
overlay "gpu" {
  source = "overlays/gpu"
}

# The login nodes' message of the day, a template rendered per node.
overlay "login" {
  source = "overlays/login"
}

# Overlays shipped inside gitboot: /etc/hosts listing every node of the
# cluster, and /etc/hostname.
overlay "hosts" {
  builtin = "hosts"
}

overlay "hostname" {
  builtin = "hostname"
}
