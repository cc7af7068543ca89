package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/format"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/spf13/cobra"
)

// newAuditCmd is `sluice audit query`: records straight from the store
// file (read-only, no gateway needed) or from a running gateway's admin
// API; `sluice audit replay`, which writes the spools of stopped
// gateways into the store; and the transparency log's `sluice audit
// keygen` and `sluice audit verify` (audit_log_cmd.go).
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Query audit records, verify that none was tampered with, and write stopped gateways' spools into the store"}
	cmd.AddCommand(newAuditQueryCmd(), newAuditReplayCmd(), newAuditKeygenCmd(), newAuditVerifyCmd())
	return cmd
}

// newAuditReplayCmd is `sluice audit replay`: for every gateway that is
// not running, what its restart would do (audit.ReplaySpools). Exit
// status 1 when a spool could not be written.
func newAuditReplayCmd() *cobra.Command {
	var cfgPath, store string
	cmd := &cobra.Command{
		Use:   "replay [--store URL]",
		Short: "Write the records that stopped gateways left in their spools into the store, and close their open calls",
		Long: `A gateway acknowledges a call once its record is in its spool, beside the
store, and copies the spool into the store in the background; a gateway
that stopped writes the rest at its next start. replay does that now for
every gateway that is not running (a replica scaled away, a host retired):
the store then holds every record, and the calls those gateways left open
are closed with error gateway_restart. A spool that a running gateway holds
is left to it. With the config's store (no --store), each replayed
gateway's log is also signed with audit.checkpoint_key, as the gateway
would have at its shutdown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// With the config's store, its checkpoint key too: each
			// replayed log gets the checkpoint its gateway would have
			// signed at shutdown.
			ac := config.Audit{Store: store}
			if store == "" {
				cfg, err := config.Load(cfgPath, configChecks()...)
				if err != nil {
					return err
				}
				ac, store = cfg.Audit, cfg.Audit.Store
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			res, err := audit.ReplaySpoolsSigned(cmd.Context(), stores(), ac, log)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range res {
				switch {
				case r.InUse:
					fmt.Fprintf(cmd.OutOrStdout(), "gateway %q: running (its spool %s is locked); it writes its records itself\n", r.Gateway, r.Dir)
				case r.Err != nil:
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "gateway %q: FAILED: %v\n", r.Gateway, r.Err)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "gateway %q: %d spooled entries written into the store; open calls closed\n", r.Gateway, r.Pending)
				}
			}
			if len(res) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no spools beside", store)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d spools could not be written", failed, len(res))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&store, "store", "", "the store, one whose records go through spools: "+strings.Join(stores().SpoolForms(), ", ")+" (default: audit.store of the config)")
	return cmd
}

func newAuditQueryCmd() *cobra.Command {
	var (
		src                      storeSource
		since, until, output, tz string
		f                        audit.Filter
		withProof                bool
	)
	cmd := &cobra.Command{
		Use:   "query [--store URL | --server URL] [--since D] [--until T] [--source S] [--host H] [--decision allow|deny] [--reason R] [--format table|json|csv] [--tz Z] [--limit N] [--after ID] [--proof]",
		Short: "Query audit records from a store or a running gateway, newest first",
		Example: `  sluice audit query --since 24h --host api.stripe.com
  sluice audit query --decision deny --reason policy_denied --format json
  sluice audit query --source checkout --since 7d --limit 0 --format csv > checkout.csv
  sluice audit query --server http://127.0.0.1:9901 --id 01JDAZ3J8V7N0Q4W3M5K6P2R1S
  sluice audit query --limit 20 --after 01JDAZ3J8V7N0Q4W3M5K6P2R1S   # the next page
  sluice audit query --tz Europe/Paris --status 502`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var err error
			if f.Since, err = audit.ParseTimeArg(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if f.Until, err = audit.ParseTimeArg(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if err := f.Validate(); err != nil {
				return fmt.Errorf("--%w", err)
			}
			loc, err := loadTZ(tz)
			if err != nil {
				return err
			}
			if withProof {
				if cmd.Flags().Changed("format") && output != format.JSON {
					return errors.New("--proof writes JSON lines: --format json, or no --format")
				}
				output = format.JSON
			}
			w, err := format.NewRecordWriterIn(cmd.OutOrStdout(), output, loc)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			n, last := 0, ""
			write := func(r *audit.Record) error {
				n, last = n+1, r.ID
				return w.Write(r)
			}
			if withProof {
				ps, err := src.openProofs(cmd.Context())
				if err != nil {
					return err
				}
				defer ps.Close()
				write = func(r *audit.Record) error {
					n++
					return writeWithProof(cmd.OutOrStdout(), r, ps.proof(cmd.Context(), r.ID))
				}
			}
			if src.server != "" {
				err = src.remoteQuery(cmd.Context(), f, write)
			} else {
				var r audit.Reader
				if r, err = src.open(cmd.Context(), cmd.ErrOrStderr()); err != nil {
					return err
				}
				defer r.Close()
				err = r.Query(cmd.Context(), f, write)
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			switch {
			case n == 0:
				fmt.Fprintf(cmd.ErrOrStderr(), "no records match %s\n", describeFilter(&f, loc))
			case f.Limit > 0 && n == f.Limit:
				fmt.Fprintf(cmd.ErrOrStderr(), "(the %d newest shown; next page: --after %s; all: --limit 0)\n", n, last)
			}
			return nil
		},
	}
	src.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "records started at or after: a duration before now (24h, 7d) or a time (2026-11-21T12:00:00Z)")
	fl.StringVar(&until, "until", "", "records started before: a duration before now or a time")
	fl.StringVar(&f.Source, "source", "", "caller: workload, identity (e.g. a SPIFFE ID) or IP")
	fl.StringVar(&f.Host, "host", "", "destination host")
	fl.StringVar(&f.Decision, "decision", "", "allow or deny")
	fl.StringVar(&f.Reason, "reason", "", "reason code (policy_denied, undeclared_destination, upstream_timeout, …)")
	fl.StringVar(&f.Event, "event", "", "outbound_call, dns_query or audit_read (reads of the records)")
	fl.StringVar(&f.ID, "id", "", "one record, by id (the Sluice-Request-Id header sent upstream)")
	fl.StringVar(&f.ServiceEntry, "service-entry", "", "matched ServiceEntry, namespace/name")
	fl.IntVar(&f.Status, "status", 0, "HTTP status answered")
	fl.StringVar(&f.Path, "path", "", "request path prefix")
	fl.StringVar(&f.After, "after", "", "cursor: the records after this id, newest first (the last id of the previous page)")
	fl.StringVar(&output, "format", format.Table, "table, json (JSON lines, every field) or csv (every field)")
	fl.StringVar(&tz, "tz", "Local", "time zone of the table's times: Local (this machine's, $TZ), UTC, or a name like Europe/Paris")
	fl.IntVar(&f.Limit, "limit", audit.DefaultLimit, "at most this many records, newest first; 0 for all")
	fl.BoolVar(&withProof, "proof", false, `each record with its inclusion proof in its gateway's transparency log, against the latest signed checkpoint that covers it: JSON lines {"record": …, "proof": …}`)
	return cmd
}

// newCostCmd is `sluice cost report`: spend aggregated by source,
// destination and meter.
func newCostCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cost", Short: "Report the cost of outbound calls"}
	var (
		src                      storeSource
		since, until, by, output string
	)
	report := &cobra.Command{
		Use:   "report [--store URL | --server URL] [--since D] [--by source,destination,meter] [--format table|csv]",
		Short: "Aggregate spend by source, destination or meter",
		Long: `Aggregate the calls that went out (allowed, or denied in report mode) by any of
source (workload, else identity, else IP), destination (host) and meter: calls,
bytes sent and received, cost and currency. Costs are priced when each call
ends, from cost.meters and cost.per_gib.`,
		Example: `  sluice cost report --since 720h
  sluice cost report --by destination,meter --since 7d --format csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			var q audit.CostQuery
			var err error
			if q.Since, err = audit.ParseTimeArg(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if q.Until, err = audit.ParseTimeArg(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if q.By, err = audit.ParseBy(by); err != nil {
				return fmt.Errorf("--%w", err)
			}
			if err := q.Validate(); err != nil {
				return fmt.Errorf("--%w", err)
			}
			switch output {
			case format.Table, format.CSV, format.JSON:
			default:
				return fmt.Errorf("--format: unknown format %q (use table, csv or json)", output)
			}
			var rows []audit.CostRow
			if src.server != "" {
				rows, err = src.remoteCost(cmd.Context(), q)
			} else {
				var r audit.Reader
				if r, err = src.open(cmd.Context(), cmd.ErrOrStderr()); err != nil {
					return err
				}
				defer r.Close()
				rows, err = r.Cost(cmd.Context(), q)
			}
			if err != nil {
				return err
			}
			return format.WriteCost(cmd.OutOrStdout(), output, q.By, rows)
		},
	}
	src.addFlags(report)
	fl := report.Flags()
	fl.StringVar(&since, "since", "720h", "calls started at or after: a duration before now (720h, 30d) or a time")
	fl.StringVar(&until, "until", "", "calls started before: a duration before now or a time")
	fl.StringVar(&by, "by", "source,destination,meter", "group keys, comma-separated: source, destination, meter (empty: one total)")
	fl.StringVar(&output, "format", format.Table, "table, csv or json (JSON lines)")
	cmd.AddCommand(report, newCostExportCmd())
	return cmd
}

// storeSource is where audit commands read from: --store, --server, or
// the audit.store of the config file.
type storeSource struct {
	cfgPath, store, server, token string
}

func (s *storeSource) addFlags(cmd *cobra.Command) {
	addConfigFlag(cmd, &s.cfgPath)
	fl := cmd.Flags()
	fl.StringVar(&s.store, "store", "", "read this store directly, read-only: "+strings.Join(stores().Forms(), ", ")+" (default: audit.store of the config)")
	fl.StringVar(&s.server, "server", "", "ask a running gateway's admin API instead, e.g. http://127.0.0.1:9901")
	fl.StringVar(&s.token, "token", os.Getenv("SLUICE_ADMIN_TOKEN"), "bearer token for --server: the admin or the auditor token (default $SLUICE_ADMIN_TOKEN)")
	cmd.MarkFlagsMutuallyExclusive("store", "server")
}

// open opens the store read-only. A running gateway copies the records
// it acknowledged from its spool into the store within moments: open
// waits (up to freshWait) until every record acknowledged before it
// started is in the store, so that the answer includes them, or says how
// many are not. It warns on stderr about records that a gateway's spool
// holds and the store does not, when no gateway seems to be adding them
// (a stopped or crashed gateway adds them at its next start).
func (s *storeSource) open(ctx context.Context, stderr io.Writer) (audit.Reader, error) {
	store, err := storeURL(s.cfgPath, s.store)
	if err != nil {
		return nil, err
	}
	r, err := stores().OpenReader(ctx, store)
	if err != nil {
		return nil, err
	}
	pending, err := waitFresh(ctx, store, freshWait)
	if err != nil {
		fmt.Fprintf(stderr, "warning: cannot read the audit spool: %v\n", err)
	}
	for _, p := range pending {
		if p.Pending > 0 && time.Since(p.LastWrite) <= 2*time.Second {
			fmt.Fprintf(stderr, "note: gateway %q is still writing %d records it acknowledged into the store; this answer may lack them "+
				"(it is at most a few seconds behind; --server asks the gateway, which is current).\n", p.Gateway, p.Pending)
		}
		if p.Pending > 0 && time.Since(p.LastWrite) > 2*time.Second {
			fmt.Fprintf(stderr, "warning: %d records of gateway %q are in its spool (%s) and not yet in the store; "+
				"they are not in this answer. The gateway writes them at its next start; `sluice audit replay` writes them now.\n", p.Pending, p.Gateway, p.Dir)
		}
	}
	return r, nil
}

// storeURL is store when given, else audit.store of the config at
// cfgPath (the embedded default when empty).
func storeURL(cfgPath, store string) (string, error) {
	if store != "" {
		return store, nil
	}
	cfg, err := config.Load(cfgPath, configChecks()...)
	if err != nil {
		return "", err
	}
	return cfg.Audit.Store, nil
}

// get calls the admin API and returns the response for a 200.
func (s *storeSource) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	base := strings.TrimSuffix(s.server, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	// Straight to the admin API, never through $HTTP_PROXY: on a workload
	// that is often this very gateway, which would refuse the admin
	// address as undeclared.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Error string }
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return nil, fmt.Errorf("%s%s: %s: %s", base, path, resp.Status, e.Error)
	}
	return resp, nil
}

// remoteQuery streams GET /v1/audit into fn.
func (s *storeSource) remoteQuery(ctx context.Context, f audit.Filter, fn func(*audit.Record) error) error {
	resp, err := s.get(ctx, "/v1/audit", f.Query())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	bad := func(err error) error { return fmt.Errorf("%s: reading the response: %w", s.server, err) }
	if err := expectDelim(dec, '{'); err != nil {
		return bad(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		switch tok {
		case "records":
			if err := expectDelim(dec, '['); err != nil {
				return bad(err)
			}
			for dec.More() {
				var r audit.Record
				if err := dec.Decode(&r); err != nil {
					return bad(err)
				}
				if err := fn(&r); err != nil {
					return err
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return bad(err)
			}
		case "error":
			var msg string
			if err := dec.Decode(&msg); err != nil {
				return bad(err)
			}
			return fmt.Errorf("%s: the query failed part way: %s", s.server, msg)
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad(err)
			}
		}
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("unexpected %v, want %v", tok, want)
	}
	return nil
}

// remoteCost calls GET /v1/cost.
func (s *storeSource) remoteCost(ctx context.Context, q audit.CostQuery) ([]audit.CostRow, error) {
	resp, err := s.get(ctx, "/v1/cost", q.Query())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Rows []audit.CostRow `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: reading the response: %w", s.server, err)
	}
	if body.Rows == nil {
		return nil, errors.New(s.server + ": response has no rows")
	}
	return body.Rows, nil
}
