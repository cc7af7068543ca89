package sqlite

import (
	"context"
	"database/sql"
	"time"
)

const (
	// checkpointEvery is how often the checkpointer copies committed WAL
	// frames into the database file.
	checkpointEvery = 250 * time.Millisecond
	// writerAutoCheckpoint (pages, 4 KiB each) is when the writer
	// checkpoints itself: only if the checkpointer falls far behind.
	writerAutoCheckpoint = 16384
)

// checkpointer copies the WAL into the database file from its own
// connection (PRAGMA wal_checkpoint(PASSIVE), which never blocks the
// writer), so commits — and the Begin calls waiting on them — do not pay
// for it, and the work runs on another core. SQLite restarts the WAL from
// its start once it has been copied entirely.
type checkpointer struct {
	db   *sql.DB
	quit chan struct{}
	done chan struct{}
}

func startCheckpointer(s *store, dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, err
	}
	c := &checkpointer{db: db, quit: make(chan struct{}), done: make(chan struct{})}
	go c.run(s)
	return c, nil
}

func (c *checkpointer) run(s *store) {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		var busy, logFrames, done int
		err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
		if err != nil {
			// The writer notices real trouble at its next commit; this
			// one only says so.
			s.opts.Logger.Debug("audit: checkpoint", "path", s.path, "err", err)
		}
	}
}

// stop ends the checkpointer and closes its connection.
func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	_ = c.db.Close()
}
