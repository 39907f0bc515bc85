// Package hclspec turns a directory of *.hcl files (a cluster repository) into
// one immutable, resolved and validated cluster model (Cluster). It reads
// files through an fs.FS (a directory or a git tree) and does no other I/O.
// Errors are returned as hcl.Diagnostics with exact source ranges; only
// cmd/ formats them for people.
//
// Imported by cmd/gitboot and reconcile; never by bootsvc.
package hclspec
