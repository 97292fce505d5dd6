//! Closing: `close` fails later sends, wakes pending `recv` calls, and is idempotent.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use tokio::time::{sleep, timeout};

use super::{
    support::{assert_kind, bounded, close_all, expect_no_frame, network},
    RECV_TIMEOUT,
};
use crate::{Identity, Transport, TransportErrorKind, TransportEvent};

/// `close` wakes a pending `recv` with `Closed`; afterwards `send` and `recv`
/// fail with `Closed`.
pub async fn close_fails_send_and_wakes_recv<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("close_fails_send_and_wakes_recv", async {
        let [a, b] = network(&factory).await;
        let pending = {
            let a = a.clone();
            tokio::spawn(async move {
                loop {
                    match a.recv().await {
                        Ok(TransportEvent::Frame { from, .. }) => {
                            panic!("unexpected frame from {from}")
                        }
                        Ok(_peer_event) => {}
                        Err(error) => return error.kind(),
                    }
                }
            })
        };
        sleep(Duration::from_millis(50)).await;
        assert!(
            !pending.is_finished(),
            "recv returned with nothing to receive"
        );
        if let Err(error) = a.close().await {
            panic!("close failed: {error}");
        }
        match timeout(RECV_TIMEOUT, pending).await {
            Err(_) => panic!("a pending recv did not wake up after close"),
            Ok(Err(error)) => panic!("the receiving task failed: {error}"),
            Ok(Ok(kind)) => assert_kind(
                "pending recv after close",
                kind,
                &[TransportErrorKind::Closed],
            ),
        }
        match timeout(RECV_TIMEOUT, a.recv()).await {
            Err(_) => panic!("recv after close hung"),
            Ok(Ok(event)) => panic!("recv after close returned {event:?}"),
            Ok(Err(error)) => assert_kind(
                "recv after close",
                error.kind(),
                &[TransportErrorKind::Closed],
            ),
        }
        match timeout(
            RECV_TIMEOUT,
            a.send(b.local_id(), Bytes::from_static(b"late")),
        )
        .await
        {
            Err(_) => panic!("send after close hung"),
            Ok(Ok(())) => panic!("send after close returned Ok"),
            Ok(Err(error)) => assert_kind(
                "send after close",
                error.kind(),
                &[TransportErrorKind::Closed],
            ),
        }
        expect_no_frame(&*b, "the sender was closed").await;
        close_all(&[b]).await;
    })
    .await;
}

/// `close` may be called twice, and concurrently: each call returns `Ok`.
pub async fn close_is_idempotent<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("close_is_idempotent", async {
        let [a, b] = network(&factory).await;
        let (first, second) = tokio::join!(a.close(), a.close());
        for result in [first, second] {
            if let Err(error) = result {
                panic!("concurrent close failed: {error}");
            }
        }
        if let Err(error) = a.close().await {
            panic!("closing a closed transport failed: {error}");
        }
        match a.send(b.local_id(), Bytes::from_static(b"late")).await {
            Ok(()) => panic!("send after close returned Ok"),
            Err(error) => assert_kind(
                "send after close",
                error.kind(),
                &[TransportErrorKind::Closed],
            ),
        }
        close_all(&[b.clone(), b]).await;
    })
    .await;
}
