//! Refusals: frames over the maximum and unknown peers fail promptly; the maximum is stable.

use std::future::Future;

use bytes::Bytes;
use tokio::time::timeout;

use super::{
    support::{
        assert_kind, bounded, close_all, expect_frames, expect_no_frame, network, node_id, send,
    },
    MAX_TESTED_FRAME_LEN, RECV_TIMEOUT,
};
use crate::{Identity, Transport, TransportErrorKind};

/// A frame one byte over `max_frame_len` fails with `FrameTooLarge` and
/// nothing reaches the peer.
pub async fn larger_frame_is_frame_too_large_and_nothing_sent<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("larger_frame_is_frame_too_large_and_nothing_sent", async {
        let [a, b] = network(&factory).await;
        let max = a.max_frame_len();
        assert!(
            (1..=MAX_TESTED_FRAME_LEN).contains(&max),
            "max_frame_len {max} is outside 1..={MAX_TESTED_FRAME_LEN}"
        );
        let too_large = Bytes::from(vec![7u8; max + 1]);
        match timeout(RECV_TIMEOUT, a.send(b.local_id(), too_large)).await {
            Err(_) => panic!("send of an oversized frame hung"),
            Ok(Ok(())) => panic!("a frame of max_frame_len + 1 bytes was accepted"),
            Ok(Err(error)) => assert_kind(
                "oversized frame",
                error.kind(),
                &[TransportErrorKind::FrameTooLarge],
            ),
        }
        let marker = Bytes::from_static(b"after the oversized frame");
        send(&*a, b.local_id(), marker.clone()).await;
        expect_frames(&*b, &[(a.local_id(), marker)]).await;
        expect_no_frame(&*b, "the oversized frame must not be sent").await;
        close_all(&[a, b]).await;
    })
    .await;
}

/// Sending to a node the transport cannot reach fails with `UnknownPeer` or
/// `Unreachable`, promptly.
pub async fn unknown_peer_is_error_not_hang<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("unknown_peer_is_error_not_hang", async {
        let [a, b] = network(&factory).await;
        let stranger = node_id("conformance-stranger-not-in-the-network".to_owned());
        match timeout(RECV_TIMEOUT, a.send(&stranger, Bytes::from_static(b"hi"))).await {
            Err(_) => panic!("send to an unknown peer hung for {RECV_TIMEOUT:?}"),
            Ok(Ok(())) => panic!("send to an unknown peer returned Ok"),
            Ok(Err(error)) => assert_kind(
                "send to an unknown peer",
                error.kind(),
                &[
                    TransportErrorKind::UnknownPeer,
                    TransportErrorKind::Unreachable,
                ],
            ),
        }
        // The transport still works afterwards.
        let frame = Bytes::from_static(b"still working");
        send(&*a, b.local_id(), frame.clone()).await;
        expect_frames(&*b, &[(a.local_id(), frame)]).await;
        close_all(&[a, b]).await;
    })
    .await;
}

/// `max_frame_len` is positive, at most [`MAX_TESTED_FRAME_LEN`], and does
/// not change with traffic; `local_id` and `backend` are stable too.
pub async fn max_frame_len_is_positive_and_stable<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("max_frame_len_is_positive_and_stable", async {
        let [a, b] = network(&factory).await;
        let max = a.max_frame_len();
        assert!(max > 0, "max_frame_len must be positive");
        assert!(
            max <= MAX_TESTED_FRAME_LEN,
            "max_frame_len {max} exceeds {MAX_TESTED_FRAME_LEN}: bound it"
        );
        assert!(!a.backend().is_empty(), "backend name must not be empty");
        let frame = Bytes::from_static(b"traffic");
        send(&*a, b.local_id(), frame.clone()).await;
        send(&*b, a.local_id(), frame.clone()).await;
        expect_frames(&*b, &[(a.local_id(), frame.clone())]).await;
        expect_frames(&*a, &[(b.local_id(), frame)]).await;
        assert_eq!(a.max_frame_len(), max, "max_frame_len changed with traffic");
        assert_eq!(a.backend(), a.backend(), "backend name must be stable");
        close_all(&[a, b]).await;
    })
    .await;
}
