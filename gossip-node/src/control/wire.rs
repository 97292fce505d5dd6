//! Line-delimited JSON on both ends: reading and sending lines, and the
//! client side of the endpoint.

use std::{net::SocketAddr, path::Path, time::Duration};

use serde::Serialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::error::{CliError, CliResult};

use super::*;

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at end of input.
pub(crate) async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    let read = (&mut *reader).take(MAX_LINE).read_line(&mut line).await?;
    if read == 0 {
        return Ok(None);
    }
    if !line.ends_with('\n') && read as u64 >= MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long",
        ));
    }
    Ok(Some(line))
}

/// Writes one JSON line.
pub(crate) async fn send<W: AsyncWrite + Unpin, T: Serialize>(
    write: &mut W,
    message: &T,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await
}

/// Refuses an address that is not loopback (127.0.0.0/8 or ::1): the
/// control endpoint is for this machine only.
pub(crate) fn check_loopback(flag: &'static str, addr: SocketAddr) -> CliResult<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(CliError::ControlNotLoopback { flag, addr })
    }
}

/// A client connection to a running node's control endpoint.
pub(crate) struct ControlClient {
    addr: String,
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: tokio::net::tcp::OwnedWriteHalf,
}

impl ControlClient {
    /// Connects (within 5 s) to `addr`, which must be a loopback address,
    /// and sends `request` with the token read from `token_file`.
    pub(crate) async fn connect(
        addr: &str,
        token_file: Option<&Path>,
        request: &Request,
    ) -> CliResult<Self> {
        let unreachable = |reason: String| CliError::ControlUnreachable {
            addr: addr.to_owned(),
            reason,
        };
        let target: SocketAddr = addr.trim().parse().map_err(|_| {
            CliError::Invalid(format!(
                "invalid --control {addr:?}: expected HOST:PORT as printed by `gossip-node run`"
            ))
        })?;
        // The token never leaves the machine.
        check_loopback("--control", target)?;
        let socket = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target))
            .await
            .map_err(|_| unreachable("timed out after 5 s".into()))?
            .map_err(|error| unreachable(error.to_string()))?;
        // Read once the node answers: a node that is not running has no
        // token file, and "cannot reach" says more than "not found".
        let token_file = token_file.ok_or_else(|| {
            CliError::Invalid(
                "missing --token-file FILE (or GOSSIP_TOKEN_FILE): the control token file \
                 `gossip-node run` printed at start"
                    .into(),
            )
        })?;
        let token = ControlToken::read(token_file)?.to_hex();
        let (read, mut write) = socket.into_split();
        let envelope = Envelope {
            v: PROTOCOL_VERSION,
            token: &token,
            request,
        };
        send(&mut write, &envelope)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        Ok(Self {
            addr: addr.to_owned(),
            reader: BufReader::new(read),
            write,
        })
    }

    /// The next response, `None` when the node closed the connection.
    pub(crate) async fn next(&mut self) -> CliResult<Option<Response>> {
        let broken = |reason: String| CliError::Control {
            addr: self.addr.clone(),
            reason,
        };
        let Some(line) = read_line(&mut self.reader)
            .await
            .map_err(|error| broken(error.to_string()))?
        else {
            return Ok(None);
        };
        serde_json::from_str(&line).map(Some).map_err(|error| {
            broken(format!(
                "unexpected answer ({error}); is this a gossip-node control address?"
            ))
        })
    }

    /// The single answer to any request but `tail`.
    pub(crate) async fn answer(mut self) -> CliResult<Response> {
        let answer = self.next().await?;
        let _ = self.write.shutdown().await;
        match answer {
            Some(Response::Error { message }) => Err(CliError::Remote(message)),
            Some(response) => Ok(response),
            None => Err(CliError::Control {
                addr: self.addr,
                reason: "closed without an answer".into(),
            }),
        }
    }
}
