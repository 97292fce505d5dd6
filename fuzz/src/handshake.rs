//! `tcp_handshake`: the TCP transport's real handshake (acceptor and dialer)
//! against bytes from the fuzzer.
//!
//! Input: a mode byte, then
//! - mode 0, **raw acceptor**: the rest is everything the dialer sends; the
//!   acceptor must fail (the fuzzer holds no key);
//! - mode 1, **raw dialer**: the rest is everything the acceptor answers;
//!   the dialer must fail;
//! - mode 2, **tampered exchange**: a real dialer and a real acceptor (fixed
//!   identities), with the bytes between them altered as the input says
//!   (network keys, then edits: direction, offset, flip / insert / cut).
//!   Whatever side completes must have learnt the other's true node id; an
//!   untouched exchange with matching keys must complete on both sides.
//!
//! Time is paused: an exchange that stalls (a length made longer) times out
//! at once, as the transport's handshake timeout would end it.

use std::{sync::OnceLock, time::Duration};

use gossip_core::Identity;
use gossip_transport_tcp::fuzzing::{accept, dial, HandshakeSide, Remote};
use tokio::io::{duplex, split, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

use crate::{
    input::{Input, Seed},
    rt::block_on,
};

const TIMEOUT: Duration = Duration::from_secs(10);
const PSK_A: [u8; 32] = [0x5a; 32];
const PSK_B: [u8; 32] = [0xa5; 32];

/// The fixed sides: dialer and acceptor, each without a network key, with
/// key A and with key B.
struct Sides {
    dialer: [HandshakeSide; 3],
    acceptor: [HandshakeSide; 3],
}

fn sides() -> &'static Sides {
    static SIDES: OnceLock<Sides> = OnceLock::new();
    SIDES.get_or_init(|| {
        let make = |name: &str| {
            let identity = Identity::from_seed(name);
            [None, Some(PSK_A), Some(PSK_B)].map(|psk| {
                HandshakeSide::new(&identity, psk, 1 << 20, 7000).expect("handshake keys")
            })
        };
        Sides {
            dialer: make("fuzz-dialer"),
            acceptor: make("fuzz-acceptor"),
        }
    })
}

/// An edit of one direction of the byte stream.
#[derive(Debug, Clone)]
enum Op {
    /// XOR the byte at the offset.
    Flip(u8),
    /// Insert bytes before the offset.
    Insert(Vec<u8>),
    /// Cut the stream at the offset (the receiver sees the end of stream).
    Cut,
}

#[derive(Debug, Clone)]
struct Edit {
    to_acceptor: bool,
    offset: usize,
    op: Op,
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    match input.byte() % 3 {
        0 => raw_acceptor(input.rest()),
        1 => raw_dialer(input.rest()),
        _ => tampered(input),
    }
}

fn raw_acceptor(wire: &[u8]) {
    let side = &sides().acceptor[usize::from(wire.first().copied().unwrap_or(0) % 2)];
    let result = block_on(async {
        let (mut remote, mut local) = duplex(wire.len() + 64 * 1024);
        remote.write_all(wire).await.expect("duplex write");
        remote.shutdown().await.expect("duplex shutdown");
        let result = tokio::time::timeout(TIMEOUT, accept(&mut local, side)).await;
        drop(remote);
        result
    });
    if let Ok(Ok(remote)) = result {
        panic!("the acceptor completed a handshake with raw bytes: {remote:?}");
    }
}

fn raw_dialer(wire: &[u8]) {
    let sides = sides();
    let expected = sides.acceptor[0].node().clone();
    let result = block_on(async {
        let (mut remote, mut local) = duplex(wire.len() + 64 * 1024);
        remote.write_all(wire).await.expect("duplex write");
        remote.shutdown().await.expect("duplex shutdown");
        let result =
            tokio::time::timeout(TIMEOUT, dial(&mut local, &sides.dialer[0], &expected)).await;
        drop(remote);
        result
    });
    if let Ok(Ok(remote)) = result {
        panic!("the dialer completed a handshake with raw bytes: {remote:?}");
    }
}

fn tampered(mut input: Input<'_>) {
    let sides = sides();
    let keys = input.byte();
    let dialer = &sides.dialer[usize::from(keys % 3)];
    let acceptor = &sides.acceptor[usize::from((keys / 3) % 3)];
    let same_keys = keys % 3 == (keys / 3) % 3;
    let mut edits = Vec::new();
    for _ in 0..input.byte() % 8 {
        let how = input.byte();
        let offset = usize::from(input.u16() % 1024);
        let op = match how % 4 {
            0 | 1 => Op::Flip(input.byte()),
            2 => Op::Insert(input.bytes(64)),
            _ => Op::Cut,
        };
        edits.push(Edit {
            to_acceptor: how & 0x80 == 0,
            offset,
            op,
        });
    }
    let (to_acceptor, to_dialer): (Vec<_>, Vec<_>) =
        edits.into_iter().partition(|edit| edit.to_acceptor);
    let expected = acceptor.node().clone();
    let (dialed, accepted, tampered) = block_on(async {
        let (dialer_end, relay_d) = duplex(64 * 1024);
        let (acceptor_end, relay_a) = duplex(64 * 1024);
        let (from_dialer, into_dialer) = split(relay_d);
        let (from_acceptor, into_acceptor) = split(relay_a);
        let dialing = async move {
            let mut stream = dialer_end;
            tokio::time::timeout(TIMEOUT, dial(&mut stream, dialer, &expected)).await
        };
        let accepting = async move {
            let mut stream = acceptor_end;
            tokio::time::timeout(TIMEOUT, accept(&mut stream, acceptor)).await
        };
        let (dialed, accepted, up, down) = tokio::join!(
            dialing,
            accepting,
            pump(from_dialer, into_acceptor, to_acceptor),
            pump(from_acceptor, into_dialer, to_dialer),
        );
        (flatten(dialed), flatten(accepted), up || down)
    });
    if let Some(remote) = &dialed {
        assert_eq!(
            &remote.node,
            acceptor.node(),
            "the dialer was fooled about the acceptor"
        );
        assert!(same_keys, "the dialer completed with another network key");
    }
    if let Some(remote) = &accepted {
        assert_eq!(
            &remote.node,
            dialer.node(),
            "the acceptor was fooled about the dialer"
        );
        assert!(same_keys, "the acceptor completed with another network key");
    }
    if same_keys && !tampered {
        assert!(
            dialed.as_ref().is_some_and(|r| r.accepted) && accepted.is_some(),
            "an untouched handshake failed: dialer {dialed:?}, acceptor {accepted:?}"
        );
    }
}

fn flatten(result: Result<Result<Remote, String>, tokio::time::error::Elapsed>) -> Option<Remote> {
    result.ok().and_then(Result::ok)
}

/// Copies `from` to `to`, applying `edits` at their offsets in the stream;
/// returns whether anything was changed.
async fn pump(
    mut from: ReadHalf<DuplexStream>,
    mut to: WriteHalf<DuplexStream>,
    mut edits: Vec<Edit>,
) -> bool {
    edits.sort_by_key(|edit| edit.offset);
    let mut tampered = false;
    let mut position = 0usize;
    let mut cut = false;
    let mut buf = [0u8; 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut {
            continue;
        }
        let mut out = Vec::with_capacity(n + 64);
        for &byte in buf.iter().take(n) {
            let mut byte = byte;
            for edit in edits.iter().filter(|edit| edit.offset == position) {
                match &edit.op {
                    Op::Flip(mask) => {
                        tampered |= *mask != 0;
                        byte ^= mask;
                    }
                    Op::Insert(bytes) => {
                        tampered |= !bytes.is_empty();
                        out.extend_from_slice(bytes);
                    }
                    Op::Cut => cut = true,
                }
            }
            if cut {
                tampered = true;
                break;
            }
            out.push(byte);
            position += 1;
        }
        if to.write_all(&out).await.is_err() {
            cut = true;
        }
        if cut {
            let _ = to.shutdown().await;
        }
    }
    let _ = to.shutdown().await;
    tampered
}

/// Seeds: raw exchanges (magic, version, first Noise message) and tampered
/// ones.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut m1 = Vec::new();
    m1.extend_from_slice(b"GOSSIP/N");
    m1.push(gossip_core::protocol::PROTOCOL_VERSION);
    m1.extend_from_slice(&32u16.to_be_bytes());
    m1.extend_from_slice(&[9u8; 32]);
    out.push((
        "raw-acceptor-m1".into(),
        Seed::new().byte(0).raw(&m1).finish(),
    ));
    out.push((
        "raw-acceptor-bad-magic".into(),
        Seed::new().byte(0).raw(b"GOSSIP/T\x01").finish(),
    ));
    out.push((
        "raw-acceptor-long".into(),
        Seed::new()
            .byte(0)
            .raw(&m1[..9])
            .raw(&u16::MAX.to_be_bytes())
            .finish(),
    ));
    let mut m2 = Vec::new();
    m2.extend_from_slice(&96u16.to_be_bytes());
    m2.extend_from_slice(&[3u8; 96]);
    out.push((
        "raw-dialer-m2".into(),
        Seed::new().byte(1).raw(&m2).finish(),
    ));
    out.push((
        "untouched".into(),
        Seed::new().byte(2).byte(0).byte(0).finish(),
    ));
    out.push((
        "untouched-psk".into(),
        Seed::new().byte(2).byte(4).byte(0).finish(),
    ));
    out.push((
        "psk-mismatch".into(),
        Seed::new().byte(2).byte(1).byte(0).finish(),
    ));
    // One edit at the start of each message, both ways.
    for (name, offset, to_acceptor) in [
        ("flip-m1", 12u16, true),
        ("flip-m3", 60, true),
        ("flip-m2", 40, false),
        ("flip-verdict", 140, false),
    ] {
        let dir = if to_acceptor { 0 } else { 0x80 };
        out.push((
            name.into(),
            Seed::new()
                .byte(2)
                .byte(0)
                .byte(1)
                .byte(dir)
                .u16(offset)
                .byte(1)
                .finish(),
        ));
    }
    out.push((
        "cut-m3".into(),
        Seed::new().byte(2).byte(0).byte(1).byte(3).u16(50).finish(),
    ));
    out.push((
        "insert-m1".into(),
        Seed::new()
            .byte(2)
            .byte(0)
            .byte(1)
            .byte(2)
            .u16(9)
            .bytes(&[0, 0])
            .finish(),
    ));
    out
}

#[cfg(test)]
mod tests {
    /// The untouched exchange completes (the harness exercises the whole
    /// handshake, not just its failures).
    #[test]
    fn an_untouched_exchange_completes() {
        for (_, seed) in super::seeds() {
            super::run(&seed);
        }
    }
}
