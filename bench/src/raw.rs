//! Same-run physical baselines: raw length-prefixed tokio TCP on loopback,
//! raw batched store inserts, and the bare AEAD / compression primitives.

use std::time::{Duration, Instant};

use gossip_core::{ChannelId, DynStore, StreamId};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter},
    net::{TcpListener, TcpStream},
};

use crate::{
    cluster::{entries, node_id, payload, Res},
    stats::Summary,
};

async fn pair() -> Res<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let client = client?;
    let (server, _) = server?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Res<()> {
    let len = r.read_u32().await? as usize;
    buf.resize(len, 0);
    r.read_exact(buf).await?;
    Ok(())
}

/// Ping-pong round trips of `size`-byte frames over a raw framed TCP
/// connection: `rounds` samples after a warm-up.
pub(crate) async fn tcp_ping_pong(size: usize, rounds: usize) -> Res<Summary> {
    let (client, server) = pair().await?;
    let echo = tokio::spawn(async move {
        let (r, w) = server.into_split();
        let mut r = BufReader::new(r);
        let mut w = BufWriter::new(w);
        let mut buf = Vec::new();
        while read_frame(&mut r, &mut buf).await.is_ok() {
            let len = u32::try_from(buf.len())?;
            w.write_u32(len).await?;
            w.write_all(&buf).await?;
            w.flush().await?;
        }
        Res::Ok(())
    });
    let (r, w) = client.into_split();
    let mut r = BufReader::new(r);
    let mut w = BufWriter::new(w);
    let frame = payload(size, 1);
    let len = u32::try_from(size)?;
    let mut buf = Vec::new();
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds + rounds / 10 + 10 {
        let start = Instant::now();
        w.write_u32(len).await?;
        w.write_all(&frame).await?;
        w.flush().await?;
        read_frame(&mut r, &mut buf).await?;
        if i >= rounds / 10 + 10 {
            samples.push(start.elapsed());
        }
    }
    drop(w);
    drop(r);
    let _ = echo.await;
    Ok(Summary::of(&mut samples))
}

/// One-way throughput of `count` frames of `size` bytes over raw framed TCP:
/// (frames/s, MB/s).
pub(crate) async fn tcp_throughput(size: usize, count: u64) -> Res<(f64, f64)> {
    let (client, server) = pair().await?;
    let reader = tokio::spawn(async move {
        let mut r = BufReader::with_capacity(64 * 1024, server);
        let mut buf = Vec::new();
        for _ in 0..count {
            read_frame(&mut r, &mut buf).await?;
        }
        Res::Ok(Instant::now())
    });
    let start = Instant::now();
    let mut w = BufWriter::with_capacity(64 * 1024, client);
    let frame = payload(size, 1);
    let len = u32::try_from(size)?;
    for _ in 0..count {
        w.write_u32(len).await?;
        w.write_all(&frame).await?;
    }
    w.flush().await?;
    let end = reader.await??;
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    Ok((count as f64 / secs, count as f64 * size as f64 / secs / 1e6))
}

/// One-way throughput of `count` frames of `size` bytes over raw framed TCP
/// with every frame sealed by ring AES-256-GCM (counter nonce) and opened
/// by the reader: the floor of any authenticated, encrypted transport.
/// (frames/s, MB/s).
pub(crate) async fn tcp_sealed_throughput(size: usize, count: u64) -> Res<(f64, f64)> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    fn nonce(counter: u64) -> Nonce {
        let mut bytes = [0u8; 12];
        bytes[4..].copy_from_slice(&counter.to_be_bytes());
        Nonce::assume_unique_for_key(bytes)
    }
    let key = || -> Res<LessSafeKey> {
        Ok(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &[7; 32]).map_err(|_| "key")?,
        ))
    };
    let (client, server) = pair().await?;
    let opener = key()?;
    let reader = tokio::spawn(async move {
        let mut r = BufReader::with_capacity(64 * 1024, server);
        let mut buf = Vec::new();
        for counter in 0..count {
            read_frame(&mut r, &mut buf).await?;
            opener
                .open_in_place(nonce(counter), Aad::empty(), &mut buf)
                .map_err(|_| "open failed")?;
        }
        Res::Ok(Instant::now())
    });
    let sealer = key()?;
    let start = Instant::now();
    let mut w = BufWriter::with_capacity(64 * 1024, client);
    let frame = payload(size, 1);
    let mut sealed = Vec::with_capacity(size + 16);
    for counter in 0..count {
        sealed.clear();
        sealed.extend_from_slice(&frame);
        sealer
            .seal_in_place_append_tag(nonce(counter), Aad::empty(), &mut sealed)
            .map_err(|_| "seal failed")?;
        w.write_u32(u32::try_from(sealed.len())?).await?;
        w.write_all(&sealed).await?;
    }
    w.flush().await?;
    let end = reader.await??;
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    Ok((count as f64 / secs, count as f64 * size as f64 / secs / 1e6))
}

/// Time from connect to a first 16-byte frame arriving over raw TCP (no
/// handshake): the baseline of connection set-up.
pub(crate) async fn tcp_setup() -> Res<Duration> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let start = Instant::now();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (mut client, (mut server, _)) = (client?, server?);
    client.set_nodelay(true)?;
    client.write_u32(16).await?;
    client.write_all(&[1u8; 16]).await?;
    let mut buf = Vec::new();
    read_frame(&mut server, &mut buf).await?;
    Ok(start.elapsed())
}

/// Raw batched inserts into `store` through the store port (batches of
/// 1,000, no node): entries/s.
pub(crate) async fn store_inserts(store: &DynStore, count: u64, size: usize) -> Res<f64> {
    let author = node_id(999)?;
    let channel = ChannelId::new("raw")?;
    let stream = StreamId::new("raw")?;
    let batch = 1_000u64;
    let mut prepared = Vec::new();
    let mut first = 1;
    while first <= count {
        let n = batch.min(count + 1 - first);
        prepared.push(entries(&author, first, n, size)?);
        first += n;
    }
    let start = Instant::now();
    for chunk in &prepared {
        store.append(&channel, &stream, chunk).await?;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// Time per operation of a closure run `iterations` times.
fn time_per_op(iterations: u32, mut op: impl FnMut() -> Res<()>) -> Res<Duration> {
    for _ in 0..iterations / 10 + 1 {
        op()?;
    }
    let start = Instant::now();
    for _ in 0..iterations {
        op()?;
    }
    Ok(start.elapsed() / iterations.max(1))
}

/// One primitive's cost per 1 KiB (or `size`) operation.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Primitive {
    /// What was measured.
    pub(crate) name: &'static str,
    /// Input size.
    pub(crate) size: usize,
    /// Nanoseconds per operation.
    pub(crate) ns_per_op: f64,
    /// Output size (compression) or overhead (AEAD) in bytes.
    pub(crate) out_bytes: usize,
}

/// Bare ring AEAD and lz4 / zstd costs on a `size`-byte frame.
pub(crate) fn primitives(size: usize, iterations: u32) -> Res<Vec<Primitive>> {
    use ring::aead::{
        Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305, NONCE_LEN,
    };
    let data = payload(size, 3).to_vec();
    let mut out = Vec::new();
    for (name, alg) in [
        ("ring AES-256-GCM seal", &AES_256_GCM),
        ("ring ChaCha20-Poly1305 seal", &CHACHA20_POLY1305),
    ] {
        let key = LessSafeKey::new(UnboundKey::new(alg, &[7u8; 32]).map_err(|_| "bad key")?);
        let mut counter = 0u64;
        let mut sealed_len = 0;
        let per = time_per_op(iterations, || {
            counter += 1;
            let mut nonce = [0u8; NONCE_LEN];
            for (d, b) in nonce.iter_mut().skip(4).zip(counter.to_be_bytes()) {
                *d = b;
            }
            let mut buf = data.clone();
            key.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut buf,
            )
            .map_err(|_| "seal failed")?;
            sealed_len = buf.len();
            Ok(())
        })?;
        out.push(Primitive {
            name,
            size,
            ns_per_op: per.as_secs_f64() * 1e9,
            out_bytes: sealed_len.saturating_sub(size),
        });
    }
    let mut lz4_len = 0;
    let per = time_per_op(iterations, || {
        lz4_len = lz4_flex::compress_prepend_size(&data).len();
        Ok(())
    })?;
    out.push(Primitive {
        name: "lz4_flex compress",
        size,
        ns_per_op: per.as_secs_f64() * 1e9,
        out_bytes: lz4_len,
    });
    let mut zstd_len = 0;
    let per = time_per_op(iterations / 4 + 1, || {
        zstd_len = zstd::bulk::compress(&data, 3)?.len();
        Ok(())
    })?;
    out.push(Primitive {
        name: "zstd level 3 compress",
        size,
        ns_per_op: per.as_secs_f64() * 1e9,
        out_bytes: zstd_len,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_report_sizes() {
        let p = primitives(1024, 10).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p.first().unwrap().out_bytes, 16);
    }

    #[tokio::test]
    async fn raw_tcp_moves_frames() {
        let s = tcp_ping_pong(256, 20).await.unwrap();
        assert_eq!(s.count, 20);
        let (fps, _) = tcp_throughput(1024, 200).await.unwrap();
        assert!(fps > 0.0);
    }
}
