//! `tcp_frame_reader`: the TCP transport's post-handshake frame reader
//! (length prefix, bound, AES-256-GCM with the frame counter as nonce) under
//! a fixed session key.
//!
//! Input: a mode byte, the maximum frame length (`u32`, at most 1 MiB),
//! read sizes (a count, then one byte each), then
//! - mode 0, **raw**: the rest is the wire; frames are read until one fails;
//! - mode 1, **sealed**: frames (a count, then byte strings) are sealed with
//!   the session key, the wire is edited (a count, then `u16` offset and XOR
//!   mask each), then read. A frame that opens must be the frame sealed at
//!   its place (authenticity, order, no replay); an unedited wire opens
//!   every frame within the maximum, in order, then ends cleanly.

use gossip_transport_tcp::fuzzing::{FrameOpener, FrameReadError, FrameSealer};

use crate::{
    input::{Input, Seed},
    rt::{block_on, Chunked},
};

/// The fixed session key.
pub const KEY: [u8; 32] = [0x42; 32];

const MAX_LIMIT: u32 = 1 << 20;

/// The harness.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte() % 2;
    let max = (input.u32() % (MAX_LIMIT + 1)) as usize;
    let chunks: Vec<usize> = (0..input.byte() % 8)
        .map(|_| usize::from(input.byte()))
        .collect();
    if mode == 0 {
        let wire = input.rest();
        let opened = read_all(wire, chunks, max);
        for frame in &opened.frames {
            assert!(frame.len() <= max, "a frame over the maximum was returned");
        }
        return;
    }
    let frames: Vec<Vec<u8>> = (0..input.byte() % 8).map(|_| input.bytes(255)).collect();
    let mut sealer = FrameSealer::new(&KEY);
    let mut wire = Vec::new();
    for frame in &frames {
        sealer.seal(frame, &mut wire).expect("seal");
    }
    let original = wire.clone();
    for _ in 0..input.byte() % 4 {
        let offset = usize::from(input.u16());
        let mask = input.byte();
        let at = offset % wire.len().max(1);
        if let Some(byte) = wire.get_mut(at) {
            *byte ^= mask;
        }
    }
    let opened = read_all(&wire, chunks, max);
    for (i, frame) in opened.frames.iter().enumerate() {
        assert_eq!(
            Some(frame),
            frames.get(i),
            "frame {i} opened to something that was not sealed there"
        );
    }
    if wire == original {
        let fit = frames.iter().take_while(|f| f.len() <= max).count();
        assert_eq!(opened.frames.len(), fit, "an untouched frame failed");
        match (&opened.end, fit == frames.len()) {
            (FrameReadError::Eof, true) | (FrameReadError::TooLarge { .. }, false) => {}
            (end, _) => panic!("untouched wire ended with {end:?}"),
        }
    }
}

struct Opened {
    frames: Vec<Vec<u8>>,
    end: FrameReadError,
}

fn read_all(wire: &[u8], chunks: Vec<usize>, max: usize) -> Opened {
    block_on(async {
        let mut reader = Chunked::new(wire, chunks);
        let mut opener = FrameOpener::new(&KEY);
        let mut frames = Vec::new();
        loop {
            match opener.read_frame(&mut reader, max).await {
                Ok(frame) => frames.push(frame.to_vec()),
                Err(end) => return Opened { frames, end },
            }
        }
    })
}

/// Seeds: sealed wires (as the raw mode reads them) and sealed cases.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut sealer = FrameSealer::new(&KEY);
    let mut wire = Vec::new();
    for frame in [&b""[..], b"hello", &[7u8; 200]] {
        sealer.seal(frame, &mut wire).expect("seal");
    }
    out.push((
        "raw-three-frames".into(),
        Seed::new().byte(0).u32(1 << 16).byte(0).raw(&wire).finish(),
    ));
    out.push((
        "raw-three-frames-split".into(),
        Seed::new()
            .byte(0)
            .u32(1 << 16)
            .byte(3)
            .byte(1)
            .byte(3)
            .byte(7)
            .raw(&wire)
            .finish(),
    ));
    out.push((
        "raw-too-large".into(),
        Seed::new().byte(0).u32(64).byte(0).raw(&wire).finish(),
    ));
    out.push((
        "raw-huge-length".into(),
        Seed::new()
            .byte(0)
            .u32(1 << 20)
            .byte(0)
            .raw(&u32::MAX.to_be_bytes())
            .finish(),
    ));
    out.push((
        "raw-short-length".into(),
        Seed::new()
            .byte(0)
            .u32(1 << 20)
            .byte(0)
            .raw(&3u32.to_be_bytes())
            .raw(b"abc")
            .finish(),
    ));
    out.push((
        "sealed-untouched".into(),
        Seed::new()
            .byte(1)
            .u32(1024)
            .byte(0)
            .byte(3)
            .bytes(b"")
            .bytes(b"ping")
            .bytes(&[1u8; 100])
            .byte(0)
            .finish(),
    ));
    out.push((
        "sealed-flipped".into(),
        Seed::new()
            .byte(1)
            .u32(1024)
            .byte(1)
            .byte(5)
            .byte(2)
            .bytes(b"ping")
            .bytes(b"pong")
            .byte(1)
            .u16(30)
            .byte(0x80)
            .finish(),
    ));
    out.push((
        "sealed-over-max".into(),
        Seed::new()
            .byte(1)
            .u32(8)
            .byte(0)
            .byte(2)
            .bytes(b"ok")
            .bytes(b"too long for eight")
            .byte(0)
            .finish(),
    ));
    out
}
