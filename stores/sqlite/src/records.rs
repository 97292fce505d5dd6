//! Channel records, peers, the persisted clock, and `clear`.

use gossip_core::{Channel, ChannelId, Hlc, NodeId, PeerRecord, StoreErrorKind, StoreResult};

use crate::{
    codec::{channel_id, hlc_from_sql, hlc_to_sql, node_id},
    error::{corrupt, sqlx_err, store_error},
    SqliteStore,
};

impl SqliteStore {
    pub(crate) async fn save_channel_record(&self, channel: &Channel) -> StoreResult<()> {
        let record = postcard::to_allocvec(channel).map_err(|e| {
            store_error(
                StoreErrorKind::Other,
                format!("encoding channel {}: {e}", channel.id()),
            )
            .with_source(e)
        })?;
        sqlx::query(
            "INSERT INTO channels (id, record) VALUES (?, ?) \
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
        )
        .bind(channel.id().as_str())
        .bind(record)
        .execute(&self.inner.writer)
        .await
        .map_err(sqlx_err("saving a channel"))?;
        Ok(())
    }

    pub(crate) async fn load_channel_records(&self) -> StoreResult<Vec<Channel>> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, record FROM channels ORDER BY id")
                .fetch_all(&self.inner.reader)
                .await
                .map_err(sqlx_err("loading channels"))?;
        rows.into_iter()
            .map(|(id, record)| {
                let id = channel_id(&id)?;
                let channel: Channel = postcard::from_bytes(&record).map_err(|e| {
                    corrupt(format!("channel {id}: undecodable record: {e}")).with_source(e)
                })?;
                if channel.id() != &id {
                    return Err(corrupt(format!(
                        "channel {id}: record holds channel {}",
                        channel.id()
                    )));
                }
                Ok(channel)
            })
            .collect()
    }

    pub(crate) async fn delete_channel_data(&self, channel: &ChannelId) -> StoreResult<()> {
        let mut tx = self
            .inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sqlx_err("starting a channel deletion"))?;
        for sql in [
            "DELETE FROM entries WHERE channel = ?",
            "DELETE FROM authors WHERE channel = ?",
            "DELETE FROM channels WHERE id = ?",
        ] {
            sqlx::query(sql)
                .bind(channel.as_str())
                .execute(&mut *tx)
                .await
                .map_err(sqlx_err("deleting a channel"))?;
        }
        tx.commit()
            .await
            .map_err(sqlx_err("committing a channel deletion"))?;
        Ok(())
    }

    pub(crate) async fn save_peer_record(&self, peer: &PeerRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO peers (id, address) VALUES (?, ?) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address",
        )
        .bind(peer.id.as_str())
        .bind(peer.address.as_deref())
        .execute(&self.inner.writer)
        .await
        .map_err(sqlx_err("saving a peer"))?;
        Ok(())
    }

    pub(crate) async fn load_peer_records(&self) -> StoreResult<Vec<PeerRecord>> {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT id, address FROM peers ORDER BY id")
                .fetch_all(&self.inner.reader)
                .await
                .map_err(sqlx_err("loading peers"))?;
        rows.into_iter()
            .map(|(id, address)| {
                let peer = PeerRecord::new(node_id(&id)?);
                Ok(match address {
                    Some(address) => peer.with_address(address),
                    None => peer,
                })
            })
            .collect()
    }

    pub(crate) async fn remove_peer_record(&self, peer: &NodeId) -> StoreResult<()> {
        sqlx::query("DELETE FROM peers WHERE id = ?")
            .bind(peer.as_str())
            .execute(&self.inner.writer)
            .await
            .map_err(sqlx_err("removing a peer"))?;
        Ok(())
    }

    pub(crate) async fn save_clock_value(&self, clock: Hlc) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clock (id, hlc) VALUES (0, ?) \
             ON CONFLICT (id) DO UPDATE SET hlc = MAX(hlc, excluded.hlc)",
        )
        .bind(hlc_to_sql(clock))
        .execute(&self.inner.writer)
        .await
        .map_err(sqlx_err("saving the clock"))?;
        Ok(())
    }

    pub(crate) async fn load_clock_value(&self) -> StoreResult<Option<Hlc>> {
        let value: Option<i64> = sqlx::query_scalar("SELECT hlc FROM clock WHERE id = 0")
            .fetch_optional(&self.inner.reader)
            .await
            .map_err(sqlx_err("loading the clock"))?;
        Ok(value.map(hlc_from_sql))
    }

    pub(crate) async fn clear_all(&self) -> StoreResult<()> {
        let mut tx = self
            .inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sqlx_err("starting to clear"))?;
        for sql in [
            "DELETE FROM entries",
            "DELETE FROM authors",
            "DELETE FROM channels",
            "DELETE FROM peers",
            "DELETE FROM clock",
        ] {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .map_err(sqlx_err("clearing the store"))?;
        }
        tx.commit().await.map_err(sqlx_err("committing a clear"))?;
        Ok(())
    }
}
