-- How the bytes of each copy reached it once completed (destination.Progress.Transfer: "stream"
-- through the worker, "copy" server-side from the CDN copy); '' when not known, as for the rows
-- completed before this column.
ALTER TABLE deliveries ADD COLUMN transfer text NOT NULL DEFAULT '';
ALTER TABLE delivery_outputs ADD COLUMN transfer text NOT NULL DEFAULT '';
