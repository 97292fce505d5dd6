//! [`RawPeer`]: a peer built by hand from the wire protocol, for tests that
//! attack a transport the way a misbehaving or hostile program would.

use std::{io, net::SocketAddr};

use bytes::Bytes;
use gossip_core::{Identity, NodeId};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{
    handshake::{self, Hello, LocalKeys, Verdict},
    session::{Opener, Sealer},
};
use crate::NetworkPsk;

/// A connection to a [`TcpTransport`](crate::TcpTransport) that completed
/// the real handshake (with a real identity) and then lets the test send
/// whatever it likes: well-formed sealed frames, or raw bytes on the socket.
///
/// Not for applications: it exists so that tests (ours, and those of
/// programs built on this transport) can play the attacker.
#[derive(Debug)]
pub struct RawPeer {
    stream: TcpStream,
    sealer: Sealer,
    opener: Opener,
    remote: NodeId,
}

impl RawPeer {
    /// Dials `server`, expecting the node `target` there, as `identity`
    /// (with the network key `psk` if any), and completes the handshake.
    ///
    /// # Errors
    ///
    /// A description of the failure, when the handshake fails or the
    /// server answers anything but `accepted`.
    pub async fn connect(
        identity: &Identity,
        server: SocketAddr,
        target: &NodeId,
        psk: Option<NetworkPsk>,
    ) -> Result<Self, String> {
        let keys = LocalKeys::new(identity, psk.as_ref().map(NetworkPsk::bytes))
            .map_err(|e| e.to_string())?;
        Self::handshake(keys, server, target).await
    }

    /// Like [`connect`](Self::connect), over a `stream` the test connected
    /// itself (e.g. from another source address, `127.0.0.2`).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_over(
        stream: TcpStream,
        identity: &Identity,
        target: &NodeId,
        psk: Option<NetworkPsk>,
    ) -> Result<Self, String> {
        let keys = LocalKeys::new(identity, psk.as_ref().map(NetworkPsk::bytes))
            .map_err(|e| e.to_string())?;
        Self::handshake_over(stream, keys, target).await
    }

    /// Like [`connect`](Self::connect), but the hello names `claimed` while
    /// only `identity`'s key signs it: the impostor's attempt. A correct
    /// server refuses it.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); an impostor expects one.
    pub async fn connect_claiming(
        identity: &Identity,
        claimed: &NodeId,
        server: SocketAddr,
        target: &NodeId,
        psk: Option<NetworkPsk>,
    ) -> Result<Self, String> {
        let keys = LocalKeys::claiming(
            identity,
            claimed.clone(),
            psk.as_ref().map(NetworkPsk::bytes),
        )
        .map_err(|e| e.to_string())?;
        Self::handshake(keys, server, target).await
    }

    async fn handshake(
        keys: LocalKeys,
        server: SocketAddr,
        target: &NodeId,
    ) -> Result<Self, String> {
        let stream = TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        Self::handshake_over(stream, keys, target).await
    }

    async fn handshake_over(
        mut stream: TcpStream,
        keys: LocalKeys,
        target: &NodeId,
    ) -> Result<Self, String> {
        let hello = Hello::ours(keys.node().clone(), 1 << 20, 0);
        let (theirs, verdict, session) = handshake::dial(&mut stream, &keys, &hello, target)
            .await
            .map_err(|e| e.to_string())?;
        if verdict != Verdict::Accepted {
            return Err(format!("the server answered {verdict:?}"));
        }
        Ok(Self {
            stream,
            sealer: session.sealer,
            opener: session.opener,
            remote: theirs.node,
        })
    }

    /// The node at the other end, as it proved in the handshake.
    #[must_use]
    pub fn remote(&self) -> &NodeId {
        &self.remote
    }

    /// `frame`, sealed as the next frame of this session, without sending
    /// it (to send it whole, cut, or twice).
    ///
    /// # Errors
    ///
    /// When the frame does not fit the length prefix.
    pub fn seal(&mut self, frame: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.sealer.seal(frame, &mut out)?;
        Ok(out)
    }

    /// Seals and sends `frame`.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        let sealed = self.seal(frame)?;
        self.send_raw(&sealed).await
    }

    /// Writes `bytes` to the socket as they are.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads and opens the next frame (of at most `max` bytes).
    ///
    /// # Errors
    ///
    /// When the connection ends or the frame fails authentication.
    pub async fn recv_frame(&mut self, max: usize) -> io::Result<Bytes> {
        self.opener
            .read_frame(&mut self.stream, max)
            .await
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Reads until the server closes the connection; returns whether it
    /// did (`false`: still open after reading `limit` bytes).
    pub async fn closed_by_server(&mut self, limit: usize) -> bool {
        let mut sink = [0u8; 1024];
        let mut read = 0;
        while read < limit {
            match self.stream.read(&mut sink).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => read += n,
            }
        }
        false
    }
}
