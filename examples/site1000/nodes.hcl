# The 1,000 nodes, read from the vendor's rack files.

locals {
  # Every delivered node, keyed by name: r01n01 ... r25n40 (rack, slot).
  # Each rack file starts with a vendor comment line; lines starting with
  # "#" and blank lines are skipped.
  delivered = merge([
    for rack in range(1, 26) : {
      for i, mac in [
        for line in split("\n", file(format("racks/rack%02d.macs", rack))) : trimspace(line)
        if trimspace(line) != "" && !startswith(line, "#")
      ] : format("r%02dn%02d", rack, i + 1) => { rack = rack, slot = i + 1, mac = mac }
    }
  ]...)
}

# One node per element of for_each, named by its key (each.key); each.value
# is that element. MACs come in the vendor's form, 02-47-42-00-01-01;
# gitboot stores them as 02:47:42:00:01:01.
node "compute" {
  for_each = { for name, n in local.delivered : name => n if !contains(local.gpu_racks, n.rack) && n.rack != local.login_rack }
  mac      = each.value.mac
  ip       = cidrhost(local.compute_subnet, each.value.rack * 128 + each.value.slot)
  profiles = [profile.compute]
  tags     = { rack = format("r%02d", each.value.rack) }
}

node "gpu" {
  for_each = { for name, n in local.delivered : name => n if contains(local.gpu_racks, n.rack) }
  mac      = each.value.mac
  ip       = cidrhost(local.compute_subnet, each.value.rack * 128 + each.value.slot)
  profiles = [profile.gpu]
  tags     = { rack = format("r%02d", each.value.rack) }
}

# The login nodes are on the service network: 10.100.16.11 onwards.
node "login" {
  for_each = { for name, n in local.delivered : name => n if n.rack == local.login_rack }
  mac      = each.value.mac
  ip       = cidrhost(local.service_subnet, 10 + each.value.slot)
  profiles = [profile.login]
  tags     = { rack = format("r%02d", each.value.rack) }
}
