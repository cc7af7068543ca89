package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
	"github.com/sluicehq/sluice/internal/config"
)

const crashEnv = "SLUICE_AUDIT_CRASH_STORE"

// TestCrashChild is the process TestKill9 kills: it begins records from
// many goroutines and prints each ID once Begin has returned.
func TestCrashChild(t *testing.T) {
	url := os.Getenv(crashEnv)
	if url == "" {
		t.Skip("helper process of TestKill9")
	}
	a, err := audit.Open(context.Background(), audit.Options{Stores: testStores, Config: config.Audit{Store: url}, Gateway: "crash", Logger: quiet})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for w := range 32 {
		go func() {
			for i := 0; ; i++ {
				r := storetest.Sample(w*1_000_000 + i)
				if err := a.Begin(context.Background(), r); err != nil {
					fmt.Println("begin:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(out, r.ID)
				out.Flush()
				mu.Unlock()
				if i%2 == 0 {
					r.Status = 200
					a.End(r)
				}
			}
		}()
	}
	select {}
}

// A record whose Begin returned is on disk even after kill -9.
func TestKill9KeepsBegunRecords(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper")
	}
	url := "sqlite://" + filepath.Join(t.TempDir(), "audit.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(20 * time.Second)
	for len(ids) < 3000 && sc.Scan() {
		line := sc.Text()
		if len(line) != audit.IDLen {
			t.Fatalf("child: %s", line)
		}
		ids = append(ids, line)
		if time.Now().After(deadline) {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// IDs already in the pipe were printed after their Begin returned too.
	for sc.Scan() {
		if line := sc.Text(); len(line) == audit.IDLen {
			ids = append(ids, line)
		}
	}
	_ = cmd.Wait()
	if len(ids) < 100 {
		t.Fatalf("child printed only %d IDs", len(ids))
	}

	ctx := context.Background()
	// The restart of the same gateway writes what its spool holds into
	// the store and closes the calls left open.
	a, err := audit.Open(ctx, audit.Options{Stores: testStores, Config: config.Audit{Store: url}, Gateway: "crash", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := testStores.OpenReader(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stored := map[string]audit.Record{}
	closed := 0
	if err := r.Query(ctx, audit.Filter{}, func(rec *audit.Record) error {
		if rec.TimeEnd.IsZero() {
			return fmt.Errorf("record %s still open after restart", rec.ID)
		}
		if rec.Error == audit.ErrorGatewayRestart {
			closed++
		}
		stored[rec.ID] = *rec
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok := stored[id]; !ok {
			t.Fatalf("record %s was acknowledged by Begin but is not in the store after kill -9 and restart", id)
		}
	}
	if closed == 0 {
		t.Error("no record closed with gateway_restart: the kill left no call open?")
	}
	t.Logf("%d acknowledged records, %d stored, %d closed at restart", len(ids), len(stored), closed)
}
