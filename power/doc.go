// Package power switches nodes on and off through their BMCs: IPMI 2.0
// over LAN (lanplus, subpackage ipmi) and Redfish over HTTPS (subpackage
// redfish). It reads the server's BMC credentials file (HCL, never in git),
// turns a resolved cluster and a node selection into Targets, and runs one
// Action against many BMCs with bounded parallelism and a timeout per BMC.
//
// It is imported by cmd/gitboot (`gitboot power`, `gitboot rollout`, the
// server's POST /power endpoint). It imports hclspec for the model; bootsvc
// never imports it.
package power
