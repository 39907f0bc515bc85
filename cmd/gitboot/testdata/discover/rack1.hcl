# rack1.macs line 2
node "r1n01" {
  mac      = "52:54:00:aa:00:01"
  ip       = "10.99.0.10"
  profiles = [profile.compute]
}

# rack1.macs line 5
node "r1n02" {
  mac      = "52:54:00:aa:00:02"
  ip       = "10.99.0.13"
  profiles = [profile.compute]
}

# rack1.macs line 6
node "r1n03" {
  mac      = "52:54:00:aa:00:03"
  ip       = "10.99.0.14"
  profiles = [profile.compute]
}
