package sqlstore

import "context"

// MigrateTo is Migrate up to version upTo included, for tests of schema upgrades.
func (s *Store) MigrateTo(ctx context.Context, upTo int) error { return s.migrate(ctx, upTo) }
