//! The transport conformance suite of `gossip-core`'s testkit, run against
//! `ChannelTransport` directly and erased to `Arc<dyn Transport>`.

use bytes::Bytes;
use custom_transport::{ChannelHub, ChannelTransport};
use gossip_core::{
    testkit::transport::{Impostor, ImpostorAttempt},
    Identity, NodeId, Transport,
};

/// The suite's authentication check needs the attack only the transport
/// knows: on this hub, the best an attacker can do is attach with its own
/// identity and send, since attaching takes the secret key.
struct StrangerOnTheHub;

#[async_trait::async_trait]
impl Impostor<ChannelTransport> for StrangerOnTheHub {
    async fn impersonate(
        &self,
        target: &ChannelTransport,
        _victim: &NodeId,
        attacker: &Identity,
        frame: Bytes,
    ) -> ImpostorAttempt {
        let stranger = match target.hub().attach(attacker) {
            Ok(stranger) => stranger,
            Err(error) => panic!("attach as the attacker: {error}"),
        };
        if let Err(error) = stranger.send(target.local_id(), frame).await {
            panic!("send as the attacker: {error}");
        }
        ImpostorAttempt::SpokeAsItself
    }
}

gossip_core::transport_conformance!(
    |ids: Vec<Identity>| async move {
        let hub = ChannelHub::new();
        let mut transports = Vec::with_capacity(ids.len());
        for id in ids {
            match hub.attach(&id) {
                Ok(transport) => transports.push(transport),
                Err(error) => panic!("attach failed: {error}"),
            }
        }
        transports
    },
    impostor = StrangerOnTheHub,
);

/// A closed transport frees its id: a restarted node attaches again.
#[test]
fn a_closed_node_can_attach_again() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let hub = ChannelHub::new();
        let id = Identity::from_seed("a");
        let first = hub.attach(&id).expect("attach");
        assert!(hub.attach(&id).is_err(), "one attachment per id");
        first.close().await.expect("close");
        let second = hub.attach(&id).expect("attach again");
        // Closing the old one again must not detach the new one.
        first.close().await.expect("close is idempotent");
        let other = hub.attach(&Identity::from_seed("b")).expect("attach");
        other
            .send(second.local_id(), "still here".into())
            .await
            .expect("the new attachment is reachable");
    });
}
