-- Integration IDs compare in byte order, as Go compares strings, whatever the database's
-- collation: Scan's ORDER BY id and its "id > cursor" then agree with a sweep that advances its
-- cursor in Go (crypto.Reencrypt), and the primary key index serves both.
ALTER TABLE workspace_integrations ALTER COLUMN id TYPE text COLLATE "C";
