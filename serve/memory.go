package serve

import "runtime/debug"

// releaseMemory returns to the kernel the heap a build left as garbage
// (parsing and resolving every node, compressing overlays: at 10,000
// nodes about half of serve's resident memory after a first build, which
// the runtime would otherwise keep for a while). Called once the services
// are about to start and after each applied commit: a boot storm then
// starts from the live heap, not from the build's high-water mark.
func releaseMemory() { debug.FreeOSMemory() }
