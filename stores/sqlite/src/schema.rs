//! Embedded, versioned migrations and the checks run before touching a file.
//!
//! The schema version lives in SQLite's header (`PRAGMA user_version`), next
//! to an application id that marks the file as a gossip store. Migrations
//! from `migrations/` are embedded in the binary and each is applied in one
//! `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
//! leaves the file at the old or the new version, never in between.
//!
//! Before anything is written, the file is checked: a newer schema version,
//! a foreign application id, or a SQLite database of another application
//! (tables but no version) is refused with
//! [`StoreErrorKind::IncompatibleSchema`]; a file SQLite cannot read is
//! [`StoreErrorKind::Corrupt`]. Nothing is modified in either case.
//!
//! Version 2 stores signed, hash-linked entries (each entry carries the hash
//! of its author's previous one). A version-1 file holding any entry is
//! refused with [`StoreErrorKind::IncompatibleSchema`], unmodified: its
//! entries have no link nor a 64-byte signature and cannot be proven to
//! peers, so the node must start from a new store and sync. A version-1 file
//! without entries is migrated. The check runs before anything is written and
//! again inside the migration's transaction, so an entry appended in between
//! by another process is not missed.

use gossip_core::{StoreErrorKind, StoreResult};
use sqlx::{sqlite::SqliteConnection, AssertSqlSafe, Connection};

use crate::error::{from_sqlx, store_error};

/// The schema version this build writes (and the newest it reads).
pub const SCHEMA_VERSION: i64 = 2;

/// The first version of signed, hash-linked entries: a file of an older
/// version that holds entries cannot be brought to it.
const SIGNED_ENTRIES: i64 = 2;

/// `PRAGMA application_id` of gossip stores: ASCII "gssp".
pub(crate) const APPLICATION_ID: i32 = 0x6773_7370;

/// The migrations, in order: `(version, sql)`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (
        SIGNED_ENTRIES,
        include_str!("../migrations/0002_signed_entries.sql"),
    ),
];

/// Checks the database behind `conn` and brings it to [`SCHEMA_VERSION`].
///
/// `file` names the database in messages; `wal` switches the file to WAL
/// journaling (file databases only).
pub(crate) async fn prepare(conn: &mut SqliteConnection, file: &str, wal: bool) -> StoreResult<()> {
    let ctx = |what: &str| format!("{file}: {what}");
    let found = header(conn, file).await?;
    check(found, file)?;
    // Before WAL is switched on: a refused file is not modified at all.
    check_unlinked_entries(conn, found, file).await?;

    if wal {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| from_sqlx(&ctx("enabling WAL"), e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(store_error(
                StoreErrorKind::Other,
                ctx(&format!(
                    "could not enable WAL journaling (journal mode is {mode})"
                )),
            ));
        }
    }

    for &(version, sql) in MIGRATIONS {
        if version <= found.version {
            continue;
        }
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| from_sqlx(&ctx("starting a migration"), e))?;
        // Another process may have migrated between our check and our lock.
        let now = header(&mut tx, file).await?;
        check(now, file)?;
        if now.version >= version {
            continue;
        }
        if version == SIGNED_ENTRIES {
            check_unlinked_entries(&mut tx, now, file).await?;
        }
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(&ctx(&format!("applying migration {version}")), e))?;
        // Integers from constants, not user input.
        let pragmas =
            format!("PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {version};");
        sqlx::raw_sql(AssertSqlSafe(pragmas))
            .execute(&mut *tx)
            .await
            .map_err(|e| from_sqlx(&ctx("recording the schema version"), e))?;
        tx.commit()
            .await
            .map_err(|e| from_sqlx(&ctx(&format!("committing migration {version}")), e))?;
        tracing::info!(file, version, "sqlite store migrated");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Header {
    version: i64,
    application_id: i32,
    tables: i64,
}

async fn header(conn: &mut SqliteConnection, file: &str) -> StoreResult<Header> {
    let read = |e| from_sqlx(&format!("{file}: reading the database header"), e);
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(read)?;
    let application_id: i32 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *conn)
        .await
        .map_err(read)?;
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_schema")
        .fetch_one(&mut *conn)
        .await
        .map_err(read)?;
    Ok(Header {
        version,
        application_id,
        tables,
    })
}

/// Refuses a file of a version before [`SIGNED_ENTRIES`] that holds entries:
/// they cannot be migrated (they have no link to their author's previous
/// entry, and the hash chain cannot be rebuilt without the authors' keys).
async fn check_unlinked_entries(
    conn: &mut SqliteConnection,
    found: Header,
    file: &str,
) -> StoreResult<()> {
    if found.version < 1 || found.version >= SIGNED_ENTRIES {
        return Ok(());
    }
    let held: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM entries)")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| {
            from_sqlx(
                &format!(
                    "{file}: looking for entries of schema version {}",
                    found.version
                ),
                e,
            )
        })?;
    if held {
        return Err(store_error(
            StoreErrorKind::IncompatibleSchema,
            format!(
                "{file} has schema version {}: its entries predate signed, hash-linked \
                 entries (wire protocol 2) and cannot be proven to peers; open a new store and \
                 let it sync from peers (this build of gossip-store-sqlite supports version \
                 {SCHEMA_VERSION}; the file was not modified)",
                found.version
            ),
        ));
    }
    Ok(())
}

fn check(found: Header, file: &str) -> StoreResult<()> {
    let incompatible = |message: String| store_error(StoreErrorKind::IncompatibleSchema, message);
    if found.application_id != APPLICATION_ID && (found.application_id != 0 || found.tables > 0) {
        return Err(incompatible(format!(
            "{file} is not a gossip store (SQLite application id {:#x}, {} schema objects, \
             schema version {}); refusing to modify it",
            found.application_id, found.tables, found.version
        )));
    }
    if found.version > SCHEMA_VERSION {
        return Err(incompatible(format!(
            "{file} has schema version {}, newer than version {SCHEMA_VERSION} supported by \
             this build of gossip-store-sqlite; upgrade the application to open it",
            found.version
        )));
    }
    if found.version < 0 {
        return Err(incompatible(format!(
            "{file} has an invalid schema version {} (this build supports {SCHEMA_VERSION})",
            found.version
        )));
    }
    Ok(())
}
