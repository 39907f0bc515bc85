package hclspec

import (
	"strings"
	"text/template"
)

// TemplateFuncs returns the functions overlay templates may call, beyond
// text/template's built-ins. reconcile/artifact renders with the same set, so
// what validates also renders.
func TemplateFuncs() template.FuncMap {
	m := template.FuncMap{
		"join":  strings.Join,
		"upper": strings.ToUpper,
		"lower": strings.ToLower,

		"secret": secretUnbound, // bound per render by reconcile/artifact (secrets.go)
	}
	addSSHKeyFuncs(m) // sshkeyfuncs.go
	return m
}
