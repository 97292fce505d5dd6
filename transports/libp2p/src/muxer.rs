//! [`YamuxUpgrade`]: Yamux (`/yamux/1.0.0`) as `libp2p-yamux` sets it up,
//! with one difference: data frames of up to [`SPLIT_SEND_SIZE`] instead of
//! 16 KiB.
//!
//! The Yamux connection flushes after every frame it sends, and Noise seals
//! every flush into one message and one socket write: 16 KiB frames cost a
//! seal and a system call per 16 KiB. Frames that fill a Noise message
//! (64 KiB) cut both by four for a long-lived substream of small frames.
//! `libp2p-yamux` 0.48 does not expose the split size, hence this copy of
//! its few lines. The wire format is unchanged: any Yamux peer reads these
//! frames (it accepts bodies up to 1 MiB).

use std::{
    collections::VecDeque,
    io, iter,
    pin::Pin,
    task::{Context, Poll, Waker},
};

use libp2p::{
    core::{
        muxing::{StreamMuxer, StreamMuxerEvent},
        upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo},
    },
    futures::{future, ready, AsyncRead, AsyncWrite},
};

/// Payload of a Yamux data frame, at most: with its 12-byte header it fills
/// one Noise message (`libp2p-noise` puts up to 65 535 − 1 024 bytes of
/// plaintext in a message).
pub(crate) const SPLIT_SEND_SIZE: usize = NOISE_PLAINTEXT - YAMUX_HEADER;

/// Plaintext of a `libp2p-noise` message, at most.
const NOISE_PLAINTEXT: usize = 65_535 - 1_024;

/// Size of a Yamux frame header.
const YAMUX_HEADER: usize = 12;

/// Inbound substreams buffered while the swarm is not asking for them
/// (as `libp2p-yamux`); more are dropped.
const MAX_BUFFERED_INBOUND_STREAMS: usize = 256;

/// The Yamux upgrade of a connection.
#[derive(Debug, Clone)]
pub(crate) struct YamuxUpgrade(yamux::Config);

impl YamuxUpgrade {
    pub(crate) fn new() -> Self {
        let mut config = yamux::Config::default();
        config.set_split_send_size(SPLIT_SEND_SIZE);
        Self(config)
    }
}

impl UpgradeInfo for YamuxUpgrade {
    type Info = &'static str;
    type InfoIter = iter::Once<Self::Info>;

    fn protocol_info(&self) -> Self::InfoIter {
        iter::once("/yamux/1.0.0")
    }
}

impl<C> InboundConnectionUpgrade<C> for YamuxUpgrade
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = future::Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_inbound(self, io: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(Muxer::new(yamux::Connection::new(
            io,
            self.0,
            yamux::Mode::Server,
        ))))
    }
}

impl<C> OutboundConnectionUpgrade<C> for YamuxUpgrade
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Output = Muxer<C>;
    type Error = io::Error;
    type Future = future::Ready<Result<Self::Output, Self::Error>>;

    fn upgrade_outbound(self, io: C, _: Self::Info) -> Self::Future {
        future::ready(Ok(Muxer::new(yamux::Connection::new(
            io,
            self.0,
            yamux::Mode::Client,
        ))))
    }
}

/// A Yamux connection as a libp2p [`StreamMuxer`].
#[derive(Debug)]
pub(crate) struct Muxer<C> {
    connection: yamux::Connection<C>,
    /// Inbound substreams found by [`StreamMuxer::poll`] (which must drive
    /// the connection) before the swarm asked for them.
    inbound: VecDeque<yamux::Stream>,
    inbound_waker: Option<Waker>,
}

impl<C> Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin + 'static,
{
    fn new(connection: yamux::Connection<C>) -> Self {
        Self {
            connection,
            inbound: VecDeque::new(),
            inbound_waker: None,
        }
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<yamux::Stream>> {
        match ready!(self.connection.poll_next_inbound(cx)) {
            Some(Ok(stream)) => Poll::Ready(Ok(stream)),
            Some(Err(failure)) => Poll::Ready(Err(into_io(failure))),
            None => Poll::Ready(Err(into_io(yamux::ConnectionError::Closed))),
        }
    }
}

impl<C> StreamMuxer for Muxer<C>
where
    C: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Substream = yamux::Stream;
    type Error = io::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        if let Some(stream) = self.inbound.pop_front() {
            return Poll::Ready(Ok(stream));
        }
        if let Poll::Ready(result) = self.poll_inner(cx) {
            return Poll::Ready(result);
        }
        self.inbound_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        self.connection.poll_new_outbound(cx).map_err(into_io)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.connection.poll_close(cx).map_err(into_io)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        let this = self.get_mut();
        let stream = ready!(this.poll_inner(cx))?;
        if this.inbound.len() >= MAX_BUFFERED_INBOUND_STREAMS {
            tracing::warn!(%stream, "dropping an inbound substream: too many waiting");
            drop(stream);
        } else {
            this.inbound.push_back(stream);
            if let Some(waker) = this.inbound_waker.take() {
                waker.wake();
            }
        }
        // Let other code run, then drive the connection again.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn into_io(failure: yamux::ConnectionError) -> io::Error {
    match failure {
        yamux::ConnectionError::Io(failure) => failure,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_with_its_header_fills_one_noise_message() {
        assert_eq!(SPLIT_SEND_SIZE + YAMUX_HEADER, 64_511);
    }
}
