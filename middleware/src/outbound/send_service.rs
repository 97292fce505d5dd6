//! [`SendService`]: a transport's send side as a `tower::Service`.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use gossip_core::{NodeId, Transport, TransportError};
use tower::Service;

/// The future of a [`SendService`] call.
pub type SendFuture = Pin<Box<dyn Future<Output = Result<(), TransportError>> + Send>>;

/// A transport's `send` as a [`tower::Service`] taking `(to, frame)`: always
/// ready, each call one [`Transport::send`]. Cheap to clone (the transport is
/// shared).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use gossip_core::{Identity, NodeId};
/// use gossip_middleware::SendService;
/// use gossip_transport_memory::{MemoryNetwork, MemoryNetworkConfig};
/// use tower::ServiceExt;
///
/// let network = MemoryNetwork::new(MemoryNetworkConfig::default());
/// let sender = SendService::new(network.join(&Identity::from_seed("a"))?);
/// let _b = network.join(&Identity::from_seed("b"))?;
/// sender.oneshot((NodeId::from_seed("b"), "hi".into())).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SendService<T> {
    transport: Arc<T>,
}

impl<T> Clone for SendService<T> {
    fn clone(&self) -> Self {
        Self {
            transport: self.transport.clone(),
        }
    }
}

impl<T> SendService<T> {
    /// Sends through `transport`.
    pub fn new(transport: T) -> Self {
        Self::from_arc(Arc::new(transport))
    }

    /// Sends through a shared `transport` (e.g. one whose `recv` a
    /// [`ServiceTransport`](super::ServiceTransport) serves).
    pub fn from_arc(transport: Arc<T>) -> Self {
        Self { transport }
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.transport
    }

    /// The shared transport.
    pub fn into_inner(self) -> Arc<T> {
        self.transport
    }
}

impl<T: Transport> Service<(NodeId, Bytes)> for SendService<T> {
    type Response = ();
    type Error = TransportError;
    type Future = SendFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (to, frame): (NodeId, Bytes)) -> Self::Future {
        let transport = self.transport.clone();
        Box::pin(async move { transport.send(&to, frame).await })
    }
}
