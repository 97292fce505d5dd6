//! Authentication: `TransportEvent::Frame.from` is an id the remote proved,
//! never one it merely claimed.
//!
//! A transport cannot be attacked generically (only its own wire knows how
//! to lie), so the plug-in supplies the attack: an [`Impostor`] that tries,
//! by the lowest-level means the transport allows (a raw socket speaking
//! its handshake, a second endpoint on its network), to get a frame
//! delivered to a node under the id of another node whose secret key it
//! does not hold. The suite then checks what every transport must
//! guarantee: the frame is never delivered as the victim's, a claim that
//! reached the node is reported, and the real victim is still heard.

use std::future::Future;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::{timeout_at, Instant};

use super::{
    support::{bounded, close_all, network, send},
    QUIET_PERIOD, RECV_TIMEOUT,
};
use crate::{Identity, NodeId, Transport, TransportErrorKind, TransportEvent};

/// What an [`Impostor`]'s attempt amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImpostorAttempt {
    /// The claim went over the wire to the target (for example a handshake
    /// that names the victim but is signed with the attacker's key). The
    /// target must refuse it and report the refusal from `recv` as an error
    /// of kind [`Handshake`](TransportErrorKind::Handshake) or
    /// [`Rejected`](TransportErrorKind::Rejected).
    ClaimedOnTheWire,
    /// The transport offers no way to even make the claim: the attacker could
    /// only speak as itself (for example on a network joined with an
    /// identity) and did so. Whatever it sent may arrive, but only under the
    /// attacker's own id.
    SpokeAsItself,
}

/// The attack a transport's tests supply to
/// [`an_impostor_is_refused_and_never_heard_as_its_victim`] (or to
/// [`transport_conformance!`](crate::transport_conformance) as
/// `impostor = …`).
///
/// ```ignore
/// struct StrangerOnTheNetwork;
///
/// #[async_trait::async_trait]
/// impl Impostor<MemoryTransport> for StrangerOnTheNetwork {
///     async fn impersonate(&self, target: &MemoryTransport, _victim: &NodeId,
///                          attacker: &Identity, frame: Bytes) -> ImpostorAttempt {
///         // Joining needs an identity: the attacker can only be itself.
///         let me = target.network().join(attacker).expect("join");
///         me.send(target.local_id(), frame).await.expect("send");
///         ImpostorAttempt::SpokeAsItself
///     }
/// }
/// ```
#[async_trait]
pub trait Impostor<T: Transport>: Send + Sync {
    /// Tries to deliver `frame` to `target` as `victim`, holding only
    /// `attacker`'s secret key, and says what the attempt amounted to. May
    /// panic when the transport lets it do something it must not (such as
    /// completing a handshake under the victim's id).
    async fn impersonate(
        &self,
        target: &T,
        victim: &NodeId,
        attacker: &Identity,
        frame: Bytes,
    ) -> ImpostorAttempt;
}

/// An impostor cannot get a frame delivered under the id of a node whose
/// key it lacks: its claim, when it can make one, is refused and reported;
/// the target keeps serving, and the real victim is still heard as itself.
pub async fn an_impostor_is_refused_and_never_heard_as_its_victim<F, Fut, T, I>(
    factory: F,
    impostor: I,
) where
    F: Fn(Vec<Identity>) -> Fut,
    Fut: Future<Output = Vec<T>>,
    T: Transport,
    I: Impostor<T>,
{
    bounded(
        "an_impostor_is_refused_and_never_heard_as_its_victim",
        async {
            let [target, victim] = network(&factory).await;
            let victim_id = victim.local_id().clone();
            let genuine = Bytes::from_static(b"genuine, before the attack");
            send(&*victim, target.local_id(), genuine.clone()).await;
            assert_eq!(
                next_frame_from(&*target, &victim_id).await,
                genuine,
                "the victim's own frame must arrive before the attack"
            );

            let attacker = Identity::from_seed("conformance-impostor");
            let forged = Bytes::from_static(b"forged by an impostor");
            let attempt = impostor
                .impersonate(&target, &victim_id, &attacker, forged.clone())
                .await;
            watch_the_attack(&*target, &victim_id, attacker.node_id(), &forged, attempt).await;

            let after = Bytes::from_static(b"genuine, after the attack");
            send(&*victim, target.local_id(), after.clone()).await;
            assert_eq!(
                next_frame_from(&*target, &victim_id).await,
                after,
                "the victim must still be heard after the attack"
            );
            close_all(&[target, victim]).await;
        },
    )
    .await;
}

/// Receives on `target` until the attempt is settled (its refusal reported,
/// or a quiet period passed), failing on any frame delivered as the victim's.
async fn watch_the_attack<T: Transport + ?Sized>(
    target: &T,
    victim: &NodeId,
    attacker: &NodeId,
    forged: &Bytes,
    attempt: ImpostorAttempt,
) {
    let owner = target.local_id().clone();
    let mut reported = attempt == ImpostorAttempt::SpokeAsItself;
    let mut deadline = Instant::now() + if reported { QUIET_PERIOD } else { RECV_TIMEOUT };
    loop {
        match timeout_at(deadline, target.recv()).await {
            Err(_) if reported => return,
            Err(_) => panic!(
                "{owner}: an impostor claimed {victim} on the wire, but no refusal was \
                 reported within {RECV_TIMEOUT:?} (expected a Handshake or Rejected error)"
            ),
            Ok(Ok(TransportEvent::Frame { from, frame })) => {
                assert!(
                    from != *victim,
                    "{owner}: a frame the victim never sent (the impostor's: {}) arrived as \
                     {victim}'s",
                    frame == *forged
                );
                assert!(
                    frame != *forged || from == *attacker,
                    "{owner}: the impostor's frame was delivered as {from}'s, not under the \
                     attacker's own id {attacker}"
                );
            }
            Ok(Ok(_peer_event)) => {}
            Ok(Err(error)) => {
                let kind = error.kind();
                assert!(
                    kind != TransportErrorKind::Closed,
                    "{owner}: the transport closed under attack: {error}"
                );
                if matches!(
                    kind,
                    TransportErrorKind::Handshake | TransportErrorKind::Rejected
                ) && !reported
                {
                    reported = true;
                    deadline = Instant::now() + QUIET_PERIOD;
                }
            }
        }
    }
}

/// The next frame from `sender`, skipping events, errors and frames from
/// others (an attacker's, under its own id).
async fn next_frame_from<T: Transport + ?Sized>(transport: &T, sender: &NodeId) -> Bytes {
    let deadline = Instant::now() + RECV_TIMEOUT;
    loop {
        match timeout_at(deadline, transport.recv()).await {
            Err(_) => panic!(
                "{}: no frame from {sender} arrived within {RECV_TIMEOUT:?}",
                transport.local_id()
            ),
            Ok(Ok(TransportEvent::Frame { from, frame })) if from == *sender => return frame,
            Ok(Err(error)) if error.kind() == TransportErrorKind::Closed => {
                panic!("{}: {error}", transport.local_id())
            }
            Ok(_) => {}
        }
    }
}
