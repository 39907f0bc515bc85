# Warewulf's nodes. A run of nodes that differ only by number, MAC and
# address is one for_each block over a MAC file in macs/, in rack order.

node "c01" {
  mac              = "02:00:00:00:04:01"
  ip               = "10.0.4.1"
  profiles         = [profile.default, profile.compute, profile.tmpfs]
  kernel_args      = ["quiet", "crashkernel=no", "console=ttyS0"]
  runtime_overlays = [overlay.hosts, overlay.generic]
}

node "c02" {
  mac              = "02:00:00:00:04:02"
  ip               = "10.0.4.2"
  profiles         = [profile.default, profile.compute, profile.tmpfs]
  kernel_args      = ["quiet", "crashkernel=no", "console=ttyS0"]
  runtime_overlays = [overlay.hosts, overlay.generic]
}

node "gpu01" {
  mac              = "02:00:00:00:03:01"
  ip               = "10.0.3.1"
  profiles         = [profile.default, profile.gpu]
  kernel_args      = ["crashkernel=no", "console=ttyS0", "nvidia-drm.modeset=1"]
  system_overlays  = [overlay.hostname]
  runtime_overlays = [overlay.hosts, overlay.generic, overlay.slurm]
  bmc {
    driver      = "ipmi"
    address     = "10.2.3.1"
    credentials = "default"
  }
}

node "gpu02" {
  mac              = "02:00:00:00:03:02"
  ip               = "10.0.3.2"
  profiles         = [profile.default, profile.gpu]
  kernel_args      = ["crashkernel=no", "console=ttyS0", "nvidia-drm.modeset=1"]
  system_overlays  = [overlay.hostname]
  runtime_overlays = [overlay.hosts, overlay.generic, overlay.slurm]
  bmc {
    driver      = "ipmi"
    address     = "10.2.3.2"
    credentials = "default"
  }
}

node "gpu03" {
  mac              = "02:00:00:00:03:03"
  ip               = "10.0.3.3"
  profiles         = [profile.default, profile.gpu]
  kernel_args      = ["crashkernel=no", "console=ttyS0", "nvidia-drm.modeset=1"]
  system_overlays  = [overlay.hostname]
  runtime_overlays = [overlay.hosts, overlay.generic, overlay.slurm]
  bmc {
    driver      = "ipmi"
    address     = "10.2.3.3"
    credentials = "default"
  }
}

node "login1" {
  mac       = "02:00:00:00:01:01"
  ip        = "10.0.1.1"
  profiles  = [profile.default]
  asset_key = "login-asset-1"
  interface "eth0" {
    type = "ethernet"
    mac  = "02:00:00:00:01:01"
    mtu  = 9000
  }
  interface "bond0" {
    type    = "bond"
    ip      = "10.3.0.10"
    network = network.bond0
    members = ["eth1", "eth2"]
  }
  interface "eth1" {
    type = "ethernet"
    mac  = "02:00:00:00:11:01"
  }
  interface "eth2" {
    type = "ethernet"
    mac  = "02:00:00:00:12:01"
  }
  interface "ib0" {
    type    = "infiniband"
    mac     = "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:0b:0c"
    ip      = "10.1.1.1"
    network = network.ib0
    mtu     = 65520
  }
  interface "eth0.100" {
    type    = "vlan"
    ip      = "10.100.0.10"
    network = network.storage
    parent  = "eth0"
    vlan_id = 100
  }
  bmc {
    driver      = "ipmi"
    address     = "10.2.1.1"
    credentials = "default"
  }
}

# n001 to n200 (hostlist "n[001-200]"): 200 nodes alike but for their number, MAC and addresses.
node "n001_n200" {
  for_each         = { for i, mac in [for l in split("\n", file("macs/n001-n200.macs")) : trimspace(l) if trimspace(l) != "" && !startswith(trimspace(l), "#")] : format("n%03d", 1 + i) => { i = i, mac = mac } }
  mac              = each.value.mac
  ip               = cidrhost("10.0.0.0/16", 513 + each.value.i)
  profiles         = [profile.default, profile.compute]
  kernel_args      = ["quiet", "crashkernel=no", "console=ttyS0"]
  runtime_overlays = [overlay.hosts, overlay.generic, overlay.slurm]
  bmc {
    driver      = "ipmi"
    address     = cidrhost("10.2.2.0/24", 1 + each.value.i)
    credentials = "default"
  }
}

node "svc1" {
  mac      = "02:00:00:00:09:01"
  ip       = "10.0.9.1"
  profiles = [profile.default]
  bmc {
    driver      = "ipmi"
    address     = "10.2.9.1"
    credentials = "svc1"
  }
}
