// Package artifact turns the resolved cluster model (hclspec.Cluster) into the
// files the boot services send: per node a kernel, an image artifact, a
// system overlay and a runtime overlay, each a cpio newc + gzip archive
// (the kernel as found in the image). Artifacts live in a content-addressed
// store under the state directory (artifacts/sha256/<hex>.img.gz and
// <hex>.vmlinuz); each build is recorded as a manifest of digests
// (artifacts/manifests/<hex>.json), and artifacts/applied.json names the
// current and previous applied manifests and those replaced within the
// grace period (Config.Grace), whose artifacts GC keeps.
//
// Builds are incremental (an artifact whose input hash is known is reused),
// reproducible (the same input gives the same bytes) and crash-safe (files
// appear under their final names only complete and synced; a killed build
// leaves the previous state intact, and its temporaries are removed by New).
//
// Overlay templates (*.tmpl, text/template, output named without the
// suffix) see TemplateData (hclspec's types: field names are checked when
// a template is parsed, so validate reports a misspelt one). They may
// call hclspec.TemplateFuncs (sprig's, without the environment, clock and
// randomness) and the text/template built-ins; a missing map key is
// empty. Refused, so that a commit cannot make a build run forever or
// exhaust memory: {{define}}, {{template}}, {{block}}, ranging over a
// number, output over 64 MiB per file, function results over 128 MiB per
// file (templateguard.go), and rendering longer than 20 s (the render's
// goroutine is stopped). A template's input key covers only the data it
// reads (templatedeps.go), down to the keys of the nodes' resources. Every system overlay starts with gitboot's
// own init overlay (builtin/init): /init (network, hostname, hooks,
// SELinux, the agent, then the image's init), etc/gitboot/node.conf
// rendered per node for it, gitboot-agent.service for systemd images, and
// the gitboot-agent binary. A system overlay is stored as two gzip
// members, each a cpio archive: the init overlay's static files (the agent
// among them), compressed once per build and the same bytes for every
// node, then the node's own files; Linux unpacks them in order, a later
// entry replacing an earlier one (see segment.go).
//
// Secrets (secrets.go): an overlay file x.age is age-encrypted and
// delivered decrypted as x, and templates call `secret "PATH"`, both with
// Config.Secrets; only runtime overlays served in secure mode may carry
// them, and input keys hash their ciphertext, never their content.
//
// Imported by reconcile (plan/apply) and cmd/gitboot; it imports hclspec
// and bootsvc (for bootsvc.Artifacts), never the other way round.
package artifact
