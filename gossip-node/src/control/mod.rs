//! The local control endpoint: line-delimited JSON over TCP on loopback,
//! authenticated by a token.
//!
//! A client connects, sends one [`Request`] line (in an [`Envelope`]: the
//! protocol version and the node's [`ControlToken`] beside the request's
//! fields), and reads [`Response`] lines: one for every request but `tail`,
//! then the connection closes; for `tail`, entries until the client
//! disconnects or the node stops. A request without the right token is
//! answered with an error and the connection is closed.
//!
//! A request's `channel` is a channel id held by the node (`main~…`) or a
//! name (`main`): the one held channel of that name.

mod auth;
mod channels;
#[cfg(test)]
mod endpoint_tests;
mod protocol;
mod streams;
#[cfg(test)]
mod tests;
mod wire;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gossip::{Coordinator, TcpTransport};
use tokio::{
    io::BufReader,
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

use crate::{
    config::parse_node_id,
    error::{one_line, CliError, CliResult},
};

pub(crate) use auth::*;
pub(crate) use channels::*;
pub(crate) use protocol::*;
pub(crate) use streams::*;
pub(crate) use wire::*;

/// The longest request line a server reads, and the longest response line a
/// client reads (an entry of the largest payload, escaped, fits).
pub(crate) const MAX_LINE: u64 = 1024 * 1024;
/// How long a client has to send its request line.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How many control connections are served at once; more wait to be
/// accepted.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// What the control endpoint serves: the node, and what it needs besides.
#[derive(Clone)]
pub(crate) struct ControlContext {
    /// The node.
    pub(crate) node: Coordinator,
    /// Its TCP transport, told where inviters listen on `join`.
    pub(crate) tcp: Arc<TcpTransport>,
    /// Where its gossip listens: the address `invite` puts in invitations.
    pub(crate) gossip_addr: SocketAddr,
    /// The token every request must carry.
    pub(crate) token: ControlToken,
}

/// Serves the control endpoint until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, context: ControlContext) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((socket, peer)) => {
                let context = context.clone();
                tokio::spawn(async move {
                    if let Err(error) = handle(socket, context).await {
                        tracing::debug!(%peer, %error, "control connection ended");
                    }
                    drop(slot);
                });
            }
            Err(error) => {
                tracing::warn!(%error, "control endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(socket: TcpStream, context: ControlContext) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    let Ok(line) = tokio::time::timeout(REQUEST_TIMEOUT, read_line(&mut reader)).await else {
        return Ok(()); // no request in time
    };
    let Some(line) = line? else {
        return Ok(());
    };
    // The token first: a client without it learns nothing but the refusal,
    // and the connection closes (returning drops the socket).
    let credentials = match serde_json::from_str::<Credentials>(&line) {
        Ok(credentials) => credentials,
        Err(error) => {
            let message = format!("bad request: {error}");
            return send(&mut write, &Response::Error { message }).await;
        }
    };
    if let Err(message) = check(&context.token, &credentials) {
        tracing::warn!(reason = %message, "control request refused");
        return send(&mut write, &Response::Error { message }).await;
    }
    let request = match serde_json::from_str::<Request>(&line) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("bad request: {error}");
            return send(&mut write, &Response::Error { message }).await;
        }
    };
    if let Request::Tail {
        channel,
        stream,
        new_only,
    } = request
    {
        return tail(&context, &channel, &stream, new_only, reader, write).await;
    }
    let response = answer(&context, request)
        .await
        .unwrap_or_else(|error| Response::Error {
            message: one_line(&error),
        });
    send(&mut write, &response).await
}

/// The single answer to any request but `tail`.
pub(crate) async fn answer(context: &ControlContext, request: Request) -> CliResult<Response> {
    let node = &context.node;
    match request {
        Request::Append {
            channel,
            stream,
            payload,
        } => {
            let entry = append(node, &channel, &stream, payload).await?;
            Ok(Response::Appended {
                entry: EntryView::from(&entry),
            })
        }
        Request::Status => Ok(Response::Status {
            status: status(node).await?,
        }),
        Request::Invite {
            channel,
            member,
            role,
            addresses,
        } => invite(context, &channel, &member, &role, addresses).await,
        Request::Join { invitation } => join(context, &invitation).await,
        Request::Members { channel } => {
            let id = resolve_channel(node, &channel).await?;
            let members = node.channel(id.clone()).await?.members().await?;
            Ok(Response::Members {
                channel: id.to_string(),
                node: node.local_id().to_string(),
                members: members
                    .into_iter()
                    .map(|(id, member)| MemberView {
                        id: id.to_string(),
                        role: member.role.to_string(),
                        label: member.label,
                    })
                    .collect(),
            })
        }
        Request::Remove { channel, member } => {
            let id = resolve_channel(node, &channel).await?;
            let member = parse_node_id("node id", &member)?;
            let handle = node.channel(id.clone()).await?;
            let was_member = handle.members().await?.iter().any(|(m, _)| *m == member);
            handle.remove_member(&member).await?;
            if was_member {
                tracing::info!(channel = %id, %member, "member removed");
            }
            Ok(Response::Removed {
                channel: id.to_string(),
                member: member.to_string(),
                was_member,
            })
        }
        Request::Tail { .. } => Err(CliError::Invalid(
            "tail answers with a stream of entries, not one answer".into(),
        )),
    }
}
