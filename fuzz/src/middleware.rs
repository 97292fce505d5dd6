//! `middleware_decode`: the compression and encryption layers opening
//! received frames. Every refusal is a typed [`gossip_middleware::Error`],
//! never a panic.
//!
//! Input: a mode byte, the maximum frame length (`u16`), then
//! - mode 0, **decompress**: the rest is a received frame, opened by the lz4
//!   and the zstd layer; what opens is at most the maximum;
//! - mode 1, **compress then decompress**: a threshold byte, the rest is a
//!   frame, sealed then opened by both: it comes back the same, or is refused
//!   as too large when over the maximum;
//! - mode 2, **raw sealed frame**: the rest is a frame opened by the
//!   encryption layer (under the key the seeds were sealed with): refused,
//!   or opened once and refused as a replay the second time;
//! - mode 3, **sealed and tampered**: a cipher byte, frames (a count, then
//!   byte strings) sealed by one peer, a key rotation point, edits (frame,
//!   offset, XOR mask), a delivery order (a count, then frame indexes, so
//!   frames repeat, go missing and arrive out of order); each frame that
//!   opens must be the one sealed, untouched, opened for the first time.

use bytes::Bytes;
use gossip_core::{Identity, NodeId};
use gossip_middleware::{
    frame::{FrameContext, FrameTransform},
    Cipher, CompressionLayer, EncryptionLayer, NetworkKey,
};
use tower::Layer;

use crate::input::{Input, Seed};

fn nodes() -> (NodeId, NodeId) {
    (
        Identity::from_seed("fuzz-alice").node_id().clone(),
        Identity::from_seed("fuzz-bob").node_id().clone(),
    )
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte() % 4;
    let max = usize::from(input.u16());
    let (alice, bob) = nodes();
    let cx = FrameContext::new(&bob, &alice, max);
    match mode {
        0 => {
            let frame = Bytes::copy_from_slice(input.rest());
            for layer in [CompressionLayer::lz4(), CompressionLayer::zstd(3)] {
                let framed = layer.layer(());
                if let Ok(opened) = framed.transform().open(&cx, frame.clone()) {
                    assert!(opened.len() <= max, "decompressed past the maximum");
                }
            }
        }
        1 => {
            let threshold = usize::from(input.byte());
            let frame = Bytes::copy_from_slice(input.rest());
            let send_cx = FrameContext::new(&alice, &bob, max);
            for layer in [CompressionLayer::lz4(), CompressionLayer::zstd(3)] {
                let framed = layer.threshold(threshold).layer(());
                let t = framed.transform();
                let sealed = t.seal(&send_cx, frame.clone()).expect("compress");
                assert!(
                    sealed.len() <= frame.len() + t.overhead(),
                    "overhead exceeded"
                );
                match t.open(&cx, sealed) {
                    Ok(opened) => {
                        assert_eq!(opened, frame, "round trip changed the frame");
                        assert!(opened.len() <= max, "decompressed past the maximum");
                    }
                    Err(error) => assert!(
                        frame.len() > max,
                        "a frame within the maximum was refused: {error}"
                    ),
                }
            }
        }
        2 => {
            let layer = EncryptionLayer::new(NetworkKey::new(1, [0x11; 32]));
            let framed = layer.layer(());
            let frame = Bytes::copy_from_slice(input.rest());
            if framed.transform().open(&cx, frame.clone()).is_ok() {
                // Sealed with the key (the corpus has such frames): it
                // opens once, never twice.
                if let Ok(again) = framed.transform().open(&cx, frame) {
                    panic!("a frame opened twice: {again:?}");
                }
            }
        }
        _ => sealed(input, &alice, &bob, max),
    }
}

fn sealed(mut input: Input<'_>, alice: &NodeId, bob: &NodeId, max: usize) {
    let cipher = if input.byte() % 2 == 0 {
        Cipher::Aes256Gcm
    } else {
        Cipher::ChaCha20Poly1305
    };
    let window = u64::from(input.byte() % 16);
    let layer = EncryptionLayer::new(NetworkKey::new(1, [0x11; 32]))
        .cipher(cipher)
        .replay_window(window.max(1));
    let sender = layer.layer(());
    let receiver = layer.layer(());
    let send_cx = FrameContext::new(alice, bob, max);
    let recv_cx = FrameContext::new(bob, alice, max);
    let plain: Vec<Bytes> = (0..input.byte() % 8)
        .map(|_| Bytes::from(input.bytes(255)))
        .collect();
    let rotate_at = usize::from(input.byte());
    let mut wire = Vec::new();
    for (i, frame) in plain.iter().enumerate() {
        if i == rotate_at {
            layer
                .handle()
                .rotate(&NetworkKey::new(2, [0x22; 32]))
                .expect("rotate");
        }
        let sealed = sender
            .transform()
            .seal(&send_cx, frame.clone())
            .expect("seal");
        wire.push(sealed.to_vec());
    }
    let original = wire.clone();
    for _ in 0..input.byte() % 4 {
        let which = usize::from(input.byte());
        let offset = usize::from(input.u16());
        let mask = input.byte();
        if wire.is_empty() {
            continue;
        }
        let which = which % wire.len();
        if let Some(frame) = wire.get_mut(which) {
            let at = offset % frame.len().max(1);
            if let Some(byte) = frame.get_mut(at) {
                *byte ^= mask;
            }
        }
    }
    let order: Vec<usize> = match input.byte() {
        0 => (0..wire.len()).collect(),
        n => (0..n % 16).map(|_| usize::from(input.byte())).collect(),
    };
    let mut opened = vec![false; wire.len()];
    for index in order {
        let Some(frame) = wire.get(index % wire.len().max(1)) else {
            continue;
        };
        let index = index % wire.len();
        match receiver
            .transform()
            .open(&recv_cx, Bytes::copy_from_slice(frame))
        {
            Ok(got) => {
                assert_eq!(frame, &original[index], "a tampered frame opened");
                assert!(!opened[index], "a replayed frame opened");
                assert_eq!(got, plain[index], "a frame opened to other bytes");
                opened[index] = true;
            }
            Err(_) => {}
        }
    }
}

/// Seeds for each mode, made with the real layers.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let (alice, bob) = nodes();
    let cx = FrameContext::new(&alice, &bob, 4096);
    let text = Bytes::from(b"hello hello hello hello hello hello hello hello".repeat(4));
    let mut out = Vec::new();
    for (name, layer) in [
        ("lz4", CompressionLayer::lz4().threshold(0)),
        ("zstd", CompressionLayer::zstd(3).threshold(0)),
    ] {
        let sealed = layer
            .layer(())
            .transform()
            .seal(&cx, text.clone())
            .expect("compress");
        out.push((
            format!("decompress-{name}"),
            Seed::new().byte(0).u16(4096).raw(&sealed).finish(),
        ));
        out.push((
            format!("decompress-{name}-over-max"),
            Seed::new().byte(0).u16(16).raw(&sealed).finish(),
        ));
    }
    out.push((
        "decompress-stored".into(),
        Seed::new().byte(0).u16(4096).byte(0).raw(b"plain").finish(),
    ));
    out.push((
        "roundtrip".into(),
        Seed::new().byte(1).u16(4096).byte(8).raw(&text).finish(),
    ));
    // The layer draws its nonce prefix at random: this seed differs each
    // time it is made (the generator writes it only when it is missing).
    let sealed = EncryptionLayer::new(NetworkKey::new(1, [0x11; 32]))
        .layer(())
        .transform()
        .seal(&cx, Bytes::from_static(b"secret"))
        .expect("seal");
    out.push((
        "raw-sealed-random-nonce".into(),
        Seed::new().byte(2).u16(4096).raw(&sealed).finish(),
    ));
    out.push((
        "sealed-in-order".into(),
        Seed::new()
            .byte(3)
            .u16(4096)
            .byte(0)
            .byte(8)
            .byte(3)
            .bytes(b"one")
            .bytes(b"two")
            .bytes(b"three")
            .byte(255)
            .byte(0)
            .byte(0)
            .finish(),
    ));
    out.push((
        "sealed-replayed-rotated".into(),
        Seed::new()
            .byte(3)
            .u16(4096)
            .byte(1)
            .byte(4)
            .byte(2)
            .bytes(b"one")
            .bytes(b"two")
            .byte(1)
            .byte(1)
            .byte(0)
            .u16(20)
            .byte(4)
            .byte(5)
            .byte(1)
            .byte(0)
            .byte(0)
            .byte(1)
            .byte(1)
            .finish(),
    ));
    out
}
