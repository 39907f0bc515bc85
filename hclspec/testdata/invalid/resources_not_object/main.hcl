server "head" {
  address = "10.99.0.1"
}

network "cluster" {
  subnet        = "10.99.0.0/24"
  gateway       = "10.99.0.1"
  dynamic_range = ["10.99.0.200", "10.99.0.250"]
}

image "rocky9" {
  source = "/var/lib/gitboot/images/rocky9"
}

overlay "generic" {
  source = "overlays/generic"
}

profile "compute" {
  image            = image.rocky9
  network          = network.cluster
  runtime_overlays = [overlay.generic]
  resources        = { fstab = [{ spec = "head:/home", file = "/home", vfstype = "nfs" }] }
}

node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
  resources = ["fstab"]
}
