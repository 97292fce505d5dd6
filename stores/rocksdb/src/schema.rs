//! Column families, the schema version, and the checks run before a
//! directory is opened for writing.
//!
//! The schema version lives in the `meta` column family. Before anything is
//! written, the directory is inspected and, if it already holds a database,
//! opened **read-only** and checked: a directory that is not a RocksDB
//! database or is damaged is refused with [`StoreErrorKind::Corrupt`]; a
//! RocksDB database of another application (not our column families), or
//! one written by a newer schema version, with
//! [`StoreErrorKind::IncompatibleSchema`]. Nothing is modified in either
//! case, and every message names the directory.
//!
//! Version 2 stores signed, hash-linked entries (each value carries the hash
//! of its author's previous entry; see [`codec`](crate::codec)). A version-1
//! database holding any entry is refused with
//! [`StoreErrorKind::IncompatibleSchema`], unmodified: its entries have no
//! link nor a 64-byte signature and cannot be proven to peers, so the node
//! must start from a new store and sync. A version-1 database without entries
//! (none appended, or all compacted away) is upgraded: only the version
//! changes. The check runs on the read-only open and again once the database
//! is open for writing (under RocksDB's lock) before the new version is
//! written, so an entry appended in between by another process is not missed.

use std::path::Path;

use gossip_core::{StoreErrorKind, StoreResult};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options, WriteOptions, DB,
};

use crate::{
    codec::decode_u32,
    error::{corrupt, from_rocksdb, kind_of, store_error},
    RocksDbStoreOptions,
};

/// The schema version this build writes (and the newest it reads).
pub const SCHEMA_VERSION: u32 = 2;

/// The first version of signed, hash-linked entries: a database of an older
/// version that holds entries cannot be brought to it.
const SIGNED_ENTRIES: u32 = 2;

/// Entries by `(stream, author, sequence)`.
pub(crate) const CF_ENTRIES: &str = "entries";
/// Read-order index: `(stream, timestamp, author, sequence)`, empty values.
pub(crate) const CF_READ_ORDER: &str = "read_order";
/// Per (stream, author): head, compaction base, entries, bytes.
pub(crate) const CF_AUTHORS: &str = "authors";
/// Channel records.
pub(crate) const CF_CHANNELS: &str = "channels";
/// Peer records.
pub(crate) const CF_PEERS: &str = "peers";
/// Schema version and clock.
pub(crate) const CF_META: &str = "meta";

/// Every column family of the schema.
pub(crate) const COLUMN_FAMILIES: [&str; 6] = [
    CF_ENTRIES,
    CF_READ_ORDER,
    CF_AUTHORS,
    CF_CHANNELS,
    CF_PEERS,
    CF_META,
];

/// `meta` key of the schema version (u32 BE).
pub(crate) const META_SCHEMA_VERSION: &[u8] = b"schema-version";
/// `meta` key of the persisted clock (u64 BE).
pub(crate) const META_CLOCK: &[u8] = b"clock";

/// What the directory holds before we open it.
enum Found {
    /// Nothing yet: create the database.
    Nothing,
    /// A database of this schema version (or an empty one whose creation was
    /// interrupted before the version was written).
    Ours { versioned: bool },
    /// A database of an older schema version without entries: upgraded.
    Older { version: u32 },
}

/// Opens (creating or checking) the database as `options` say. Blocking.
pub(crate) fn open(options: &RocksDbStoreOptions) -> StoreResult<DB> {
    let path = options.path.as_path();
    let label = path.display().to_string();
    let found = inspect(path, options.create_if_missing, &label)?;

    // One block cache shared by every column family.
    let cache = Cache::new_lru_cache(options.block_cache_bytes);
    let mut db_options = base_options(&cache);
    // One budget for the memtables of every column family: memory stays
    // bounded however many entries the store holds.
    db_options.set_db_write_buffer_size(options.write_buffer_bytes);
    db_options.create_if_missing(matches!(found, Found::Nothing));
    db_options.create_missing_column_families(true);
    let descriptors = COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, base_options(&cache)));
    let db = DB::open_cf_descriptors(&db_options, path, descriptors)
        .map_err(|e| from_rocksdb(&format!("{label}: opening"), e))?;

    if let Found::Older { version } = found {
        // Under RocksDB's lock now: no other process can append any more.
        check_unlinked_entries(&db, &label, version)?;
    }
    if !matches!(found, Found::Ours { versioned: true }) {
        let meta = db
            .cf_handle(CF_META)
            .ok_or_else(|| corrupt(format!("{label}: column family {CF_META} is missing")))?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        db.put_cf_opt(
            meta,
            META_SCHEMA_VERSION,
            SCHEMA_VERSION.to_be_bytes(),
            &sync,
        )
        .map_err(|e| from_rocksdb(&format!("{label}: recording the schema version"), e))?;
        match found {
            Found::Older { version } => tracing::info!(
                directory = %label,
                from = version,
                version = SCHEMA_VERSION,
                "rocksdb store upgraded"
            ),
            _ => {
                tracing::info!(directory = %label, version = SCHEMA_VERSION, "rocksdb store created")
            }
        }
    }
    Ok(db)
}

/// Options shared by the database and each column family.
fn base_options(cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    // Point lookups (author state, entries by key) skip files cheaply.
    table.set_bloom_filter(10.0, false);
    // Index and filter blocks count against the bounded cache instead of
    // growing with the number of files.
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut opts = Options::default();
    opts.set_block_based_table_factory(&table);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_keep_log_file_num(4);
    opts.set_max_log_file_size(4 << 20);
    opts
}

/// Looks at the directory without modifying anything.
fn inspect(path: &Path, create_if_missing: bool, label: &str) -> StoreResult<Found> {
    let other = |what: &str, e: std::io::Error| {
        store_error(StoreErrorKind::Other, format!("{label}: {what}: {e}")).with_source(e)
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create_if_missing {
                return Err(store_error(
                    StoreErrorKind::Other,
                    format!("{label} does not exist (and create_if_missing is off)"),
                ));
            }
            std::fs::create_dir_all(path).map_err(|e| other("creating the directory", e))?;
            return Ok(Found::Nothing);
        }
        Err(e) => return Err(other("inspecting", e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(corrupt(format!(
                "{label} is not a RocksDB database: it is a file, not a directory; \
                 refusing to modify it"
            )));
        }
        Ok(_) => {}
    }
    let mut names = Vec::new();
    for item in std::fs::read_dir(path).map_err(|e| other("listing", e))? {
        let item = item.map_err(|e| other("listing", e))?;
        names.push(item.file_name());
    }
    if names.is_empty() {
        return Ok(Found::Nothing);
    }
    if !names.iter().any(|n| n == "CURRENT") {
        return Err(corrupt(format!(
            "{label} is not a RocksDB database: it holds {} files but no CURRENT file; \
             refusing to modify it",
            names.len()
        )));
    }
    check_existing(path, label)
}

/// An error met while reading an existing database: anything but a lock,
/// a permission problem or a busy resource means the files are not a
/// readable RocksDB database.
fn unreadable(label: &str, err: rocksdb::Error) -> gossip_core::StoreError {
    let message = err.as_ref().to_owned();
    let kind = match kind_of(&err) {
        StoreErrorKind::Other if !message.contains("ermission denied") => StoreErrorKind::Corrupt,
        kind => kind,
    };
    store_error(
        kind,
        format!("{label} is not a readable RocksDB database: {message}; refusing to modify it"),
    )
    .with_source(err)
}

/// Opens an existing database read-only and checks its column families and
/// schema version.
fn check_existing(path: &Path, label: &str) -> StoreResult<Found> {
    let listed = DB::list_cf(&Options::default(), path).map_err(|e| unreadable(label, e))?;
    let db = DB::open_cf_for_read_only(&Options::default(), path, &listed, false)
        .map_err(|e| unreadable(label, e))?;
    let incompatible = |message: String| store_error(StoreErrorKind::IncompatibleSchema, message);

    let version = match db.cf_handle(CF_META) {
        None => None,
        Some(meta) => db
            .get_cf(meta, META_SCHEMA_VERSION)
            .map_err(|e| unreadable(label, e))?,
    };
    match version.as_deref().map(decode_u32) {
        Some(None) => {
            return Err(corrupt(format!(
                "{label}: the schema version is unreadable; refusing to modify it"
            )))
        }
        Some(Some(found)) if found > SCHEMA_VERSION => {
            return Err(incompatible(format!(
                "{label} has schema version {found}, newer than version {SCHEMA_VERSION} \
                 supported by this build of gossip-store-rocksdb; upgrade the application \
                 to open it"
            )));
        }
        Some(Some(0)) => {
            return Err(corrupt(format!(
                "{label} has an invalid schema version 0 (this build supports \
                 {SCHEMA_VERSION}); refusing to modify it"
            )));
        }
        Some(Some(found)) => {
            let missing: Vec<&str> = COLUMN_FAMILIES
                .iter()
                .copied()
                .filter(|cf| !listed.iter().any(|l| l == cf))
                .collect();
            if !missing.is_empty() {
                return Err(corrupt(format!(
                    "{label}: column families {missing:?} are missing; refusing to modify it"
                )));
            }
            if found < SIGNED_ENTRIES {
                check_unlinked_entries(&db, label, found)?;
                return Ok(Found::Older { version: found });
            }
            return Ok(Found::Ours { versioned: true });
        }
        None => {}
    }

    // No version: only a database of exactly our column families, all empty
    // (creation interrupted before the version was written), is ours.
    let ours = listed
        .iter()
        .all(|l| l == "default" || COLUMN_FAMILIES.contains(&l.as_str()));
    let mut empty = true;
    for name in &listed {
        if let Some(cf) = db.cf_handle(name) {
            let first = db
                .iterator_cf(cf, rocksdb::IteratorMode::Start)
                .next()
                .transpose()
                .map_err(|e| unreadable(label, e))?;
            empty &= first.is_none();
        }
    }
    if ours && empty {
        return Ok(Found::Ours { versioned: false });
    }
    Err(incompatible(format!(
        "{label} is not a gossip store (a RocksDB database with column families {listed:?} \
         and no gossip schema version; this build supports version {SCHEMA_VERSION}); \
         refusing to modify it"
    )))
}

/// Refuses a database of a version before [`SIGNED_ENTRIES`] that holds
/// entries: they cannot be upgraded (their values have no link to their
/// author's previous entry, and the hash chain cannot be rebuilt without the
/// authors' keys).
fn check_unlinked_entries(db: &DB, label: &str, version: u32) -> StoreResult<()> {
    let entries = db
        .cf_handle(CF_ENTRIES)
        .ok_or_else(|| corrupt(format!("{label}: column family {CF_ENTRIES} is missing")))?;
    let first = db
        .iterator_cf(entries, rocksdb::IteratorMode::Start)
        .next()
        .transpose()
        .map_err(|e| unreadable(label, e))?;
    if first.is_some() {
        return Err(store_error(
            StoreErrorKind::IncompatibleSchema,
            format!(
                "{label} has schema version {version}: its entries predate signed, \
                 hash-linked entries (wire protocol 2) and cannot be proven to peers; open a new \
                 store and let it sync from peers (this build of gossip-store-rocksdb \
                 supports version {SCHEMA_VERSION}; the database was not modified)"
            ),
        ));
    }
    Ok(())
}
