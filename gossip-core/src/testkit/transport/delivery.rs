//! Delivery: frames arrive intact, with the sender's id, in order when declared.

use std::{collections::VecDeque, future::Future};

use bytes::Bytes;
use tokio::time::timeout;

use super::{
    support::{
        bounded, close_all, expect_frames, expect_no_frame, labelled, network, recv_frame, send,
        Arrivals,
    },
    MAX_TESTED_FRAME_LEN, QUIET_PERIOD,
};
use crate::{Identity, Transport, TransportErrorKind, TransportEvent};

/// Frames arrive with the sender's id, byte for byte as sent, from several
/// senders, in both directions.
pub async fn delivers_frames_with_sender_id<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("delivers_frames_with_sender_id", async {
        let [a, b, c] = network(&factory).await;
        let from_a = Bytes::from_static(b"hello from a \x00\xff binary");
        let from_b = Bytes::from_static(b"hello from b");
        let from_c = Bytes::from_static(b"hello from c");
        send(&*a, c.local_id(), from_a.clone()).await;
        send(&*b, c.local_id(), from_b.clone()).await;
        send(&*c, a.local_id(), from_c.clone()).await;
        expect_frames(&*c, &[(a.local_id(), from_a), (b.local_id(), from_b)]).await;
        expect_frames(&*a, &[(c.local_id(), from_c)]).await;
        close_all(&[a, b, c]).await;
    })
    .await;
}

/// A frame of exactly `max_frame_len` bytes is accepted and arrives intact.
pub async fn frame_of_exactly_max_len_arrives<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("frame_of_exactly_max_len_arrives", async {
        let [a, b] = network(&factory).await;
        let max = a.max_frame_len();
        assert!(
            (1..=MAX_TESTED_FRAME_LEN).contains(&max),
            "max_frame_len {max} is outside 1..={MAX_TESTED_FRAME_LEN}"
        );
        let frame: Bytes = (0..max).map(|i| (i % 251) as u8).collect();
        send(&*a, b.local_id(), frame.clone()).await;
        expect_frames(&*b, &[(a.local_id(), frame)]).await;
        close_all(&[a, b]).await;
    })
    .await;
}

/// When the transport declares `ordered`, frames of each link arrive in the
/// order sent, with two links into one node running concurrently. Not
/// applicable otherwise (the test says so on stderr and passes;
/// [`declared_capabilities`] covers the declaration).
pub async fn per_link_order_when_ordered<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("per_link_order_when_ordered", async {
        const FRAMES: u32 = 300;
        let [a, b, c] = network(&factory).await;
        if !c.capabilities().ordered {
            eprintln!(
                "per_link_order_when_ordered: the {} transport does not declare `ordered`; \
                 nothing to check",
                c.backend()
            );
            close_all(&[a, b, c]).await;
            return;
        }
        let mut senders = Vec::new();
        for sender in [a.clone(), b.clone()] {
            let to = c.local_id().clone();
            senders.push(tokio::spawn(async move {
                for seq in 0..FRAMES {
                    send(&*sender, &to, labelled(sender.local_id(), "order", seq)).await;
                }
            }));
        }
        let mut arrivals = Arrivals::new(&*c);
        arrivals.collect(&*c, 2 * FRAMES as usize).await;
        for sender in senders {
            if let Err(error) = sender.await {
                panic!("a sender task failed: {error}");
            }
        }
        close_all(&[a, b, c]).await;
    })
    .await;
}

/// An empty frame is a frame: it arrives, empty, and does not confuse the
/// framing of the next one.
pub async fn empty_frame_roundtrips<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("empty_frame_roundtrips", async {
        let [a, b] = network(&factory).await;
        send(&*a, b.local_id(), Bytes::new()).await;
        let (from, frame) = recv_frame(&*b).await;
        assert_eq!(
            &from,
            a.local_id(),
            "the empty frame arrived with the wrong sender id"
        );
        assert!(
            frame.is_empty(),
            "an empty frame arrived with {} bytes",
            frame.len()
        );
        let next = Bytes::from_static(b"x");
        send(&*a, b.local_id(), next.clone()).await;
        send(&*a, b.local_id(), Bytes::new()).await;
        expect_frames(&*b, &[(a.local_id(), next), (a.local_id(), Bytes::new())]).await;
        close_all(&[a, b]).await;
    })
    .await;
}

/// The declared capabilities are stable and honest: a burst of frames is
/// delivered completely when `reliable`, in order when `ordered`, and without
/// repeats unless `may_duplicate`.
pub async fn declared_capabilities<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("declared_capabilities", async {
        const FRAMES: u32 = 200;
        let [a, b] = network(&factory).await;
        let caps = b.capabilities();
        assert_eq!(caps, b.capabilities(), "capabilities must be stable");
        for seq in 0..FRAMES {
            send(&*a, b.local_id(), labelled(a.local_id(), "caps", seq)).await;
        }
        let mut arrivals = Arrivals::new(&*b);
        if caps.reliable {
            arrivals.collect(&*b, FRAMES as usize).await;
            if !caps.may_duplicate {
                expect_no_frame(&*b, "every frame already arrived once").await;
            }
        } else {
            // Take what arrives until the link goes quiet; the checks run on each arrival.
            while let Ok(Ok(event)) = timeout(QUIET_PERIOD * 4, b.recv()).await {
                if let TransportEvent::Frame { from, frame } = event {
                    arrivals.record(&from, &frame);
                }
            }
        }
        assert_eq!(caps, b.capabilities(), "capabilities must be stable");
        close_all(&[a, b]).await;
    })
    .await;
}

/// `recv_many` takes a burst in one call: never more than its limit, at
/// least one event, exactly as many as it says, every frame intact and with
/// its sender, in order when the transport declares `ordered`; after
/// `close` it hands back one `Closed` error.
pub async fn recv_many_takes_bursts_within_its_limit<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("recv_many_takes_bursts_within_its_limit", async {
        const FRAMES: u32 = 100;
        const LIMIT: usize = 16;
        let [a, b] = network(&factory).await;
        let to = b.local_id().clone();
        for seq in 0..FRAMES {
            send(&*a, &to, labelled(a.local_id(), "burst", seq)).await;
        }
        let mut arrivals = Arrivals::new(&*b);
        let mut events = Vec::new();
        while arrivals.distinct < FRAMES as usize {
            let before = events.len();
            let taken = timeout(super::RECV_TIMEOUT, b.recv_many(&mut events, LIMIT))
                .await
                .unwrap_or_else(|_| panic!("recv_many: no event within the receive timeout"));
            assert!(
                (1..=LIMIT).contains(&taken),
                "recv_many took {taken} events with a limit of {LIMIT}"
            );
            assert_eq!(
                events.len() - before,
                taken,
                "recv_many miscounted what it appended"
            );
            for event in events.drain(..) {
                match event {
                    Ok(TransportEvent::Frame { from, frame }) => arrivals.record(&from, &frame),
                    Ok(_) => {}
                    Err(error) => panic!("recv_many: {error}"),
                }
            }
        }
        let _ = b.close().await;
        let taken = timeout(super::RECV_TIMEOUT, b.recv_many(&mut events, LIMIT))
            .await
            .unwrap_or_else(|_| panic!("recv_many after close: it hangs"));
        assert_eq!(taken, 1);
        assert!(
            matches!(&events[..], [Err(e)] if e.kind() == crate::TransportErrorKind::Closed),
            "recv_many after close: {events:?}"
        );
        close_all(&[a, b]).await;
    })
    .await;
}

/// `send_many` takes a batch: every frame of a burst arrives (in order when
/// the transport declares `ordered`), a caller that meets `QueueFull` goes on
/// with what is left in its queue, and the first frame refused (here: over
/// `max_frame_len`) stops the batch with the error `send` gives it, left at
/// the front with the frames after it, none of which is sent.
pub async fn send_many_sends_batches_and_stops_at_the_first_refusal<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded(
        "send_many_sends_batches_and_stops_at_the_first_refusal",
        async {
            const FRAMES: u32 = 300;
            let [a, b] = network(&factory).await;
            let to = b.local_id().clone();
            let mut batch: VecDeque<Bytes> = (0..FRAMES)
                .map(|seq| labelled(a.local_id(), "batch", seq))
                .collect();
            let deadline = tokio::time::Instant::now() + super::RECV_TIMEOUT;
            while let Err(error) = a.send_many(&to, &mut batch).await {
                assert!(
                    error.kind() == TransportErrorKind::QueueFull
                        && tokio::time::Instant::now() < deadline,
                    "send_many of a burst failed: {error}"
                );
                assert!(!batch.is_empty(), "an error with every frame taken");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert!(batch.is_empty(), "Ok with frames left in the batch");
            let mut empty = VecDeque::new();
            a.send_many(&to, &mut empty)
                .await
                .unwrap_or_else(|e| panic!("an empty batch failed: {e}"));
            let mut arrivals = Arrivals::new(&*b);
            if a.capabilities().reliable {
                arrivals.collect(&*b, FRAMES as usize).await;
            }

            let max = a.max_frame_len();
            let first = Bytes::from_static(b"before the refused frame");
            let too_large = Bytes::from(vec![7u8; max + 1]);
            let after = Bytes::from_static(b"after the refused frame");
            let mut batch = VecDeque::from([first.clone(), too_large.clone(), after.clone()]);
            let Err(error) = a.send_many(&to, &mut batch).await else {
                panic!("a batch holding a frame over max_frame_len succeeded");
            };
            assert_eq!(error.kind(), TransportErrorKind::FrameTooLarge, "{error}");
            assert_eq!(
                batch,
                VecDeque::from([too_large, after]),
                "the refused frame and those after it stay, in order"
            );
            if a.capabilities().reliable {
                expect_frames(&*b, &[(a.local_id(), first)]).await;
                expect_no_frame(&*b, "frames after the refused one are not sent").await;
            }
            close_all(&[a, b]).await;
        },
    )
    .await;
}
