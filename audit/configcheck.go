package audit

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
)

// ConfigCheck is the check of audit.* and cost.*, the record store's and
// the pricer's sections (docs/contract.md §3), run by config.Load:
// audit.store must name a store of stores.
func ConfigCheck(stores *Stores) config.Check {
	return func(c *config.Config) []config.Problem {
		a := c.Audit
		var ps []config.Problem
		if err := stores.Check(a.Store); err != nil {
			ps = append(ps, config.Problemf("audit.store", "%v", err))
		}
		ps = append(ps, config.OneOf("audit.on_failure", a.OnFailure, "deny", "allow")...)
		ps = append(ps, checkCheckpoints(a)...)
		return append(ps, checkCost(c.Cost)...)
	}
}

// checkCheckpoints checks audit.checkpoint_*: an interval, an http(s)
// URL, and copies only of checkpoints that are taken.
func checkCheckpoints(a config.Audit) []config.Problem {
	var ps []config.Problem
	if a.CheckpointInterval.D() <= 0 {
		ps = append(ps, config.Problem{Key: "audit.checkpoint_interval", Msg: "must be positive"})
	}
	if u := a.CheckpointURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			ps = append(ps, config.Problem{Key: "audit.checkpoint_url", Msg: fmt.Sprintf("must be an http:// or https:// URL, got %q", u)})
		}
	}
	if a.CheckpointKey == "" {
		for key, v := range map[string]string{"audit.checkpoint_file": a.CheckpointFile, "audit.checkpoint_url": a.CheckpointURL} {
			if v != "" {
				ps = append(ps, config.Problem{Key: key, Msg: "copies checkpoints, and none are taken without audit.checkpoint_key"})
			}
		}
	}
	return ps
}

// checkCost checks cost.*: prices are not negative and every meter can
// match something.
func checkCost(c config.Cost) []config.Problem {
	ps := config.NonNegative("cost.per_gib", c.PerGiB)
	for i, m := range c.Meters {
		k := fmt.Sprintf("cost.meters[%d]", i)
		if m.Name == "" {
			ps = append(ps, config.Problem{Key: k + ".name", Msg: "required"})
		}
		if m.Host == "" {
			ps = append(ps, config.Problem{Key: k + ".host", Msg: "required"})
		}
		ps = append(ps, config.NonNegative(k+".per_request", m.PerRequest)...)
		if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
			ps = append(ps, config.Problem{Key: k + ".path_prefix", Msg: "must start with /"})
		}
	}
	return ps
}
