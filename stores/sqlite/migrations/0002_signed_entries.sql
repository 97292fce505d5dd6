-- gossip-store-sqlite, schema version 2: signed, hash-linked entries.
--
-- Applied in one transaction together with `PRAGMA user_version = 2`; see
-- src/schema.rs, which in that same transaction refuses a version-1 file that
-- holds any entry (such entries have no link to their author's previous entry
-- and cannot be proven to peers), so this only ever runs on an empty
-- `entries` table. Never edit a released migration: add the next file instead.

-- The hash of the author's previous entry in the stream (32 bytes, zeros for
-- sequence 1): an author's entries form a hash chain. The default only
-- satisfies ALTER TABLE, which needs one for a NOT NULL column; every insert
-- binds the link.
--
-- `signature` (from version 1) now holds NULL or a 64-byte Ed25519
-- signature; ALTER TABLE cannot add a constraint to an existing column, so
-- the store checks its length when reading.
ALTER TABLE entries ADD COLUMN previous BLOB NOT NULL
    DEFAULT x'0000000000000000000000000000000000000000000000000000000000000000'
    CHECK (typeof(previous) = 'blob' AND length(previous) = 32);
