// Package wwimport turns a Warewulf 4.6/4.7 site (nodes.conf, warewulf.conf
// and overlays) into a gitboot repository: HCL files that pass `gitboot
// validate` and `gitboot fmt -check`, overlays copied or translated, runs of
// alike nodes written as one for_each over a generated MAC file, and
// MIGRATION.md listing everything it could not map, with where it was and
// what to do. BMC passwords go to a credentials file beside the output,
// never into it. cmd/gitboot's `import warewulf` is its only caller.
package wwimport
