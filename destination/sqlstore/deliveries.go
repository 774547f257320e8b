package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/internal/storekit"
)

// The Store is also a destination.DeliveryStore over the deliveries and delivery_outputs tables
// (migration 0003; 0004 adds their transfer column). Transitions read the row, apply destination.Progress.Apply and write it back
// in one transaction holding the row (FOR UPDATE on PostgreSQL, the write lock on SQLite), so
// concurrent workers never lose an update.
var _ destination.DeliveryStore = (*Store)(nil)

// progressColumns are the columns of a destination.Progress, in progressArgs order, the same in
// deliveries (the CDN copy) and delivery_outputs; progressSet assigns them all.
const progressColumns = "status, object_key, url, size_bytes, checksum, transfer, attempts, error_code, error_message, " +
	"started_at, finished_at, updated_at"

var progressSet = strings.ReplaceAll(progressColumns, ",", " = ?,") + " = ?"

func (d Dialect) progressArgs(p *destination.Progress) []any {
	return []any{string(p.Status), p.Key, p.URL, p.SizeBytes, p.Checksum, p.Transfer, p.Attempts, p.ErrorCode, p.Error,
		d.nullTime(p.StartedAt), d.nullTime(p.FinishedAt), d.nullTime(p.UpdatedAt)}
}

// placeholders returns n comma-separated placeholders, one per argument of an INSERT.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// nullTime is timeArg with the zero time as NULL.
func (d Dialect) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.timeArg(t)
}

// progressScan returns scan destinations for progressColumns and a function that decodes them
// into p (an error names the bad column).
func progressScan(p *destination.Progress) ([]any, func() (string, error)) {
	var (
		status            string
		started, fin, upd any
	)
	dest := []any{&status, &p.Key, &p.URL, &p.SizeBytes, &p.Checksum, &p.Transfer, &p.Attempts, &p.ErrorCode, &p.Error,
		&started, &fin, &upd}
	return dest, func() (string, error) {
		p.Status = destination.OutputStatus(status)
		for _, f := range []struct {
			col string
			v   any
			t   *time.Time
		}{{"started_at", started, &p.StartedAt}, {"finished_at", fin, &p.FinishedAt}, {"updated_at", upd, &p.UpdatedAt}} {
			if f.v == nil {
				continue
			}
			t, err := parseTime(f.v)
			if err != nil {
				return f.col, err
			}
			*f.t = t
		}
		return "", nil
	}
}

func (s *Store) deliveryQuery(q string) string { return s.d.rebind(q) }

// AddDelivery stores rec, or adds to the stored record of rec.RenderID the outputs it does not
// have yet (everything else is left as stored). A bad rec gives a *destination.ValidationError.
func (s *Store) AddDelivery(ctx context.Context, rec *destination.DeliveryRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storekit.CheckDelivery(rec); err != nil {
		return err
	}
	c := storekit.Normalize(rec)
	err := s.tx(ctx, func(q querier) error { return s.addDelivery(ctx, q, c) })
	return wrap("add delivery", err)
}

// AddDeliveryTx is AddDelivery inside the caller's transaction tx on the Store's database (a
// queue's Enqueue records the delivery pending in the host's transaction: committed with it, or
// not at all). It is not retried: a transient failure fails tx, which the caller runs again.
func (s *Store) AddDeliveryTx(ctx context.Context, tx *sql.Tx, rec *destination.DeliveryRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if tx == nil {
		return wrap("add delivery", errors.New("no transaction"))
	}
	if err := storekit.CheckDelivery(rec); err != nil {
		return err
	}
	return wrap("add delivery", s.addDelivery(ctx, tx, storekit.Normalize(rec)))
}

// addDelivery inserts c (normalized) and its missing outputs through q.
func (s *Store) addDelivery(ctx context.Context, q querier, c *destination.DeliveryRecord) error {
	args := append([]any{c.WorkspaceID, c.RenderID}, s.d.progressArgs(&c.Progress)...)
	args = append(args, s.d.timeArg(c.CreatedAt))
	if _, err := q.ExecContext(ctx, s.deliveryQuery("INSERT INTO deliveries (workspace_id, render_id, "+progressColumns+
		", created_at) VALUES ("+placeholders(len(args))+") ON CONFLICT (workspace_id, render_id) DO NOTHING"),
		args...); err != nil {
		return err
	}
	// Hold the record (PostgreSQL) so concurrent adds number their outputs one after the other.
	var held string
	if err := q.QueryRowContext(ctx, s.deliveryQuery("SELECT render_id FROM deliveries WHERE workspace_id = ? AND render_id = ?"+
		s.d.forUpdate()), c.WorkspaceID, c.RenderID).Scan(&held); err != nil {
		return err
	}
	var next int
	if err := q.QueryRowContext(ctx, s.deliveryQuery("SELECT COALESCE(MAX(position) + 1, 0) FROM delivery_outputs "+
		"WHERE workspace_id = ? AND render_id = ?"), c.WorkspaceID, c.RenderID).Scan(&next); err != nil {
		return err
	}
	for i := range c.Outputs {
		o := &c.Outputs[i]
		args := append([]any{c.WorkspaceID, c.RenderID, o.IntegrationID, next + i, string(o.Provider)},
			s.d.progressArgs(&o.Progress)...)
		args = append(args, s.d.timeArg(o.CreatedAt))
		if _, err := q.ExecContext(ctx, s.deliveryQuery("INSERT INTO delivery_outputs (workspace_id, render_id, "+
			"integration_id, position, provider, "+progressColumns+", created_at) "+
			"VALUES ("+placeholders(len(args))+") "+
			"ON CONFLICT (workspace_id, render_id, integration_id) DO NOTHING"), args...); err != nil {
			return err
		}
	}
	return nil
}

func (d Dialect) forUpdate() string {
	if d.immediate { // SQLite: the transaction already holds the write lock
		return ""
	}
	return " FOR UPDATE"
}

// GetDelivery returns the record of renderID in workspaceID, destination.ErrNotFound, or a
// *CorruptError naming the render and column that cannot be decoded.
func (s *Store) GetDelivery(ctx context.Context, workspaceID, renderID string) (*destination.DeliveryRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rec *destination.DeliveryRecord
	err := s.retry(ctx, true, func() error {
		var err error
		rec, err = s.readDelivery(ctx, workspaceID, renderID)
		return err
	})
	return rec, wrap("get delivery", err)
}

// readDelivery reads a record with its outputs.
func (s *Store) readDelivery(ctx context.Context, workspaceID, renderID string) (*destination.DeliveryRecord, error) {
	q := s.db
	rec := &destination.DeliveryRecord{WorkspaceID: workspaceID, RenderID: renderID}
	corrupt := func(col string, err error) error {
		return &CorruptError{Rows: []CorruptRow{{ID: renderID, WorkspaceID: workspaceID, Column: col, err: err}}}
	}
	dest, decode := progressScan(&rec.Progress)
	var created any
	err := q.QueryRowContext(ctx, s.deliveryQuery("SELECT "+progressColumns+", created_at FROM deliveries "+
		"WHERE workspace_id = ? AND render_id = ?"), workspaceID, renderID).Scan(append(dest, &created)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, destination.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	if col, err := decode(); err != nil {
		return nil, corrupt(col, err)
	}
	if rec.CreatedAt, err = parseTime(created); err != nil {
		return nil, corrupt("created_at", err)
	}
	rows, err := q.QueryContext(ctx, s.deliveryQuery("SELECT integration_id, provider, "+progressColumns+", created_at "+
		"FROM delivery_outputs WHERE workspace_id = ? AND render_id = ? ORDER BY position, integration_id"), workspaceID, renderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var o destination.OutputRecord
		var provider string
		dest, decode := progressScan(&o.Progress)
		if err := rows.Scan(append(append([]any{&o.IntegrationID, &provider}, dest...), &created)...); err != nil {
			return nil, err
		}
		o.Provider = destination.Provider(provider)
		if col, err := decode(); err != nil {
			return nil, corrupt("delivery_outputs."+col, err)
		}
		if o.CreatedAt, err = parseTime(created); err != nil {
			return nil, corrupt("delivery_outputs.created_at", err)
		}
		rec.Outputs = append(rec.Outputs, o)
	}
	return rec, rows.Err()
}

// TransitionRender applies t to the CDN copy of renderID (see destination.Transition).
func (s *Store) TransitionRender(ctx context.Context, workspaceID, renderID string, t destination.Transition) error {
	return s.transition(ctx, workspaceID, renderID, "", t)
}

// TransitionOutput applies t to the output of integrationID of renderID.
func (s *Store) TransitionOutput(ctx context.Context, workspaceID, renderID, integrationID string, t destination.Transition) error {
	if integrationID == "" {
		return destination.ErrNotFound
	}
	return s.transition(ctx, workspaceID, renderID, integrationID, t)
}

// transition applies t to the render's CDN copy (integrationID empty) or to one output.
func (s *Store) transition(ctx context.Context, workspaceID, renderID, integrationID string, t destination.Transition) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storekit.CheckTransition(workspaceID, renderID, t); err != nil {
		return err
	}
	t.At = storekit.UTCMicro(t.At)
	err := s.tx(ctx, func(q querier) error {
		table, where, key := "deliveries", "workspace_id = ? AND render_id = ?", []any{workspaceID, renderID}
		if integrationID != "" {
			table, where, key = "delivery_outputs", where+" AND integration_id = ?", append(key, integrationID)
		}
		var p destination.Progress
		dest, decode := progressScan(&p)
		err := q.QueryRowContext(ctx, s.deliveryQuery("SELECT "+progressColumns+" FROM "+table+" WHERE "+where+
			s.d.forUpdate()), key...).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return errDone{destination.ErrNotFound}
		} else if err != nil {
			return err
		}
		if col, err := decode(); err != nil {
			return errDone{&CorruptError{Rows: []CorruptRow{{ID: renderID, WorkspaceID: workspaceID, Column: table + "." + col, err: err}}}}
		}
		if !p.Apply(t) {
			return nil
		}
		_, err = q.ExecContext(ctx, s.deliveryQuery("UPDATE "+table+" SET "+progressSet+" WHERE "+where),
			append(s.d.progressArgs(&p), key...)...)
		return err
	})
	return wrap("transition delivery", err)
}

var _ destination.DeliveryPruner = (*Store)(nil)

// prunable selects the finished deliveries (the CDN copy and every output completed or failed)
// whose latest change, theirs and their outputs', is before the cutoff (both arguments).
const prunable = "SELECT d.workspace_id, d.render_id FROM deliveries d " +
	"WHERE d.status IN ('completed', 'failed') AND COALESCE(d.updated_at, d.created_at) < ? " +
	"AND NOT EXISTS (SELECT 1 FROM delivery_outputs o WHERE o.workspace_id = d.workspace_id AND o.render_id = d.render_id " +
	"AND (o.status NOT IN ('completed', 'failed') OR COALESCE(o.updated_at, o.created_at) >= ? OR o.created_at >= ?))"

// PruneDeliveries deletes the finished records last changed before before
// (destination.DeliveryRecord.Prunable), outputs included, in one transaction, and reports how
// many.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := s.tx(ctx, func(q querier) error {
		n = 0
		cut := s.d.timeArg(before)
		rows, err := q.QueryContext(ctx, s.deliveryQuery(prunable+s.d.forUpdate()), cut, cut, cut)
		if err != nil {
			return err
		}
		var keys [][2]string
		for rows.Next() {
			var k [2]string
			if err := rows.Scan(&k[0], &k[1]); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := q.ExecContext(ctx, s.deliveryQuery("DELETE FROM delivery_outputs WHERE workspace_id = ? AND render_id = ?"), k[0], k[1]); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, s.deliveryQuery("DELETE FROM deliveries WHERE workspace_id = ? AND render_id = ?"), k[0], k[1]); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, wrap("prune deliveries", err)
}

var _ destination.AbandonedLister = (*Store)(nil)

// AbandonedOutputs returns the outputs and CDN copies that may have left an abandoned upload
// (destination.OutputRecord.Sweepable, DeliveryRecord.CDNSweepable), newest first, at most
// limit (100 when limit <= 0).
func (s *Store) AbandonedOutputs(ctx context.Context, before time.Time, limit int) ([]destination.OutputRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	var refs []destination.OutputRef
	err := s.retry(ctx, true, func() error {
		refs = nil
		const abandoned = "WHERE object_key <> '' AND COALESCE(updated_at, created_at) < ? AND (status <> 'completed' OR attempts > 1)"
		rows, err := s.db.QueryContext(ctx, s.deliveryQuery("SELECT workspace_id, render_id, integration_id, provider, object_key, "+
			"status, attempts, COALESCE(updated_at, created_at) AS last_change FROM delivery_outputs "+abandoned+
			" UNION ALL SELECT workspace_id, render_id, '', '', object_key, status, attempts, COALESCE(updated_at, created_at) "+
			"FROM deliveries "+abandoned+
			" ORDER BY last_change DESC, workspace_id, render_id, integration_id LIMIT ?"),
			s.d.timeArg(before), s.d.timeArg(before), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o destination.OutputRef
			var provider, status string
			var last any
			if err := rows.Scan(&o.WorkspaceID, &o.RenderID, &o.IntegrationID, &provider, &o.Key, &status, &o.Attempts, &last); err != nil {
				return err
			}
			o.Provider, o.Status = destination.Provider(provider), destination.OutputStatus(status)
			if o.UpdatedAt, err = parseTime(last); err != nil {
				return errDone{&CorruptError{Rows: []CorruptRow{{ID: o.RenderID, WorkspaceID: o.WorkspaceID, Column: "delivery_outputs.updated_at", err: err}}}}
			}
			refs = append(refs, o)
		}
		return rows.Err()
	})
	return refs, wrap("abandoned outputs", err)
}
