package serve

import (
	"github.com/gitboot/gitboot/bootsvc/dhcp"
	"github.com/gitboot/gitboot/bootsvc/metrics"
)

// admissionFigures reads adm's counters for /metrics (gitboot_dhcp_booting,
// gitboot_dhcp_held, gitboot_dhcp_admission_total, gitboot_dhcp_max_booting).
func admissionFigures(adm *dhcp.Admission, limit int) func() metrics.Admission {
	return func() metrics.Admission {
		st := adm.Stats()
		return metrics.Admission{Limit: limit, InFlight: st.InFlight, Queued: st.Queued,
			Held: st.Held, Answered: st.Answered, Dropped: st.Dropped, Expired: st.Expired}
	}
}
