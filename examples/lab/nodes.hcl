# The two lab nodes. A node is known by the MAC address it PXE-boots from
# (QEMU's 52:54:00 prefix here) and gets the fixed address `ip`, which must
# lie inside its network's subnet.
#
# Tags merge key by key with the profile's: n1 ends up with
# { role = "compute", site = "lab", slot = "1" }. Lists (kernel_args,
# overlays) are not merged: a node that sets one replaces the profile's.

node "n1" {
  mac      = "52:54:00:99:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
  tags     = { slot = "1" }
}

node "n2" {
  mac      = "52:54:00:99:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.compute]
  tags     = { slot = "2" }
}
