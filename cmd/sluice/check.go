package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/egress"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/policy"
	"github.com/sluicehq/sluice/registry"
	"github.com/spf13/cobra"
)

// newCheckCmd is `sluice check --from ID --url URL [--method M]`: the
// decision the gateway would take, with no traffic sent and nothing
// recorded. Exit status: 0 allowed, 2 denied, 1 error.
func newCheckCmd() *cobra.Command {
	var cfgPath, from, rawURL, method string
	var headers []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check --from ID --url URL [--method M]",
		Short: "Show the decision for a call, without sending it (exit 0 allow, 2 deny)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, configChecks()...)
			if err != nil {
				return err
			}
			log := slog.New(slog.DiscardHandler)
			reg := registry.New(registry.Options{Paths: cfg.ResolveAll(cfg.Registry.Paths), Logger: log,
				Build: registry.BuildOptions{MaxBytes: cfg.Limits.RegistryBytes, Gateways: cfg.Registry.Gateways, PodLabels: cfg.Registry.Kubernetes.PodLabels}})
			if err := reg.Load(cmd.Context()); err != nil {
				return err
			}
			pol, err := policy.New(cmd.Context(), policy.Options{Config: cfg.Policy, Paths: cfg.ResolveAll(cfg.Policy.Paths), Logger: log})
			if err != nil {
				return err
			}
			gw, err := egress.New(egress.Options{Config: cfg, Registry: reg, Policy: pol, Logger: log})
			if err != nil {
				return err
			}
			h := http.Header{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok {
					return fmt.Errorf("--header %q: want Name: value", kv)
				}
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			res, err := gw.Check(cmd.Context(), from, rawURL, method, h)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				_ = enc.Encode(res)
			} else {
				printCheck(cmd.OutOrStdout(), res)
			}
			if res.Decision == "deny" && res.Enforced {
				return exitCode(2, "")
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&from, "from", "", "the caller: an IP (mapped by identity.sources) or an identity such as a SPIFFE ID")
	cmd.Flags().StringVar(&rawURL, "url", "", "the destination, http://host[:port]/path (plain HTTP) or https://host[:port] (CONNECT)")
	cmd.Flags().StringVar(&method, "method", "GET", "HTTP method (for http:// URLs)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "a request header, \"Name: value\" (repeatable): for VirtualService header matches and consistent hashing")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func printCheck(w io.Writer, r *egress.CheckResult) {
	verdict := r.Decision
	if r.Reason != "" {
		verdict += " (" + r.Reason + ")"
	}
	if !r.Enforced {
		verdict += " — reported only, the call would go through (report mode)"
	}
	fmt.Fprintf(w, "decision:      %s\n", verdict)
	if r.Detail != "" {
		fmt.Fprintf(w, "detail:        %s\n", r.Detail)
	}
	id := r.Identity.ID
	if id == "" {
		id = "(none)"
	}
	fmt.Fprintf(w, "caller:        %s [%s]", id, r.Identity.Source)
	if r.Identity.Workload != "" {
		fmt.Fprintf(w, " workload=%s", r.Identity.Workload)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "call:          %s %s:%d%s (%s)\n", r.Method, r.Host, r.Port, pathIfHTTP(r), r.Kind)
	if r.ServiceEntry == "" {
		fmt.Fprintf(w, "service entry: (none)\n")
	} else {
		fmt.Fprintf(w, "service entry: %s, host %s, port %d/%s %s, resolution %s\n", r.ServiceEntry, r.Route.Host,
			r.Route.Port.Number, r.Route.Port.Protocol, r.Route.Port.Name, r.Route.Entry.Resolution)
	}
	if len(r.PolicyReasons) > 0 {
		fmt.Fprintf(w, "policy:        %s\n", strings.Join(r.PolicyReasons, "; "))
	}
	switch {
	case r.Route == nil:
	case r.TLSOrigination:
		t := r.Route.TLS
		sni := t.SNI
		if sni == "" {
			sni = r.Host
		}
		verify := "system roots"
		if t.CACertificates != "" {
			verify = t.CACertificates
		}
		if t.InsecureSkipVerify {
			verify = "NONE (insecureSkipVerify)"
		}
		san := "the SNI"
		if len(t.SubjectAltNames) > 0 {
			san = strings.Join(t.SubjectAltNames, ", ")
		}
		fmt.Fprintf(w, "tls route:     originate %s to port %d, SNI %s, verify with %s, SAN %s (%s)\n", t.Mode, r.Route.Port.DialPort(), sni, verify, san, r.Route.DestinationRule)
	case r.Kind == "connect" && r.Route.Port.Protocol.IsTLS():
		fmt.Fprintf(w, "tls route:     passthrough; the ClientHello SNI must be %s\n", r.Host)
	default:
		fmt.Fprintf(w, "tls route:     none (%s upstream)\n", strings.ToLower(string(r.Route.Port.Protocol)))
	}
	for _, t := range r.Targets {
		fmt.Fprintf(w, "dials:         %s\n", t)
	}
	printRouting(w, r.Routing)
}

// printRouting shows the VirtualService rule, subset, load balancing,
// pool limits, outlier detection, timeout and retries of a call, and the
// endpoint the balancer would choose now.
func printRouting(w io.Writer, v *egress.RoutingView) {
	if v == nil {
		return
	}
	if v.Rule != nil {
		match := "every request"
		if len(v.Rule.Match) > 0 {
			b, _ := json.Marshal(v.Rule.Match)
			match = string(b)
		}
		fmt.Fprintf(w, "route:         %s (VirtualService %s), match %s\n", v.Rule.Name, v.VirtualService, match)
		subset := v.Subset
		if subset == "" {
			subset = "(all endpoints)"
		}
		fmt.Fprintf(w, "subset:        %s\n", subset)
		timeout := "none"
		if v.Rule.Timeout > 0 {
			timeout = v.Rule.Timeout.String()
		}
		rt := v.Rule.Retry
		retries := "none"
		if rt.Attempts > 0 {
			var on []string
			for _, x := range []struct {
				set  bool
				name string
			}{{rt.On5xx, "5xx"}, {rt.OnGateway, "gateway-error"}, {rt.OnConnect, "connect-failure"}, {rt.OnReset, "reset"}} {
				if x.set {
					on = append(on, x.name)
				}
			}
			for _, c := range rt.Codes {
				on = append(on, fmt.Sprint(c))
			}
			retries = fmt.Sprintf("%d attempts on %s", rt.Attempts, strings.Join(on, ","))
			if rt.PerTryTimeout > 0 {
				retries += ", per try " + rt.PerTryTimeout.String()
			}
		}
		fmt.Fprintf(w, "timeout:       %s; retries: %s\n", timeout, retries)
	} else if r := v.L4Rule; r != nil {
		match := "every tunnel"
		if len(r.Match) > 0 {
			b, _ := json.Marshal(r.Match)
			match = string(b)
		}
		fmt.Fprintf(w, "route:         %s (VirtualService %s), match %s\n", r.Name, v.VirtualService, match)
		subset := v.Subset
		if subset == "" {
			subset = "(all endpoints)"
		}
		fmt.Fprintf(w, "subset:        %s\n", subset)
	} else if v.Note != "" {
		fmt.Fprintf(w, "route:         %s\n", v.Note)
	}
	if p := v.Policy; p != nil {
		alg := p.LB.Algorithm
		if alg == "" {
			alg = "LEAST_REQUEST (default)"
		}
		switch {
		case p.LB.HashHeader != "":
			alg += " on header " + p.LB.HashHeader
		case p.LB.HashQuery != "":
			alg += " on query parameter " + p.LB.HashQuery
		case p.LB.HashSourceIP:
			alg += " on the source IP"
		case p.LB.HashCookie != "":
			alg += " on cookie " + p.LB.HashCookie
		}
		fmt.Fprintf(w, "balancing:     %s (cluster %s)\n", alg, v.Cluster)
		if p.Pool.Limited() || p.Pool.ConnectTimeout > 0 {
			fmt.Fprintf(w, "pool:          maxConnections %d, http1MaxPendingRequests %d, connectTimeout %s (0: no limit)\n",
				p.Pool.MaxConnections, p.Pool.MaxPending, p.Pool.ConnectTimeout)
		}
		if q := p.Pool; q.ConnLimited() || q.KeepAlive || q.MaxRetries > 0 {
			fmt.Fprintf(w, "connections:   maxRequestsPerConnection %d, maxConnectionDuration %s, idleTimeout %s (tcp %s), maxRetries %d, tcpKeepalive %v (0: none)\n",
				q.MaxRequestsPerConnection, q.MaxConnectionDuration, q.IdleTimeout, q.TCPIdleTimeout, q.MaxRetries, q.KeepAlive)
		}
		if o := p.Outlier; o.Enabled {
			fmt.Fprintf(w, "outliers:      eject after %d 5xx / %d gateway errors, interval %s, base ejection %s, max %d%%, panic below %d%% healthy\n",
				o.Consecutive5xx, o.ConsecutiveGateway, o.Interval, o.BaseEjectionTime, o.MaxEjectionPercent, o.MinHealthPercent)
		}
	}
	if v.Endpoint != "" {
		fmt.Fprintf(w, "endpoint now:  %s\n", v.Endpoint)
	}
}

func pathIfHTTP(r *egress.CheckResult) string {
	if r.Kind == "http" {
		return r.Path
	}
	return ""
}
