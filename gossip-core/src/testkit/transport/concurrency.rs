//! Concurrency: a cancel-safe `recv`, many peers at once, `send` beside `recv`.

use std::{future::Future, sync::Arc, time::Duration};

use futures_util::FutureExt;
use tokio::time::{sleep, Instant};

use super::{
    support::{bounded, close_all, expect_no_frame, labelled, network, send, Arrivals},
    RECV_TIMEOUT,
};
use crate::{Identity, NodeId, Transport, TransportEvent};

/// Dropping pending `recv` futures (under `select!` with a short timer, and
/// after a single poll) never loses a frame: the next call returns it.
pub async fn recv_is_cancel_safe<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("recv_is_cancel_safe", async {
        const FRAMES: u32 = 200;
        let [a, b] = network(&factory).await;
        let sender = {
            let (a, to) = (a.clone(), b.local_id().clone());
            tokio::spawn(async move {
                for seq in 0..FRAMES {
                    send(&*a, &to, labelled(a.local_id(), "cancel", seq)).await;
                    if seq % 4 == 0 {
                        sleep(Duration::from_millis(1)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
            })
        };
        let mut arrivals = Arrivals::new(&*b);
        let mut cancelled = 0u32;
        let mut round = 0u32;
        let deadline = Instant::now() + RECV_TIMEOUT;
        while arrivals.distinct < FRAMES as usize {
            assert!(
                Instant::now() < deadline,
                "{} of {FRAMES} frames arrived before the deadline ({cancelled} recv calls \
                 cancelled): frames were lost when recv futures were dropped",
                arrivals.distinct
            );
            round += 1;
            let event = if round % 2 == 0 {
                // Polled once, then dropped if not ready.
                b.recv().now_or_never()
            } else {
                tokio::select! {
                    event = b.recv() => Some(event),
                    () = sleep(Duration::from_micros(u64::from(round % 3) * 500)) => None,
                }
            };
            match event {
                None => cancelled += 1,
                Some(Ok(TransportEvent::Frame { from, frame })) => arrivals.record(&from, &frame),
                Some(Ok(_peer_event)) => {}
                Some(Err(error)) => panic!("recv failed: {error}"),
            }
            if round % 2 == 0 {
                tokio::task::yield_now().await;
            }
        }
        assert!(
            cancelled > 0,
            "no recv future was cancelled: the test proved nothing"
        );
        if let Err(error) = sender.await {
            panic!("the sender task failed: {error}");
        }
        close_all(&[a, b]).await;
    })
    .await;
}

/// Eight nodes all send to all at once; every frame arrives (exactly once
/// unless `may_duplicate`) with the right sender id.
pub async fn many_peers_at_once<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("many_peers_at_once", async {
        const FRAMES_PER_LINK: u32 = 16;
        let nodes: [Arc<T>; 8] = network(&factory).await;
        let ids: Vec<NodeId> = nodes.iter().map(|t| t.local_id().clone()).collect();
        let mut tasks = Vec::new();
        for node in &nodes {
            let (sender, peers) = (node.clone(), ids.clone());
            tasks.push(tokio::spawn(async move {
                for seq in 0..FRAMES_PER_LINK {
                    for peer in peers.iter().filter(|p| *p != sender.local_id()) {
                        send(
                            &*sender,
                            peer,
                            labelled(sender.local_id(), peer.short(), seq),
                        )
                        .await;
                    }
                }
            }));
            let receiver = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut arrivals = Arrivals::new(&*receiver);
                let expected = (FRAMES_PER_LINK as usize) * 7;
                arrivals.collect(&*receiver, expected).await;
                for (from, stream) in arrivals.streams.keys() {
                    assert_eq!(
                        stream,
                        receiver.local_id().short(),
                        "{}: received a frame {from} addressed to {stream}",
                        receiver.local_id()
                    );
                }
                if !arrivals.caps.may_duplicate {
                    expect_no_frame(&*receiver, "every frame already arrived once").await;
                }
            }));
        }
        for task in tasks {
            if let Err(error) = task.await {
                panic!("a node's task failed: {error}");
            }
        }
        close_all(&nodes).await;
    })
    .await;
}

/// `send` runs concurrently with itself and with `recv`, in both directions:
/// four tasks per node send while the node receives.
pub async fn concurrent_send_and_recv<F, Fut, T>(factory: F)
where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
{
    bounded("concurrent_send_and_recv", async {
        const TASKS: u32 = 4;
        const FRAMES: u32 = 50;
        let [a, b] = network(&factory).await;
        let mut tasks = Vec::new();
        for (me, peer) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
            for task in 0..TASKS {
                let (me, to) = (me.clone(), peer.local_id().clone());
                tasks.push(tokio::spawn(async move {
                    for seq in 0..FRAMES {
                        send(
                            &*me,
                            &to,
                            labelled(me.local_id(), &format!("task{task}"), seq),
                        )
                        .await;
                    }
                }));
            }
            tasks.push(tokio::spawn(async move {
                let mut arrivals = Arrivals::new(&*me);
                arrivals.collect(&*me, (TASKS * FRAMES) as usize).await;
            }));
        }
        for task in tasks {
            if let Err(error) = task.await {
                panic!("a task failed: {error}");
            }
        }
        close_all(&[a, b]).await;
    })
    .await;
}
