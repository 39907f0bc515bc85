package bootsvc

// WithCommit returns a copy of s that names commit as the one it was built
// from: a commit whose desired state is what s serves already (a comment,
// a README) is then the applied commit everywhere (GET /status, the git
// notes, GET /inventory). Everything else is shared: a Snapshot is never
// modified.
func (s *Snapshot) WithCommit(commit string) *Snapshot {
	c := *s
	c.Commit = commit
	return &c
}
