package reconcile

// count sums the resource changes' actions into p.Summary: a replacement
// (delete and create) is one add and one destroy.
func (p *Plan) count() {
	for _, rc := range p.ResourceChanges {
		switch {
		case len(rc.Actions) == 2:
			p.Summary.Add++
			p.Summary.Destroy++
		case rc.Actions[0] == ActCreate:
			p.Summary.Add++
		case rc.Actions[0] == ActDelete:
			p.Summary.Destroy++
		default:
			p.Summary.Change++
		}
	}
}
