package main

import "testing"

// The overlay push is done when the runtime overlay's digest in the node's
// script changes: the digest must be found in the URL the script names
// today (/runtime-initrd/, wrapped for /init) and in the older /runtime/.
func TestRuntimeURLDigest(t *testing.T) {
	const hex = "b7331bb574be397f65d9dd0deda1a46813063ccbf49b4f0f7d36d52e793a2013"
	for _, line := range []string{
		"initrd --name runtime http://10.99.0.1:9873/runtime-initrd/52:54:00:99:00:02/" + hex + " || goto runtime_failed",
		"initrd --name runtime http://10.99.0.1:9873/runtime/52:54:00:99:00:02/" + hex,
		"initrd --name runtime http://10.99.0.1:9873/runtime-initrd/52%3A54%3A00%3A99%3A00%3A02/" + hex,
	} {
		m := runtimeURL.FindStringSubmatch(line)
		if m == nil || m[1] != hex {
			t.Errorf("no runtime digest found in %q: %v", line, m)
		}
	}
	if runtimeURL.MatchString("initrd --name system http://10.99.0.1:9873/system/52:54:00:99:00:02/" + hex) {
		t.Error("the system overlay's URL was taken for the runtime overlay's")
	}
}
