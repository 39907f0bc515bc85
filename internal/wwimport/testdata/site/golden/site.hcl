# Imported from Warewulf by `gitboot import warewulf`: the server and its networks.

server "head" {
  address          = "10.0.0.1"
  runtime_interval = "30s"
  secure_runtime   = true
}

network "default" {
  subnet        = "10.0.0.0/16"
  gateway       = "10.0.0.1"
  dns           = ["10.0.0.1"]
  domain        = "cluster.local"
  dynamic_range = ["10.0.10.1", "10.0.10.254"]
}

network "bond0" {
  subnet = "10.3.0.0/24"
}

network "ib0" {
  subnet = "10.1.0.0/16"
}

network "storage" {
  subnet = "10.100.0.0/24"
}
