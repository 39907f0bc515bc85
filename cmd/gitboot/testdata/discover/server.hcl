# seen 2 time(s) by DHCP, first at 2026-11-30T01:00:00Z
node "n002" {
  mac      = "52:54:00:bb:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.gpu]
}

# seen 1 time(s) by IPXE from 10.99.0.5, first at 2026-11-30T01:00:01Z
node "n003" {
  mac      = "52:54:00:bb:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.gpu]
}
