//! Channel records, peers, the persisted clock, channel deletion and
//! `clear`. Blocking; called through [`RocksDbStore`](crate::RocksDbStore)'s
//! blocking-task bridge.

use gossip_core::{
    Channel, ChannelId, Hlc, NodeId, PeerRecord, StoreError, StoreErrorKind, StoreResult,
};
use rocksdb::{IteratorMode, WriteBatch};

use crate::{
    codec::decode_u64,
    entries::end_of,
    error::{corrupt, db_err, store_error},
    keys,
    schema::{CF_AUTHORS, CF_CHANNELS, CF_ENTRIES, CF_META, CF_PEERS, CF_READ_ORDER, META_CLOCK},
    store::Handle,
};

/// `map_err` adapter for a record that postcard cannot encode.
fn encode_err(what: String) -> impl FnOnce(postcard::Error) -> StoreError {
    move |e| store_error(StoreErrorKind::Other, format!("encoding {what}: {e}")).with_source(e)
}

/// Every record of a column family keyed by id, decoded and checked
/// against its key.
fn load_all<T>(
    h: &Handle,
    cf_name: &str,
    kind: &str,
    decode: impl Fn(&str, &[u8]) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let cf = h.cf(cf_name)?;
    h.db.iterator_cf(cf, IteratorMode::Start)
        .map(|item| {
            let (key, value) = item.map_err(db_err("loading records"))?;
            let id = std::str::from_utf8(&key)
                .map_err(|_| corrupt(format!("{}: a {kind} key is not UTF-8", h.label())))?;
            decode(id, &value)
        })
        .collect()
}

pub(crate) fn save_channel(h: &Handle, channel: &Channel) -> StoreResult<()> {
    let record =
        postcard::to_allocvec(channel).map_err(encode_err(format!("channel {}", channel.id())))?;
    let mut batch = WriteBatch::default();
    batch.put_cf(h.cf(CF_CHANNELS)?, channel.id().as_str(), record);
    let _writer = h.lock();
    h.write(batch, "saving a channel")
}

pub(crate) fn load_channels(h: &Handle) -> StoreResult<Vec<Channel>> {
    load_all(h, CF_CHANNELS, "channel", |id, value| {
        let channel: Channel = postcard::from_bytes(value).map_err(|e| {
            corrupt(format!(
                "{}: channel {id}: undecodable record: {e}",
                h.label()
            ))
            .with_source(e)
        })?;
        if channel.id().as_str() != id {
            return Err(corrupt(format!(
                "{}: channel {id}: record holds channel {}",
                h.label(),
                channel.id()
            )));
        }
        Ok(channel)
    })
}

pub(crate) fn delete_channel(h: &Handle, channel: &ChannelId) -> StoreResult<()> {
    let prefix = keys::channel_prefix(channel);
    let end = end_of(&prefix)?;
    let mut batch = WriteBatch::default();
    for cf in [CF_ENTRIES, CF_READ_ORDER, CF_AUTHORS] {
        batch.delete_range_cf(h.cf(cf)?, prefix.as_slice(), end.as_slice());
    }
    batch.delete_cf(h.cf(CF_CHANNELS)?, channel.as_str());
    let _writer = h.lock();
    h.write(batch, "deleting a channel")
}

pub(crate) fn save_peer(h: &Handle, peer: &PeerRecord) -> StoreResult<()> {
    let record = postcard::to_allocvec(peer).map_err(encode_err(format!("peer {}", peer.id)))?;
    let mut batch = WriteBatch::default();
    batch.put_cf(h.cf(CF_PEERS)?, peer.id.as_str(), record);
    let _writer = h.lock();
    h.write(batch, "saving a peer")
}

pub(crate) fn load_peers(h: &Handle) -> StoreResult<Vec<PeerRecord>> {
    load_all(h, CF_PEERS, "peer", |id, value| {
        let peer: PeerRecord = postcard::from_bytes(value).map_err(|e| {
            corrupt(format!("{}: peer {id}: undecodable record: {e}", h.label())).with_source(e)
        })?;
        if peer.id.as_str() != id {
            return Err(corrupt(format!(
                "{}: peer {id}: record holds peer {}",
                h.label(),
                peer.id
            )));
        }
        Ok(peer)
    })
}

pub(crate) fn remove_peer(h: &Handle, peer: &NodeId) -> StoreResult<()> {
    let mut batch = WriteBatch::default();
    batch.delete_cf(h.cf(CF_PEERS)?, peer.as_str());
    let _writer = h.lock();
    h.write(batch, "removing a peer")
}

fn read_clock(h: &Handle) -> StoreResult<Option<Hlc>> {
    let value =
        h.db.get_cf(h.cf(CF_META)?, META_CLOCK)
            .map_err(db_err("loading the clock"))?;
    value
        .map(|v| {
            decode_u64(&v)
                .map(Hlc::from_u64)
                .ok_or_else(|| corrupt(format!("{}: the saved clock is undecodable", h.label())))
        })
        .transpose()
}

pub(crate) fn save_clock(h: &Handle, clock: Hlc) -> StoreResult<()> {
    let _writer = h.lock();
    if read_clock(h)?.is_some_and(|saved| saved >= clock) {
        return Ok(());
    }
    let mut batch = WriteBatch::default();
    batch.put_cf(h.cf(CF_META)?, META_CLOCK, clock.as_u64().to_be_bytes());
    h.write(batch, "saving the clock")
}

pub(crate) fn load_clock(h: &Handle) -> StoreResult<Option<Hlc>> {
    read_clock(h)
}

pub(crate) fn clear(h: &Handle) -> StoreResult<()> {
    let mut batch = WriteBatch::default();
    for cf in [CF_ENTRIES, CF_READ_ORDER, CF_AUTHORS, CF_CHANNELS, CF_PEERS] {
        batch.delete_range_cf(h.cf(cf)?, keys::ALL.0, keys::ALL.1);
    }
    // The schema version stays.
    batch.delete_cf(h.cf(CF_META)?, META_CLOCK);
    let _writer = h.lock();
    h.write(batch, "clearing")
}
