package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/tlog"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

// The transparency log's commands: `sluice audit keygen` and `sluice
// audit verify` (audit/verify.go, audit/README.md "Tamper evidence"), and
// what `sluice audit query --proof` adds.

// newAuditKeygenCmd is `sluice audit keygen`: an Ed25519 key pair for
// signing checkpoints.
func newAuditKeygenCmd() *cobra.Command {
	var name, out string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen [--out FILE] [--name NAME]",
		Short: "Write a key pair that signs checkpoints of the audit log (audit.checkpoint_key) and verifies them",
		Long: `Writes FILE, the signing key (give it to the gateway as audit.checkpoint_key,
readable by it alone), and FILE.pub, the verifier key that ` + "`sluice audit verify --key`" + `
and any C2SP signed-note verifier take. Both are in the text forms of
golang.org/x/mod/sumdb/note (Ed25519). Replicas may share one key: each
signs its own log, named by its gateway id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, vkey, err := tlog.GenerateKey(name)
			if err != nil {
				return fmt.Errorf("--name: %w", err)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			write := func(path, content string, mode os.FileMode) error {
				f, err := os.OpenFile(path, flags, mode)
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%s exists (--force replaces it)", path)
				}
				if err != nil {
					return err
				}
				_, err = f.WriteString(content + "\n")
				if serr := f.Sync(); err == nil {
					err = serr
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				return err
			}
			if err := write(out, skey, 0o600); err != nil {
				return err
			}
			if err := write(out+".pub", vkey, 0o644); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: the signing key (audit.checkpoint_key); keep it secret\n", out)
			fmt.Fprintf(w, "wrote %s.pub: the verifier key (sluice audit verify --key %s.pub):\n%s\n", out, out, vkey)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "audit.key", "the signing key's file; the verifier key goes to FILE.pub")
	fl.StringVar(&name, "name", tlog.DefaultKeyName, "the key's name, which signatures carry")
	fl.BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

// newAuditVerifyCmd is `sluice audit verify`. Exit status 0: every log
// verified is intact; 1: something was found (altered, deleted, inserted
// or reordered records, forged or unmatched checkpoints); 2: the
// verification could not be done.
func newAuditVerifyCmd() *cobra.Command {
	var (
		cfgPath, store, output string
		keys, cpFiles, gws     []string
	)
	cmd := &cobra.Command{
		Use:   "verify [--store URL] [--key PUB]... [--checkpoint FILE]... [--gateway G]...",
		Short: "Check that no audit record was altered, deleted, inserted or reordered since it was logged",
		Long: `Reads each gateway's transparency log and records from the store (read-only),
recomputes every record's leaf hash and the tree, and checks them against
the signed checkpoints: those the gateway stored and those in each
--checkpoint FILE (audit.checkpoint_file, a copy outside the store), whose
signatures must verify with a --key. Every altered, deleted, inserted or
reordered record is named by id and seq.

Exit status: 0 intact; 1 not intact (what was found is listed); 2 the
verification could not be done. Without --key, the public half of
audit.checkpoint_key is used when the config names one and it is readable
(an auditor should rather bring the key they trust); without any key,
checkpoints are not checked and only the stored hashes are, which whoever
changed a record could have rewritten too.`,
		Example: `  sluice audit verify --key audit.key.pub
  sluice audit verify --store sqlite:///backup/audit.db --key audit.key.pub --checkpoint /mnt/worm/checkpoints
  sluice audit verify --store postgres://audit@db/sluice --key audit.key.pub --gateway replica-a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fail := func(err error) error { return exitCode(2, "sluice audit verify: "+err.Error()) }
			if output != "text" && output != "json" {
				return fail(fmt.Errorf("--format must be text or json, got %q", output))
			}
			var cfg *config.Config
			if store == "" || len(keys) == 0 {
				c, err := config.Load(cfgPath, configChecks()...)
				if err != nil {
					return fail(err)
				}
				cfg = c
			}
			if store == "" {
				store = cfg.Audit.Store
			}
			opts := audit.VerifyOptions{Gateways: gws}
			var vs []note.Verifier
			for _, k := range keys {
				v, err := tlog.ReadVerifier(k)
				if err != nil {
					return fail(fmt.Errorf("--key: %w", err))
				}
				vs = append(vs, v)
			}
			stderr := cmd.ErrOrStderr()
			if len(vs) == 0 && cfg != nil && cfg.Audit.CheckpointKey != "" {
				if v, err := tlog.ReadVerifier(cfg.Audit.CheckpointKey); err == nil {
					fmt.Fprintf(stderr, "note: checking checkpoints with the public half of audit.checkpoint_key (%s); an auditor should pass --key\n", cfg.Audit.CheckpointKey)
					vs = append(vs, v)
				}
			}
			if len(vs) > 0 {
				opts.Verifiers = tlog.Verifiers(vs...)
			} else {
				fmt.Fprintln(stderr, "warning: no --key: signed checkpoints are not checked, only the stored hashes, which whoever changed a record could have rewritten too")
			}
			for _, path := range cpFiles {
				b, err := os.ReadFile(path)
				if err != nil {
					return fail(fmt.Errorf("--checkpoint: %w", err))
				}
				if len(vs) == 0 {
					return fail(errors.New("--checkpoint needs a --key to check its signatures with"))
				}
				for i, n := range tlog.SplitNotes(b) {
					opts.Checkpoints = append(opts.Checkpoints, audit.ExternalCheckpoint{Source: fmt.Sprintf("%s#%d", path, i+1), Note: n})
				}
			}
			ctx := cmd.Context()
			s, err := stores().Open(ctx, store, audit.StoreOptions{ReadOnly: true})
			if err != nil {
				return fail(err)
			}
			defer s.Close()
			ls, ok := s.(audit.LogStore)
			if !ok {
				return fail(fmt.Errorf("the store %s keeps no transparency log", store))
			}
			warnPending(ctx, stderr, store)
			res, err := audit.VerifyLogs(ctx, ls, opts)
			if err != nil {
				return fail(err)
			}
			bad := 0
			for i := range res {
				if !res[i].Intact() {
					bad++
				}
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				for i := range res {
					if err := enc.Encode(verificationJSON(&res[i])); err != nil {
						return fail(err)
					}
				}
			} else {
				writeVerification(cmd.OutOrStdout(), res)
			}
			if len(res) == 0 {
				fmt.Fprintln(stderr, "no log in", store)
			}
			if bad > 0 {
				return exitCode(1, fmt.Sprintf("sluice audit verify: %d of %d logs NOT INTACT", bad, len(res)))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &cfgPath)
	fl := cmd.Flags()
	fl.StringVar(&store, "store", "", "the store to verify, read-only: "+strings.Join(stores().Forms(), ", ")+" (default: audit.store of the config)")
	fl.StringArrayVar(&keys, "key", nil, "a verifier key file (sluice audit keygen's FILE.pub); repeat for keys used before a rotation")
	fl.StringArrayVar(&cpFiles, "checkpoint", nil, "a file of signed checkpoints (audit.checkpoint_file); repeatable")
	fl.StringArrayVar(&gws, "gateway", nil, "verify only this gateway's log; repeatable (default: every log in the store)")
	fl.StringVar(&output, "format", "text", "text, or json (one object per log)")
	return cmd
}

// warnPending says on w when gateways' spools hold records the store does
// not have yet (they are verified once they reach it).
func warnPending(ctx context.Context, w io.Writer, store string) {
	pending, _ := audit.PendingSpool(ctx, stores(), store)
	for _, p := range pending {
		if p.Pending > 0 {
			fmt.Fprintf(w, "note: %d records of gateway %q are in its spool and not yet in the store: not verified\n", p.Pending, p.Gateway)
		}
	}
}

// writeVerification writes the text report of res.
func writeVerification(w io.Writer, res []audit.LogVerification) {
	for i := range res {
		v := &res[i]
		state := "INTACT"
		if !v.Intact() {
			state = "NOT INTACT"
		}
		fmt.Fprintf(w, "log %q: %s: %d records logged (%d checked, %d pruned by retention)", v.Gateway, state, v.Size, v.Checked, v.Pruned)
		switch {
		case v.Latest != nil:
			fmt.Fprintf(w, "; %d signed checkpoints checked, the latest of %d records", v.Checkpoints, v.Latest.Size)
			if n := v.Size - v.Latest.Size; n > 0 {
				fmt.Fprintf(w, " (%d logged since, not yet signed)", n)
			}
		case v.Checkpoints > 0:
			fmt.Fprintf(w, "; %d signed checkpoints checked, none matches", v.Checkpoints)
		}
		fmt.Fprintln(w)
		for _, f := range v.Findings {
			where := ""
			if f.Leaf >= 0 {
				where = fmt.Sprintf(" leaf %d", f.Leaf)
			}
			if f.ID != "" {
				where += fmt.Sprintf(" seq %d id %s", f.Seq, f.ID)
			}
			fmt.Fprintf(w, "  %s%s: %s\n", strings.ToUpper(f.Kind), where, f.Detail)
		}
	}
}

// verificationJSON is the JSON form of one log's verification.
func verificationJSON(v *audit.LogVerification) any {
	type out struct {
		Gateway     string          `json:"gateway"`
		Intact      bool            `json:"intact"`
		Size        int64           `json:"size"`
		Root        tlog.Hash       `json:"root"`
		Checked     int64           `json:"checked"`
		Pruned      int64           `json:"pruned"`
		Checkpoints int             `json:"checkpoints"`
		Latest      int64           `json:"latest_checkpoint_size"`
		Findings    []audit.Finding `json:"findings"`
	}
	o := out{Gateway: v.Gateway, Intact: v.Intact(), Size: v.Size, Root: v.Root, Checked: v.Checked, Pruned: v.Pruned,
		Checkpoints: v.Checkpoints, Findings: v.Findings}
	if v.Latest != nil {
		o.Latest = v.Latest.Size
	}
	if o.Findings == nil {
		o.Findings = []audit.Finding{}
	}
	return o
}

// proofSource makes the inclusion proofs of `sluice audit query --proof`.
type proofSource struct {
	lr  audit.LogReader                                               // --store
	get func(ctx context.Context, id string) (json.RawMessage, error) // --server
	cl  io.Closer
}

// openProofs opens where proofs come from: the store, or the server.
func (s *storeSource) openProofs(ctx context.Context) (*proofSource, error) {
	if s.server != "" {
		return &proofSource{get: func(ctx context.Context, id string) (json.RawMessage, error) {
			resp, err := s.get(ctx, "/v1/audit/proof", url.Values{"id": {id}})
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return nil, err
			}
			return json.RawMessage(b), nil
		}}, nil
	}
	store, err := storeURL(s.cfgPath, s.store)
	if err != nil {
		return nil, err
	}
	st, err := stores().Open(ctx, store, audit.StoreOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	ls, ok := st.(audit.LogStore)
	if !ok {
		_ = st.Close()
		return nil, fmt.Errorf("--proof: the store %s keeps no transparency log", store)
	}
	lr, err := ls.LogSnapshot(ctx)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return &proofSource{lr: lr, cl: st}, nil
}

// proof is the inclusion proof of record id as JSON (an object with an
// "error" when there is none).
func (p *proofSource) proof(ctx context.Context, id string) json.RawMessage {
	var v any
	if p.get != nil {
		b, err := p.get(ctx, id)
		if err == nil {
			return b
		}
		v = map[string]string{"error": err.Error()}
	} else if pr, err := audit.ProveRecord(ctx, p.lr, id, 0); err != nil {
		v = map[string]string{"error": err.Error()}
	} else {
		v = pr
	}
	b, _ := json.Marshal(v)
	return b
}

func (p *proofSource) Close() error {
	var errs []error
	if p.lr != nil {
		errs = append(errs, p.lr.Close())
	}
	if p.cl != nil {
		errs = append(errs, p.cl.Close())
	}
	return errors.Join(errs...)
}

// writeWithProof writes r as a JSON line with its inclusion proof.
func writeWithProof(w io.Writer, r *audit.Record, proof json.RawMessage) error {
	rec, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b, err := json.Marshal(struct {
		Record json.RawMessage `json:"record"`
		Proof  json.RawMessage `json:"proof"`
	}{rec, compactJSON(proof)})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// compactJSON is b without its whitespace (the server indents).
func compactJSON(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
