-- gossip-store-sqlite, schema version 1.
--
-- Applied in one transaction together with `PRAGMA user_version = 1` and the
-- gossip application id; see src/schema.rs. Never edit a released migration:
-- add the next file instead.

-- Every entry of every stream. `hlc` holds `Hlc::as_u64() ^ (1 << 63)` stored
-- as a signed integer, which orders like the unsigned timestamp; `author`
-- compares with the BINARY collation, which orders like Rust's `str`.
-- A rowid table: payloads are often larger than 1/20 of a page, where SQLite
-- advises against WITHOUT ROWID.
CREATE TABLE entries (
    channel   TEXT    NOT NULL,
    stream    TEXT    NOT NULL,
    author    TEXT    NOT NULL,
    seq       INTEGER NOT NULL CHECK (seq > 0),
    hlc       INTEGER NOT NULL,
    payload   BLOB,
    signature BLOB,
    UNIQUE (channel, stream, author, seq)
);

-- Serves `read`: the stream in read order (timestamp, author, sequence).
CREATE INDEX entries_read_order ON entries (channel, stream, hlc, author, seq);

-- One row per (stream, author): the compaction base, the highest sequence
-- ever appended, and the entries and bytes held. Updated in the same
-- transaction as the entries it describes, so it always agrees with them.
CREATE TABLE authors (
    channel TEXT    NOT NULL,
    stream  TEXT    NOT NULL,
    author  TEXT    NOT NULL,
    head    INTEGER NOT NULL DEFAULT 0 CHECK (head >= 0),
    base    INTEGER NOT NULL DEFAULT 0 CHECK (base >= 0),
    entries INTEGER NOT NULL DEFAULT 0 CHECK (entries >= 0),
    bytes   INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    PRIMARY KEY (channel, stream, author)
) WITHOUT ROWID;

-- Channel records, postcard-encoded `gossip_core::Channel`.
CREATE TABLE channels (
    id     TEXT NOT NULL PRIMARY KEY,
    record BLOB NOT NULL
);

CREATE TABLE peers (
    id      TEXT NOT NULL PRIMARY KEY,
    address TEXT
) WITHOUT ROWID;

-- The node's clock: a single row, encoded like `entries.hlc`.
CREATE TABLE clock (
    id  INTEGER PRIMARY KEY CHECK (id = 0),
    hlc INTEGER NOT NULL
);
