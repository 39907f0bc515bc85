package serve

import (
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gitboot/gitboot/internal/atomicfile"
)

// rebootMarksFile holds, in the state directory, the nodes applied plans
// said need a reboot, until they boot again.
const rebootMarksFile = "reboot-marks.json"

// rebootMarks remembers, per node, when the last applied commit whose plan
// said the node needs a reboot (kernel arguments changed, say, which no
// boot artifact digest shows) was applied; a boot that started later
// picked it up.
type rebootMarks struct {
	log  *slog.Logger
	path string
	mu   sync.Mutex
	m    map[string]time.Time
}

func openRebootMarks(path string, log *slog.Logger) *rebootMarks {
	rm := &rebootMarks{log: log, path: path, m: map[string]time.Time{}}
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &rm.m); err != nil {
			log.Warn("reboot marks unreadable; starting without them", "file", path, "err", err)
			rm.m = map[string]time.Time{}
		}
	}
	return rm
}

// mark records that nodes need a reboot for a commit applied at.
func (rm *rebootMarks) mark(nodes []string, at time.Time) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for _, n := range nodes {
		rm.m[n] = at
	}
	rm.save()
}

// needs reports whether node still needs the reboot it was marked for:
// its current boot started before the mark (or is unknown). A mark the
// node has booted past is dropped.
func (rm *rebootMarks) needs(node string, bootStart time.Time) bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	at, ok := rm.m[node]
	if !ok {
		return false
	}
	if bootStart.After(at) {
		delete(rm.m, node)
		rm.save()
		return false
	}
	return true
}

func (rm *rebootMarks) save() {
	data, _ := json.Marshal(rm.m)
	if err := atomicfile.WriteFile(rm.path, append(data, '\n'), 0o600); err != nil {
		rm.log.Warn("writing reboot marks", "file", rm.path, "err", err)
	}
}
