//! `append`, `tail` and `status`: clients of a running node's control endpoint.

use crate::{
    cli::{AppendArgs, StatusArgs, TailArgs},
    control::{ControlClient, EntryView, Request, Response, StatusView},
    error::{CliError, CliResult},
};

/// Appends one entry and prints it.
#[allow(clippy::print_stdout)]
pub(crate) async fn append(args: AppendArgs) -> CliResult<()> {
    let request = Request::Append {
        channel: args.channel,
        stream: args.stream,
        payload: args.message,
    };
    let client = ControlClient::connect(&args.control.control, &request).await?;
    match client.answer().await? {
        Response::Appended { entry } => {
            println!(
                "appended {} #{} at {}",
                entry.author, entry.sequence, entry.timestamp
            );
            Ok(())
        }
        other => Err(unexpected(&args.control.control, &other)),
    }
}

/// Prints a stream and follows it until the node stops or Ctrl-C.
#[allow(clippy::print_stdout)]
pub(crate) async fn tail(args: TailArgs) -> CliResult<()> {
    let request = Request::Tail {
        channel: args.channel,
        stream: args.stream,
        new_only: args.new_only,
    };
    let mut client = ControlClient::connect(&args.control.control, &request).await?;
    loop {
        let next = tokio::select! {
            next = client.next() => next?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match next {
            Some(Response::Entry { entry }) => {
                if args.json {
                    let line = serde_json::to_string(&entry)
                        .map_err(|error| CliError::Invalid(error.to_string()))?;
                    println!("{line}");
                } else {
                    println!("{}", format_entry(&entry));
                }
            }
            Some(Response::Error { message }) => return Err(CliError::Remote(message)),
            Some(other) => return Err(unexpected(&args.control.control, &other)),
            None => return Ok(()),
        }
    }
}

/// Prints the node's status.
#[allow(clippy::print_stdout)]
pub(crate) async fn status(args: StatusArgs) -> CliResult<()> {
    let client = ControlClient::connect(&args.control.control, &Request::Status).await?;
    match client.answer().await? {
        Response::Status { status } => {
            if args.json {
                let text = serde_json::to_string_pretty(&status)
                    .map_err(|error| CliError::Invalid(error.to_string()))?;
                println!("{text}");
            } else {
                print!("{}", format_status(&status));
            }
            Ok(())
        }
        other => Err(unexpected(&args.control.control, &other)),
    }
}

fn unexpected(addr: &str, response: &Response) -> CliError {
    CliError::Control {
        addr: addr.to_owned(),
        reason: format!("unexpected answer {response:?}"),
    }
}

/// `author #seq  timestamp  payload`.
pub(crate) fn format_entry(entry: &EntryView) -> String {
    format!(
        "{} #{}  {}  {}",
        entry.author, entry.sequence, entry.timestamp, entry.payload
    )
}

/// The status as a short human report.
pub(crate) fn format_status(status: &StatusView) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "node {} ({})", status.node, status.state);
    let _ = writeln!(out, "peers:");
    if status.peers.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for peer in &status.peers {
        let heard = peer.last_heard_ms_ago.map_or_else(
            || "never heard from".to_owned(),
            |ms| format!("heard {ms} ms ago"),
        );
        let _ = writeln!(out, "  {:<16} {:<12} {heard}", peer.id, peer.status);
    }
    let _ = writeln!(out, "channels: {}", status.channels.join(", "));
    let _ = writeln!(out, "streams:");
    if status.streams.is_empty() {
        let _ = writeln!(out, "  (none yet)");
    }
    for stream in &status.streams {
        let version: Vec<String> = stream
            .version
            .iter()
            .map(|(author, seq)| format!("{author}:{seq}"))
            .collect();
        let _ = writeln!(
            out,
            "  {}/{}  {} entries ({} B)  [{}]",
            stream.channel,
            stream.stream,
            stream.entries,
            stream.bytes,
            version.join(" ")
        );
    }
    let _ = writeln!(
        out,
        "lag: {} entries buffered waiting for a gap to fill",
        status.buffered_entries
    );
    let _ = writeln!(
        out,
        "traffic: {} frames / {} B in, {} frames / {} B out",
        status.frames_in, status.bytes_in, status.frames_out, status.bytes_out
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{PeerView, StreamView};

    #[test]
    fn status_report_names_peers_streams_and_lag() {
        let status = StatusView {
            node: "a".into(),
            state: "running".into(),
            peers: vec![PeerView {
                id: "b".into(),
                status: "suspected".into(),
                last_heard_ms_ago: Some(1500),
            }],
            channels: vec!["main".into()],
            streams: vec![StreamView {
                channel: "main".into(),
                stream: "events".into(),
                entries: 3,
                bytes: 10,
                version: vec![("a".into(), 2), ("b".into(), 1)],
            }],
            buffered_entries: 0,
            frames_in: 1,
            frames_out: 2,
            bytes_in: 3,
            bytes_out: 4,
        };
        let text = format_status(&status);
        assert!(text.contains("suspected"), "{text}");
        assert!(
            text.contains("main/events  3 entries (10 B)  [a:2 b:1]"),
            "{text}"
        );
        assert!(text.contains("lag: 0"), "{text}");
    }
}
