package riverqueue

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
)

// TestCheckpointSealed: what a checkpoint saves reaches River's job table sealed (neither the
// session URL nor its base64 is there), opens for its own job only, and a checkpoint that does
// not open (another job's, tampered with) reads as none; clearing it stores null.
func TestCheckpointSealed(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewSQLite(db, Config{Sealer: kr}) // enqueues only: no job is worked
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	insert := func(render string) int64 {
		res, err := q.Client().Insert(ctx, CDNArgs{WorkspaceID: "ws1", RenderID: render}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Job.ID
	}
	id, other := insert("r1"), insert("r2")
	row := func(id int64) []byte {
		j, err := q.Client().JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j.Metadata
	}
	open := func(id int64, metadata []byte) ([]byte, error) {
		j, err := q.Client().JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		j.Metadata = metadata
		c, err := newJobCheckpoint(q.driver.GetExecutor(), "", kr, j)
		st, _ := c.Load(ctx)
		return st, err
	}

	secret := []byte(`{"uri":"https://storage.googleapis.com/upload/storage/v1/b/videos/o?upload_id=SESSION-CAPABILITY"}`)
	j, err := q.Client().JobGet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newJobCheckpoint(q.driver.GetExecutor(), "", kr, j)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx, secret); err != nil {
		t.Fatal(err)
	}
	md := row(id)
	if bytes.Contains(md, []byte("SESSION-CAPABILITY")) || bytes.Contains(md, []byte(base64.StdEncoding.EncodeToString(secret)[:40])) {
		t.Fatalf("the job's metadata holds the checkpoint in the clear: %s", md)
	}
	if got, err := open(id, md); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("its own job reads %q, %v; want the checkpoint", got, err)
	}
	if got, err := open(other, md); err == nil || got != nil {
		t.Fatalf("another job reads %q, %v; want an error and no checkpoint", got, err)
	}
	var m map[string]string
	if err := json.Unmarshal(md, &m); err != nil {
		t.Fatal(err)
	}
	sealed, _ := base64.StdEncoding.DecodeString(m[MetadataKeyCheckpoint])
	sealed[len(sealed)-1] ^= 1
	tampered, _ := json.Marshal(map[string][]byte{MetadataKeyCheckpoint: sealed})
	if got, err := open(id, tampered); err == nil || got != nil || strings.Contains(err.Error(), "SESSION") {
		t.Fatalf("a tampered checkpoint reads %q, %v; want an error and no checkpoint", got, err)
	}

	if err := c.Save(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if md := row(id); !bytes.Contains(md, []byte(`"`+MetadataKeyCheckpoint+`": null`)) && !bytes.Contains(md, []byte(`"`+MetadataKeyCheckpoint+`":null`)) {
		t.Fatalf("cleared checkpoint: metadata %s", md)
	}
}
