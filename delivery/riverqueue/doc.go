// Package riverqueue makes deliveries durable on River (github.com/riverqueue/river): jobs
// inserted in the host's own transaction, worked by any number of processes on one PostgreSQL
// database (riverpgxv5), or in one process on SQLite (riversqlite, modernc, pure Go). It adapts
// the delivery engine to River; hosts with their own queue (SQS, Pub/Sub, Kafka) call the engine's
// DeliverCDN and DeliverTarget from their own consumers instead.
//
//	q, err := riverqueue.NewPostgres(pool, riverqueue.Config{Engine: engine, Deliveries: store, CDN: cdn,
//		Sealer: keyring, OpenRender: openRenderFile}) // keyring: the *crypto.Keyring of the integrations
//	err = q.Migrate(ctx)                      // River's schema, once at start-up (rivermigrate)
//	err = q.Start(ctx)                        // work jobs
//	tx, _ := pool.Begin(ctx)                  // the host's render row and the plan, atomically:
//	_, err = q.Enqueue(ctx, tx, plan)         //   nothing runs before commit, nothing after rollback
//	err = tx.Commit(ctx)
//	defer q.Shutdown(shutdownCtx)             // finish or hand back in-flight jobs by the deadline
//
// # Jobs
//
// Enqueue inserts one CDN job (kind "outputs.cdn", unique on workspace and render) and one job per
// target (kind "outputs.deliver", unique on workspace, render and integration), so a slow or
// failing destination never holds another, and enqueueing the same plan twice is a no-op.
//
// Destination jobs wait for the CDN job and read the CDN copy, not the render file: the render
// file exists only on the machine that rendered it, while the CDN copy can be read from anywhere,
// so a destination job runs on whichever worker is free, survives the loss of the rendering
// machine, and a redelivery (Redeliver) is the very same job. When Config.CDN is a CDNRangeReader
// (provider.CDN is) the copy is read part by part through a few sequential range readers (one
// request per part read, never one per ReadAt; no part is buffered), so the upload is
// checkpointed and resumes (see Resuming after a crash); otherwise it is streamed (CDNReader.Open)
// and a crash starts it again from its first byte. The CDN job needs the
// render file, so it runs only where Config.OpenRender is set (give each rendering machine its own
// CDNQueue when files are local). A destination job that finds the CDN copy not done yet snoozes
// (River's JobSnooze: no attempt spent) for Config.CDNWait and looks again; the cost is at most
// that wait after the CDN copy completes.
//
// # Records
//
// Jobs write the delivery record through Config.Deliveries (destination.DeliveryStore): the CDN
// job adds it (every output pending) when it first runs, then each job records its transitions
// (uploading with the key it writes, when the Engine is a KeyNamer as *delivery.Engine is;
// completed with key, url, size, checksum and transfer, "stream" or "copy"; failed with the key it tried and the engine's sanitized
// code and message), so a failed or interrupted output names its outputKey as in process. The root Service's GetDelivery reads it. A job that finds its output already
// completed (a crash between the upload and River's acknowledgement) returns at once: an output is
// never delivered twice by the queue. With a store that writes in the host's transaction
// (sqlstore.Store and a *sql.Tx: SQLite, or PostgreSQL through database/sql), Enqueue records the
// delivery pending in that transaction; with a pgx.Tx only River's rows are written there, and
// until the CDN job starts (normally milliseconds after commit) GetDelivery reports
// destination.ErrNotFound. Redeliver writes only jobs; the records change when they run.
//
// # Failures and retries
//
// The engine owns retries within an attempt. An output the engine reports failed is recorded
// failed and its job cancelled (not retried by River, and no longer holding its unique key), so
// Redeliver can queue it again later, with the integration's current credentials, from the CDN
// copy. River's own attempts (Config.MaxAttempts) cover crashes and timeouts. River gets one
// attempt more than MaxAttempts: the job reaches it only when every working attempt was cut
// short (its worker killed, the database lost), and it records the output failed
// (CodeInterrupted) instead of letting River discard the job with its record still uploading.
// That attempt, like a last one that runs out of JobTimeout (CodeTimeout), has the engine
// remove the provider session the job's checkpoint kept (SessionAborter: an S3 multipart
// upload, Azure's staged blocks, a GCS or Drive resumable session); the janitor sweeps what
// killed workers left without a checkpoint. A worker killed
// mid-job is rescued by River's rescuer (on the leader, every 30 s) once Config.RescueAfter
// (default JobTimeout + 1 min) has passed since the attempt started, and the job runs again on
// any worker, attempt² seconds later (at most a minute; not River's default attempt⁴). On SQLite a new process on the same file does it: the tests kill a worker
// process with SIGKILL in the middle of a multipart upload and see the delivery complete in a
// new one about 20 s later (RescueAfter 10 s), byte-identical and committed once.
//
// # Resuming after a crash
//
// The CDN job (the render file) and destination jobs (the CDN copy, through a CDNRangeReader)
// give the engine a checkpoint (destination.Checkpoint, delivery.Source.Checkpoint) kept in the
// job's River metadata under MetadataKeyCheckpoint: each Save is a metadata update of its own,
// committed before the upload goes on, so it survives a SIGKILL. The provider's driver saves its
// session there (the S3 upload ID right after CreateMultipartUpload, then each part's ETag once S3
// stored it); the next attempt of the job, on any worker, checks it against the provider (S3
// ListParts) and sends only the parts the provider does not hold. Bytes sent again per crash: at
// most the parts in flight, part size × concurrency (provider.Options.PartSize, Concurrency).
// Success or a permanent failure clears the checkpoint (a failed output's session is aborted);
// a checkpoint of another upload (the key or the size changed) is ignored. Drivers resume as
// they implement it (provider.SessionAborter): S3 does.
//
// A checkpoint holds no credential, but a GCS or Drive resumable session URL is a capability:
// whoever reads it can write that one object until the session expires (a week). So checkpoints
// are sealed with Config.Sealer (the keyring of the integrations' secrets) before they reach
// River's job table (river_job.metadata), bound to their job: River UI and job dumps show
// ciphertext. One that does not open (tampered with, its key deleted from the keyring) is
// ignored and the upload starts afresh.
//
// # Back-pressure and shutdown
//
// Each process works at most Config.MaxWorkers jobs per queue and Config.MaxPerWorkspace jobs of
// one workspace; a job over the workspace bound is handed back (snoozed) for a later slot. The
// per-workspace bound is per process, not global. Shutdown stops fetching at once, lets running
// jobs finish until its context ends, then cancels them: River hands cancelled jobs back
// (available again, no attempt spent) and their records return to pending.
//
// # Webhooks
//
// With Config.Webhooks (a webhook/sender.Sender), each output's terminal transition queues an
// output.completed or output.failed event, and the last one of a render a delivery.completed
// event with the render status, as River jobs on their own queue, retried with exponential
// backoff (permanent answers such as 4xx end the job). Message IDs derive from the record
// (attempt counts included) and jobs are unique on them, so an event seen by two workers is sent
// once, and a redelivery announces its outcome anew.
//
// # Janitor
//
// With Config.Retention or Config.Sweeper, a periodic job (kind "outputs.janitor", every
// Config.JanitorInterval and once at start, enqueued by River's leader only) does two things:
//
//   - With Sweeper and Integrations (provider.Client and the integration store), it removes
//     what uploads started and abandoned still hold at the provider (a worker killed
//     mid-upload never ran its own cleanup). The outputs that may have left one are listed by
//     the store (destination.AbandonedLister: failed, still in flight, or completed after more
//     than one attempt, with a key, last changed more than Config.AbandonedAfter ago; at most
//     500 a run, newest first); each is read again (one queued again meanwhile is skipped) and
//     the uploads of its key initiated before that cutoff are swept: S3 multipart uploads
//     (aborted), Azure blobs made only of uncommitted blocks (discarded; a committed blob is
//     never touched, and Azure drops the uncommitted blocks of an abandoned later upload after
//     a week). GCS and Drive resumable sessions cannot be listed, show nothing in the bucket or
//     the Drive and expire after a week: their drivers have no sweeper (ErrUnsupported,
//     skipped). CDN copies are listed and swept the same way when Config.CDN is a CDNSweeper
//     (provider.CDN with a CDNOptions.Driver that sweeps). The same output is looked at again
//     on later runs until its record is pruned.
//     AbandonedAfter (default 24 h) must be at least RescueAfter; keep it well above it, since
//     a job rescued after its upload was swept starts that upload again.
//   - With Retention, it deletes the delivery records finished longer than Retention ago
//     (destination.DeliveryPruner); records in flight are kept.
//
// # Not yet
//
// The CDN copy's own abandoned multipart uploads (the platform's bucket) are not swept.
package riverqueue
