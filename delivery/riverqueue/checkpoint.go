package riverqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/ilovevideoeditor/outputs/destination"
)

// MetadataKeyCheckpoint is the key of the River job's metadata that holds the checkpoint of the
// job's upload (destination.Checkpoint): the provider session (an S3 upload ID and the ETags of
// its parts, Azure block IDs, a GCS or Drive session URL) that the next attempt of the job, on
// this worker or another after a crash, resumes. It holds no credential, but a GCS or Drive
// session URL lets whoever reads it write that one object until the session expires (a week),
// so the value is sealed with Config.Sealer, bound to the job: the base64 of the ciphertext, or
// null once cleared.
const MetadataKeyCheckpoint = "outputs:checkpoint"

// Sealer seals the upload checkpoints the queue keeps in River's job table (Config.Sealer):
// an AEAD, with associated data binding a ciphertext to its job. *crypto.Keyring implements it
// (the keyring that seals the integrations' secrets will do).
type Sealer interface {
	Seal(plaintext, associatedData []byte) ([]byte, error)
	Open(ciphertext, associatedData []byte) ([]byte, error)
}

// checkpointAD is the associated data of job id's checkpoint: a checkpoint copied into
// another job's metadata does not open.
func checkpointAD(id int64) []byte {
	return fmt.Appendf(nil, "outputs/riverqueue: upload checkpoint of job %d", id)
}

// jobCheckpoint is the destination.Checkpoint of one attempt of a job: Load reads what the job's
// metadata held when the attempt began (or what this attempt saved since); Save merges the
// state into the job's metadata in a statement of its own, committed before it returns, so it
// survives a SIGKILL of the worker (River's rescuer then runs the job again).
type jobCheckpoint struct {
	exec   riverdriver.Executor
	schema string
	id     int64
	sealer Sealer

	mu    sync.Mutex
	state []byte
}

var _ destination.Checkpoint = (*jobCheckpoint)(nil)

// newJobCheckpoint returns the checkpoint of job, worked through exec and sealed with sealer.
// A stored checkpoint that does not open (tampered with, sealed by a key no longer in the
// keyring, written before checkpoints were sealed) reads as none: the upload starts afresh, and
// the janitor sweeps what the lost session left.
func newJobCheckpoint(exec riverdriver.Executor, schema string, sealer Sealer, job *rivertype.JobRow) (*jobCheckpoint, error) {
	c := &jobCheckpoint{exec: exec, schema: schema, id: job.ID, sealer: sealer}
	var md map[string]json.RawMessage
	if json.Unmarshal(job.Metadata, &md) == nil {
		var b []byte // a JSON string (base64) or null
		if raw, ok := md[MetadataKeyCheckpoint]; ok && json.Unmarshal(raw, &b) == nil && len(b) > 0 {
			state, err := sealer.Open(b, checkpointAD(job.ID))
			if err != nil {
				return c, fmt.Errorf("riverqueue: the checkpoint of job %d does not open: %w", job.ID, err)
			}
			c.state = state
		}
	}
	return c, nil
}

// Load returns the state last saved.
func (c *jobCheckpoint) Load(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.state...), nil
}

// Save seals state into the job's metadata (nil clears it).
func (c *jobCheckpoint) Save(ctx context.Context, state []byte) error {
	var v any // encoding/json writes []byte as base64, and nil as null
	if state != nil {
		sealed, err := c.sealer.Seal(state, checkpointAD(c.id))
		if err != nil {
			return fmt.Errorf("riverqueue: seal the upload's checkpoint of job %d: %w", c.id, err)
		}
		v = sealed
	}
	md, err := json.Marshal(map[string]any{MetadataKeyCheckpoint: v})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.exec.JobUpdate(ctx, &riverdriver.JobUpdateParams{ID: c.id, MetadataDoMerge: true, Metadata: md, Schema: c.schema}); err != nil {
		return fmt.Errorf("riverqueue: save the upload's checkpoint in job %d: %w", c.id, err)
	}
	c.state = append([]byte(nil), state...)
	if state == nil {
		c.state = nil
	}
	return nil
}
