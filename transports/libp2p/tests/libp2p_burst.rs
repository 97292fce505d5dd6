//! A burst far larger than every queue on the way (the sender's queue, the
//! substream's flow-control window, the receiver's inbound queue) arrives
//! whole and in order: `send` answers `QueueFull` while the receiver lags,
//! nothing is refused or dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use gossip_core::{Transport, TransportErrorKind, TransportEvent};
use tokio::time::timeout;

const FRAMES: u32 = 50_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_000_frame_burst_arrives_whole_and_in_order() {
    let nodes = mesh(2, config()).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let to = b.local_id().clone();
    let receiver = async {
        let mut next = 0u32;
        let mut events = Vec::new();
        while next < FRAMES {
            events.clear();
            b.recv_many(&mut events, 256).await;
            for event in events.drain(..) {
                if let TransportEvent::Frame { from, frame } = event.unwrap() {
                    assert_eq!(&from, a.local_id());
                    let seq = u32::from_be_bytes(frame[..4].try_into().unwrap());
                    assert_eq!(seq, next, "frame {seq} arrived in place of {next}");
                    assert_eq!(frame.len(), 64);
                    next += 1;
                }
            }
        }
    };
    let sender = async {
        let mut full = 0u64;
        for seq in 0..FRAMES {
            let mut frame = seq.to_be_bytes().to_vec();
            frame.resize(64, 0xab);
            let frame = Bytes::from(frame);
            loop {
                match a.send(&to, frame.clone()).await {
                    Ok(()) => break,
                    Err(e) if e.kind() == TransportErrorKind::QueueFull => {
                        full += 1;
                        tokio::task::yield_now().await;
                    }
                    Err(e) => panic!("send {seq}: {e}"),
                }
            }
        }
        full
    };
    let (full, ()) = timeout(Duration::from_secs(120), async {
        tokio::join!(sender, receiver)
    })
    .await
    .expect("the burst did not arrive within 2 minutes");
    eprintln!("{FRAMES} frames delivered in order; QueueFull answered {full} times");
    let stats = a.stats();
    assert_eq!(stats.failed_frames, 0, "{stats:?}");
    assert_eq!(stats.streams_opened, 1, "{stats:?}");
    assert_eq!(b.stats().inbound_failures, 0);
    close_all(&nodes).await;
}
