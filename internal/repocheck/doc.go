// Package repocheck holds tests about the repository itself (what is
// tracked in git), not about any package's code. It has no code of its
// own and nothing imports it.
package repocheck
