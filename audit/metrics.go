package audit

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// batchBuckets are the sluice_audit_batch_size histogram buckets (rows
// per commit).
var batchBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}

// instruments are the Auditor's metrics (docs/contract.md §9 and a few more).
type instruments struct {
	writeErrors metric.Int64Counter     // sluice_audit_write_errors_total
	batchSize   metric.Int64Histogram   // sluice_audit_batch_size
	commitTime  metric.Float64Histogram // sluice_audit_commit_duration_seconds
	pruned      metric.Int64Counter     // sluice_audit_records_pruned_total
	dropped     metric.Int64Counter     // sluice_audit_outcomes_dropped_total
	ingested    metric.Int64Counter     // sluice_audit_ingested_records_total
	ingestTime  metric.Float64Histogram // sluice_audit_ingest_duration_seconds
	// Damage (damage.go).
	spoolDamage       metric.Int64Counter // sluice_audit_spool_damage_total
	spoolDamagedBytes metric.Int64Counter // sluice_audit_spool_damaged_bytes_total
	storeDamage       metric.Int64Counter // sluice_audit_store_damage_total
	// Checkpoints (checkpoint.go).
	checkpoints      metric.Int64Counter // sluice_audit_checkpoints_total
	checkpointErrors metric.Int64Counter // sluice_audit_checkpoint_errors_total{copy}
	reg              metric.Registration
}

func newInstruments(mp metric.MeterProvider, a *Auditor) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/sluicehq/sluice/audit")
	var ins instruments
	var err error
	if ins.writeErrors, err = m.Int64Counter("sluice_audit_write_errors_total",
		metric.WithDescription("Audit store commits (and probe writes) that failed.")); err != nil {
		return nil, err
	}
	ins.writeErrors.Add(context.Background(), 0) // exported at 0, so alerts on increase() see the first error
	if ins.batchSize, err = m.Int64Histogram("sluice_audit_batch_size",
		metric.WithDescription("Rows written per audit store commit (group commit)."),
		metric.WithExplicitBucketBoundaries(batchBuckets...)); err != nil {
		return nil, err
	}
	if ins.commitTime, err = m.Float64Histogram("sluice_audit_commit_duration_seconds",
		metric.WithDescription("Time to write and commit (fsync) one batch of audit rows (to the spool, or to the store without one)."),
		metric.WithUnit("s")); err != nil {
		return nil, err
	}
	if ins.pruned, err = m.Int64Counter("sluice_audit_records_pruned_total",
		metric.WithDescription("Audit records deleted by audit.retention.")); err != nil {
		return nil, err
	}
	if ins.dropped, err = m.Int64Counter("sluice_audit_outcomes_dropped_total",
		metric.WithDescription("Outcomes given up after the store stayed unwritable with the retry buffer full.")); err != nil {
		return nil, err
	}
	if ins.ingested, err = m.Int64Counter("sluice_audit_ingested_records_total",
		metric.WithDescription("Spool entries (records and outcomes) written into the store by the ingester.")); err != nil {
		return nil, err
	}
	if ins.ingestTime, err = m.Float64Histogram("sluice_audit_ingest_duration_seconds",
		metric.WithDescription("Time to write one batch of spooled records into the store."),
		metric.WithUnit("s")); err != nil {
		return nil, err
	}
	if ins.spoolDamage, err = m.Int64Counter("sluice_audit_spool_damage_total",
		metric.WithDescription("Damage found in the audit spool at replay (unreadable bytes skipped, data missing): records may be lost. A crash never counts here.")); err != nil {
		return nil, err
	}
	ins.spoolDamage.Add(context.Background(), 0)
	if ins.spoolDamagedBytes, err = m.Int64Counter("sluice_audit_spool_damaged_bytes_total",
		metric.WithDescription("Bytes of the audit spool skipped or missing because of damage.")); err != nil {
		return nil, err
	}
	ins.spoolDamagedBytes.Add(context.Background(), 0)
	if ins.storeDamage, err = m.Int64Counter("sluice_audit_store_damage_total",
		metric.WithDescription("Audit store files found replaced or recreated while the gateway ran (their records are not in the new file).")); err != nil {
		return nil, err
	}
	ins.storeDamage.Add(context.Background(), 0)
	if ins.checkpoints, err = m.Int64Counter("sluice_audit_checkpoints_total",
		metric.WithDescription("Signed checkpoints of this gateway's transparency log taken and stored.")); err != nil {
		return nil, err
	}
	if ins.checkpointErrors, err = m.Int64Counter("sluice_audit_checkpoint_errors_total",
		metric.WithDescription("Checkpoints that could not be taken or stored (copy=store), or copied to audit.checkpoint_file (copy=file) or audit.checkpoint_url (copy=url).")); err != nil {
		return nil, err
	}
	if a.opts.Config.CheckpointKey != "" {
		for _, c := range []string{"store", "file", "url"} {
			ins.checkpointErrors.Add(context.Background(), 0, metric.WithAttributes(attribute.String("copy", c)))
		}
	}
	backlog, err := m.Int64ObservableGauge("sluice_audit_spool_backlog",
		metric.WithDescription("Records durable in the spool and not yet in the store (queryable)."))
	if err != nil {
		return nil, err
	}
	queue, err := m.Int64ObservableGauge("sluice_audit_queue_depth",
		metric.WithDescription("Audit rows waiting for the writer."))
	if err != nil {
		return nil, err
	}
	ready, err := m.Int64ObservableGauge("sluice_audit_store_ready",
		metric.WithDescription("1 while the audit store accepts writes, else 0."))
	if err != nil {
		return nil, err
	}
	ins.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(queue, int64(a.queueDepth()))
		o.ObserveInt64(backlog, int64(a.backlog()))
		v := int64(1)
		if a.Ready() != nil {
			v = 0
		}
		o.ObserveInt64(ready, v)
		return nil
	}, queue, ready, backlog)
	if err != nil {
		return nil, err
	}
	return &ins, nil
}
