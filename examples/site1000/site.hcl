# examples/site1000: a 1,000-node site as a hardware vendor delivers it.
#
# The vendor ships one text file per rack (racks/rack01.macs ... rack25.macs)
# listing the boot-NIC MAC addresses of its 40 nodes in slot order. Instead
# of 1,000 node blocks, nodes.hcl reads those files with file() and declares
# the nodes with for_each, so adding a rack is adding a file and, at most,
# touching one number here.
#
# Racks 01-22 are compute nodes, racks 23-24 GPU nodes, and rack 25 holds
# the login nodes, on a network of their own.

# An input variable: `gitboot validate --var console=ttyS1,115200 .` (or the
# same flag on plan and serve) overrides the default.
variable "console" {
  type        = string
  default     = "ttyS0,115200"
  description = "Serial console of the nodes, as the kernel's console= takes it."
}

# Locals name values used more than once; they may use variables, functions
# and other locals, in any order.
locals {
  compute_subnet = "10.100.0.0/20"
  service_subnet = "10.100.16.0/24"
  gpu_racks      = [23, 24]
  login_rack     = 25
  base_args      = ["console=${var.console}", "quiet"]
}

# One gitboot server boots both networks. Nodes of the service network reach
# it through the DHCP relay on their router (10.100.16.1), which forwards
# to this address.
server "head" {
  address        = "10.100.0.10"
  networks       = [network.compute, network.service]
  interface      = "eno2"
  secure_runtime = true # runtime overlays go only to the node they are for
}

# The compute network: every compute and GPU node. Rack r's nodes take the
# addresses from host number r * 128 on (see nodes.hcl), so rack 01 is
# 10.100.0.129-168, rack 02 10.100.1.1-40, ... rack 24 10.100.12.1-40.
# Unknown MACs (a replacement board, say) get an address from dynamic_range
# so that they can be found in `gitboot status` and the DHCP log.
network "compute" {
  subnet        = local.compute_subnet
  gateway       = cidrhost(local.compute_subnet, 1)
  dns           = ["10.100.0.53", "10.100.0.54"]
  domain        = "compute.site1000.example"
  lease_time    = "12h"
  dynamic_range = [cidrhost(local.compute_subnet, 3841), cidrhost(local.compute_subnet, 4094)]
}

# The service network of the login nodes, which users reach from outside.
network "service" {
  subnet     = local.service_subnet
  gateway    = cidrhost(local.service_subnet, 1)
  dns        = ["10.100.0.53", "10.100.0.54"]
  domain     = "site1000.example"
  lease_time = "12h"
}
