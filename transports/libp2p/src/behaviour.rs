//! The swarm: TCP + Noise + Yamux, and the composed behaviour (connection
//! limits, identify, the substreams of the frames protocol, optionally mDNS).

use gossip_core::{TransportError, TransportErrorKind};
use libp2p::{
    connection_limits::{self, ConnectionLimits},
    core::upgrade::Version,
    identify,
    identity::Keypair,
    noise,
    swarm::NetworkBehaviour,
    tcp, Swarm, SwarmBuilder,
};

use crate::{frames::Frames, muxer::YamuxUpgrade, state::error, Libp2pConfig};

/// The identify protocol version: peers on another one are not gossip nodes.
pub(crate) const IDENTIFY_PROTOCOL: &str = "/gossip/1.0.0";

/// The composed behaviour.
#[cfg(not(feature = "mdns"))]
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) frames: Frames,
}

/// The composed behaviour, with mDNS (off when the configuration says so).
#[cfg(feature = "mdns")]
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) frames: Frames,
    pub(crate) mdns: libp2p::swarm::behaviour::toggle::Toggle<libp2p::mdns::tokio::Behaviour>,
}

fn behaviour(
    key: &Keypair,
    config: &Libp2pConfig,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let limits = ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        .with_max_pending_incoming(Some(config.max_pending_incoming));
    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public()).with_agent_version(
            format!("gossip-transport-libp2p/{}", env!("CARGO_PKG_VERSION")),
        ),
    );
    #[cfg(feature = "mdns")]
    let mdns = if config.mdns {
        Some(libp2p::mdns::tokio::Behaviour::new(
            libp2p::mdns::Config::default(),
            key.public().to_peer_id(),
        )?)
    } else {
        None
    };
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        identify,
        frames: Frames::default(),
        #[cfg(feature = "mdns")]
        mdns: mdns.into(),
    })
}

/// Builds the swarm for `keypair`. Must run inside a tokio runtime.
pub(crate) fn build_swarm(
    keypair: Keypair,
    config: &Libp2pConfig,
) -> Result<Swarm<Behaviour>, TransportError> {
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            YamuxUpgrade::new,
        )
        .map_err(|e| error(TransportErrorKind::Other, "cannot set up Noise").with_source(e))?
        .with_behaviour(|key| behaviour(key, config))
        .map_err(|e| {
            error(
                TransportErrorKind::Other,
                format!("cannot set up the behaviour: {e}"),
            )
        })?
        .with_swarm_config(|swarm| {
            swarm
                .with_idle_connection_timeout(config.idle_timeout)
                // One protocol per substream: no round trip to negotiate it.
                .with_substream_upgrade_protocol_override(Version::V1Lazy)
        })
        .with_connection_timeout(config.handshake_timeout)
        .build();
    Ok(swarm)
}
