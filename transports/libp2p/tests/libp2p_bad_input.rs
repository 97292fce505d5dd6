//! Bad input from the network: garbage instead of Noise, a handshake that
//! never completes, a peer of another protocol version, a frame cut short.
//! Each closes what it arrived on, is returned from `recv` as a typed error,
//! and leaves other peers unaffected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::{io, time::Duration};

use bytes::Bytes;
use common::*;
use gossip_core::{Transport, TransportErrorKind};
use gossip_transport_libp2p::{
    libp2p::{
        futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt},
        identify,
        multiaddr::Protocol,
        noise, request_response,
        swarm::{NetworkBehaviour, SwarmEvent},
        tcp, yamux, StreamProtocol, Swarm, SwarmBuilder,
    },
    Libp2pConfig, Libp2pTransport, PROTOCOL,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::{timeout, Instant},
};

/// The test configuration with a short handshake timeout.
fn short_handshake() -> Libp2pConfig {
    config().handshake_timeout(Duration::from_millis(500))
}

/// The node under test and an honest peer that knows it, and is known.
async fn server_and_honest_peer() -> (Libp2pTransport, Libp2pTransport) {
    let server = node(short_handshake()).await;
    let honest = node(short_handshake()).await;
    introduce(&honest, &server);
    introduce(&server, &honest);
    (server, honest)
}

/// The TCP socket address `transport` listens on.
fn socket_addr(transport: &Libp2pTransport) -> std::net::SocketAddr {
    let mut ip = None;
    let mut port = None;
    for part in transport.listen_addrs()[0].iter() {
        match part {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    (ip.unwrap(), port.unwrap()).into()
}

/// Waits until the peer closes `stream` (EOF or reset).
async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!("the connection was not closed"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

/// `honest` still reaches `server` and back: bad input elsewhere did not
/// disturb other peers.
async fn still_serves(server: &Libp2pTransport, honest: &Libp2pTransport) {
    let marker = Bytes::from_static(b"still here");
    honest
        .send(server.local_id(), marker.clone())
        .await
        .unwrap();
    assert_eq!(
        next_frame(server).await,
        (honest.local_id().clone(), marker.clone())
    );
    server
        .send(honest.local_id(), marker.clone())
        .await
        .unwrap();
    assert_eq!(
        next_frame(honest).await,
        (server.local_id().clone(), marker)
    );
}

/// A bare libp2p swarm (TCP, Noise, Yamux) with `behaviour`, not a gossip
/// node: the tests drive it in a task of their own.
fn raw_swarm<B>(
    behaviour: impl FnOnce(&gossip_transport_libp2p::libp2p::identity::Keypair) -> B,
) -> Swarm<B>
where
    B: NetworkBehaviour,
{
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| behaviour(key))
        .unwrap()
        .build()
}

#[tokio::test]
async fn garbage_instead_of_noise_is_reported_and_the_connection_closed() {
    bounded(async {
        let (server, honest) = server_and_honest_peer().await;

        let mut raw = TcpStream::connect(socket_addr(&server)).await.unwrap();
        // More than multistream-select's first message, so it is parsed (and
        // refused) rather than waited for.
        let garbage = b"GET / HTTP/1.1\r\nHost: gossip\r\n\r\n".repeat(8);
        raw.write_all(&garbage).await.unwrap();

        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake, "{reported}");
        assert!(
            reported
                .to_string()
                .contains("inbound connection from /ip4/127.0.0.1/tcp/"),
            "{reported}"
        );
        expect_closed(&mut raw).await;
        assert_eq!(server.stats().handshake_failures, 1);
        assert_eq!(server.stats().connected_peers, 0);
        still_serves(&server, &honest).await;
        close_all(&[server, honest]).await;
    })
    .await;
}

#[tokio::test]
async fn a_handshake_that_never_completes_is_closed_after_the_timeout() {
    bounded(async {
        let (server, honest) = server_and_honest_peer().await;

        // Connects and says nothing.
        let mut raw = TcpStream::connect(socket_addr(&server)).await.unwrap();
        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake, "{reported}");
        assert!(
            reported.to_string().to_lowercase().contains("timeout"),
            "{reported}"
        );
        expect_closed(&mut raw).await;
        assert_eq!(server.stats().handshake_failures, 1);
        still_serves(&server, &honest).await;
        close_all(&[server, honest]).await;
    })
    .await;
}

#[tokio::test]
async fn a_peer_of_another_protocol_version_is_reported_and_disconnected() {
    bounded(async {
        let (server, honest) = server_and_honest_peer().await;

        // A libp2p node that identifies as a future version of gossip.
        let mut future = raw_swarm(|key| {
            identify::Behaviour::new(identify::Config::new(
                "/gossip/2.0.0".to_owned(),
                key.public(),
            ))
        });
        future.dial(dial_addr(&server)).unwrap();
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        let driver = tokio::spawn(async move {
            let mut closed_tx = Some(closed_tx);
            loop {
                if let SwarmEvent::ConnectionClosed { .. } = future.select_next_some().await {
                    if let Some(tx) = closed_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });

        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Handshake, "{reported}");
        assert!(reported.to_string().contains("/gossip/2.0.0"), "{reported}");
        timeout(WAIT, closed_rx)
            .await
            .expect("the server did not disconnect the foreign peer")
            .unwrap();
        assert_eq!(server.stats().handshake_failures, 1);
        still_serves(&server, &honest).await;
        driver.abort();
        close_all(&[server, honest]).await;
    })
    .await;
}

/// Writes each request's bytes verbatim: whatever a test wants on the wire.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::other("this peer only sends"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut ack = [0u8; 1];
        io.read_exact(&mut ack).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        raw: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&raw).await?;
        io.close().await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, _: &mut T, (): ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(io::Error::other("this peer only sends"))
    }
}

#[tokio::test]
async fn a_frame_cut_short_is_reported_and_the_peer_keeps_being_served() {
    bounded(async {
        let (server, honest) = server_and_honest_peer().await;

        let mut raw = raw_swarm(|_| {
            request_response::Behaviour::with_codec(
                RawCodec,
                [(PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default(),
            )
        });
        raw.dial(dial_addr(&server)).unwrap();
        let driver = tokio::spawn(async move {
            loop {
                let event = raw.select_next_some().await;
                eprintln!("raw: {event:?}");
                if let SwarmEvent::ConnectionEstablished { peer_id, .. } = event {
                    // A frame announcing 100 bytes that ends after 10.
                    let mut truncated = 100u32.to_be_bytes().to_vec();
                    truncated.extend_from_slice(&[7u8; 10]);
                    raw.behaviour_mut().send_request(&peer_id, truncated);
                }
            }
        });

        let reported = next_error(&server).await;
        assert_eq!(reported.kind(), TransportErrorKind::Rejected, "{reported}");
        assert!(
            reported
                .to_string()
                .contains("frame truncated after 10 of 100 bytes"),
            "{reported}"
        );
        assert!(server.stats().inbound_failures >= 1);
        still_serves(&server, &honest).await;
        driver.abort();
        close_all(&[server, honest]).await;
    })
    .await;
}
