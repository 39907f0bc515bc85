package serve

import (
	"os"
	"runtime/debug"
)

// ServingGCPercent is the garbage collector's target (GOGC) while the
// services run: the heap may grow to 1.5x what is live before a
// collection, not 2x. At 10,000 nodes serve holds ~50 MB live during a
// boot storm (the served snapshot, the inventory, the status store, the
// notes writer's records; no evaluated nodes, encoded inventory or agent
// binary between commits); with the default 100 its peak RSS was
// 185-210 MB when it held 80 MB, with 50 and 50 MB it stays at 100-111 MB
// (bench/RESULTS.md, "admission control" and "peak RSS"), for a few
// percent more CPU in collections. A GOGC in the environment is the
// operator's choice and is left alone.
const ServingGCPercent = 50

// releaseMemory returns to the kernel the heap a build left as garbage
// (parsing and resolving every node, compressing overlays: at 10,000
// nodes about half of serve's resident memory after a first build, which
// the runtime would otherwise keep for a while). Called once the services
// are about to start and after each applied commit: a boot storm then
// starts from the live heap, not from the build's high-water mark. From
// the first call on, the collector keeps ServingGCPercent.
func releaseMemory() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(ServingGCPercent)
	}
	debug.FreeOSMemory()
}
