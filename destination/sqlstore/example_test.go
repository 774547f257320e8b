package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
)

// Open an SQLite database, bring its schema up to date, and keep integrations in it.
// With PostgreSQL: db, err := sql.Open("pgx", dsn) (import _ "github.com/jackc/pgx/v5/stdlib")
// and sqlstore.New(db, sqlstore.PostgreSQL, nil).
func Example() {
	dir, err := os.MkdirTemp("", "outputs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(filepath.Join(dir, "outputs.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store := sqlstore.New(db, sqlstore.SQLite, nil)
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	in, err := store.Create(ctx, &destination.Integration{
		ID: "018f3a2b-0000-7000-8000-000000000001", WorkspaceID: "ws_1", Provider: destination.R2,
		Name: "Production R2", IsActive: true, IsDefault: true, CreatedAt: now, UpdatedAt: now,
		Config: destination.Config{Bucket: "renders", AccessKeyID: "AKIAEXAMPLE",
			Endpoint: "https://account.r2.cloudflarestorage.com", Region: "auto", PathPrefix: "renders/"},
		// Secrets come sealed from crypto.Keyring.SealSecret; a Store never sees plaintext.
		Secrets: map[destination.SecretField]destination.Sealed{
			destination.SecretAccessKey: {Ciphertext: []byte{1, 2, 3}, KeyID: 42, Hint: "••••WXYZ"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	in.Name = "Production R2 (EU)"
	if _, err := store.Update(ctx, in); err != nil {
		log.Fatal(err)
	}
	_, err = store.Update(ctx, in) // in still carries version 1
	fmt.Println(err)

	def, err := store.GetDefault(ctx, "ws_1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(def.Name, def.Version, def.Secrets[destination.SecretAccessKey].KeyID)
	// Output:
	// integration was modified concurrently; reload it and retry
	// Production R2 (EU) 2 42
}
