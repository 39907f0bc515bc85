# examples/lab: the smallest real gitboot cluster, one server and two QEMU
# nodes on a private network. The end-to-end tests and `make demo` boot it.
#
# gitboot reads every *.hcl file at the root of the repository as one
# configuration: the split into cluster.hcl and nodes.hcl is only for people.
# Blocks refer to each other by kind and name (network.cluster, image.demo),
# so the order of blocks and files does not matter.

# The gitboot server. Nodes reach it at `address`: it is the DHCP
# next-server and the host of every boot URL (http://10.99.0.1:9873/...).
# Everything not set here has a default: HTTP on 9873, TFTP on 69, DHCP on 67
# in authoritative mode, iPXE binaries from /usr/lib/ipxe.
server "head" {
  address  = "10.99.0.1"
  networks = [network.cluster] # the networks whose nodes it boots
}

# The network the nodes boot on. gitboot's DHCP server hands each known MAC
# its reserved address from here, with this gateway, DNS server, domain and
# lease time. Unknown MACs get no answer: there is no dynamic_range.
network "cluster" {
  subnet     = "10.99.0.0/24"
  gateway    = "10.99.0.1"
  dns        = ["10.99.0.1"]
  domain     = "cluster.local"
  lease_time = "1h"
}

# The operating system the nodes run, unpacked into memory at every boot.
# `source` is a path on the gitboot server, not in this repository: images
# are large and built elsewhere. `gitboot validate` does not look for it.
# `make demo` and the end-to-end tests point it at an image they build:
# gitboot serve --var image_source=/some/dir ...
variable "image_source" {
  type        = string
  default     = "/var/lib/gitboot/images/demo"
  description = "the demo image on the gitboot server: a directory, .tar[.gz] or OCI layout"
}

image "demo" {
  source = var.image_source
}

# A system overlay: files laid over the image at boot, after gitboot's own
# /init and agent. Its source is a directory in this repository.
overlay "init" {
  source = "overlays/init"
}

# A runtime overlay: files the node's agent fetches again every minute, so
# a push changes them on running nodes without a reboot. Files ending in
# .tmpl are Go templates rendered per node (etc/hosts.tmpl -> /etc/hosts).
overlay "generic" {
  source = "overlays/generic"
}

# A runtime overlay shipped inside gitboot: writes /etc/hostname.
overlay "hostname" {
  builtin = "hostname"
}

# A profile is a named bundle of settings that nodes (and other profiles)
# include. A node gets its image, network, kernel arguments and overlays
# from its profiles unless it sets them itself.
profile "compute" {
  image            = image.demo
  network          = network.cluster
  kernel_args      = ["console=ttyS0", "quiet"]
  system_overlays  = [overlay.init]
  runtime_overlays = [overlay.generic, overlay.hostname]
  tags             = { role = "compute", site = "lab" }
}
