package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
)

// TestServiceOverSQLStore drives the root Service over the store and then reads everything the
// database holds: the secrets are there only sealed, and they open to what the user sent.
func TestServiceOverSQLStore(t *testing.T) {
	const (
		awsSecret   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzPLAINTEXT"
		azureSecret = "c2VjcmV0LWF6dXJlLWtleS1QTEFJTlRFWFQ="
	)
	forEachDialect(t, func(t *testing.T, s *sqlstore.Store, db *sql.DB, d sqlstore.Dialect) {
		ctx := context.Background()
		kr, err := crypto.NewInsecureDevelopmentKeyring()
		if err != nil {
			t.Fatal(err)
		}
		svc, err := outputs.New(outputs.Options{Store: s, Keyring: kr})
		if err != nil {
			t.Fatal(err)
		}
		caller := destination.Caller{WorkspaceID: "ws_1", UserID: "u"}
		a, err := svc.CreateIntegration(ctx, caller, outputs.CreateInput{Provider: destination.S3, Name: "aws", IsDefault: true,
			Config: destination.Config{Bucket: "renders", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: awsSecret, Region: "us-east-1"}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := svc.CreateIntegration(ctx, caller, outputs.CreateInput{Provider: destination.Azure, Name: "azure",
			Config: destination.Config{AzureAccountName: "acct", AzureAccountKey: azureSecret, AzureContainerName: "renders"}})
		if err != nil {
			t.Fatal(err)
		}
		name := "azure renamed"
		if _, err := svc.UpdateIntegration(ctx, caller, b.ID, outputs.UpdateInput{Name: &name}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetDefault(ctx, caller, b.ID); err != nil {
			t.Fatal(err)
		}
		def, err := s.GetDefault(ctx, "ws_1")
		if err != nil || def.ID != b.ID {
			t.Fatalf("default = %v, %v; want %s", def, err, b.ID)
		}
		cfg, err := kr.Unseal(ctx, def)
		if err != nil || cfg.AzureAccountKey != azureSecret {
			t.Fatalf("the stored Azure key does not open to what was sent: %v", err)
		}
		if got, err := s.Get(ctx, "ws_1", a.ID); err != nil || got.IsDefault {
			t.Fatalf("former default: %v, %v", got, err)
		}

		// Everything the database holds, as bytes.
		var dump []byte
		if d.String() == "sqlite" {
			var file string
			if err := db.QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				t.Fatal(err)
			}
			matches, _ := filepath.Glob(file + "*")
			for _, m := range matches {
				data, err := os.ReadFile(m)
				if err != nil {
					t.Fatal(err)
				}
				dump = append(dump, data...)
			}
			if !bytes.Contains(dump, []byte("AKIAEXAMPLE")) {
				t.Fatal("the dump does not hold the stored rows; the check would prove nothing")
			}
		} else {
			rows, err := db.Query("SELECT t::text FROM workspace_integrations t")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var row string
				if err := rows.Scan(&row); err != nil {
					t.Fatal(err)
				}
				dump = append(dump, row...)
			}
			rows.Close()
		}
		for _, secret := range []string{awsSecret, azureSecret, "PLAINTEXT"} {
			if bytes.Contains(dump, []byte(secret)) {
				t.Fatalf("the database holds a plaintext secret")
			}
		}
	})
}
