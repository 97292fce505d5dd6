//! `append`, `tail`, `status`, `invite`, `join`, `members` and `remove`:
//! clients of a running node's control endpoint.

use crate::{
    cli::{
        parse_addr, AppendArgs, ControlArgs, InviteArgs, JoinArgs, MembersArgs, RemoveArgs,
        StatusArgs, TailArgs,
    },
    config::{parse_invitation, parse_node_id},
    control::{ControlClient, EntryView, MemberView, PeerView, Request, Response, StatusView},
    error::{CliError, CliResult},
};

/// Appends one entry and prints it.
#[allow(clippy::print_stdout)]
pub(crate) async fn append(args: AppendArgs) -> CliResult<()> {
    let request = Request::Append {
        channel: args.channel.channel,
        stream: args.stream,
        payload: args.message,
    };
    let client = connect(&args.control, &request).await?;
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
        channel: args.channel.channel,
        stream: args.stream,
        new_only: args.new_only,
    };
    let mut client = connect(&args.control, &request).await?;
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
    let client = connect(&args.control, &Request::Status).await?;
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

/// Adds a node to a channel and prints the invitation (alone on stdout, so
/// that `$(gossip-node invite …)` captures it; a hint goes to stderr).
#[allow(clippy::print_stdout)]
pub(crate) async fn invite(args: InviteArgs) -> CliResult<()> {
    // Checked here too, so that a typo fails before reaching the node.
    let member = parse_node_id("node id", &args.member)?;
    for address in &args.addresses {
        parse_addr("--address", address).map_err(CliError::Invalid)?;
    }
    let request = Request::Invite {
        channel: args.channel.channel,
        member: member.to_string(),
        role: gossip::Role::from(args.role).to_string(),
        addresses: args.addresses,
    };
    let client = connect(&args.control, &request).await?;
    match client.answer().await? {
        Response::Invited {
            invitation,
            channel,
            member,
            role,
        } => {
            println!("{invitation}");
            eprintln!(
                "{member} is now {role} of {channel}; on that node run: gossip-node join --control ADDR {invitation}"
            );
            Ok(())
        }
        other => Err(unexpected(&args.control.control, &other)),
    }
}

/// Joins a channel with an invitation and says what happens next.
#[allow(clippy::print_stdout)]
pub(crate) async fn join(args: JoinArgs) -> CliResult<()> {
    let invitation = parse_invitation("the INVITATION argument", &args.invitation)?;
    let request = Request::Join {
        invitation: invitation.to_string(),
    };
    let client = connect(&args.control, &request).await?;
    match client.answer().await? {
        Response::Joined {
            channel,
            inviter,
            role,
            skipped_addresses,
        } => {
            match role {
                Some(role) => println!("joined {channel} (invited by {inviter}) as {role}"),
                None => println!(
                    "joined {channel} (invited by {inviter}); this node may write once the channel's \
                     control log arrives from the inviter (see `gossip-node members` or `status`)"
                ),
            }
            if !skipped_addresses.is_empty() {
                println!(
                    "note: not TCP addresses, skipped: {}",
                    skipped_addresses.join(", ")
                );
            }
            Ok(())
        }
        other => Err(unexpected(&args.control.control, &other)),
    }
}

/// Lists a channel's members.
#[allow(clippy::print_stdout)]
pub(crate) async fn members(args: MembersArgs) -> CliResult<()> {
    let request = Request::Members {
        channel: args.channel.channel,
    };
    let client = connect(&args.control, &request).await?;
    match client.answer().await? {
        Response::Members {
            channel,
            node,
            members,
        } => {
            if args.json {
                let text = serde_json::to_string_pretty(&members)
                    .map_err(|error| CliError::Invalid(error.to_string()))?;
                println!("{text}");
            } else {
                print!("{}", format_members(&channel, &node, &members));
            }
            Ok(())
        }
        other => Err(unexpected(&args.control.control, &other)),
    }
}

/// Removes a member from a channel.
#[allow(clippy::print_stdout)]
pub(crate) async fn remove(args: RemoveArgs) -> CliResult<()> {
    let member = parse_node_id("node id", &args.member)?;
    let request = Request::Remove {
        channel: args.channel.channel,
        member: member.to_string(),
    };
    let client = connect(&args.control, &request).await?;
    match client.answer().await? {
        Response::Removed {
            channel,
            member,
            was_member,
        } => {
            if was_member {
                println!("removed {member} from {channel}: what it writes from now on is refused");
            } else {
                println!("{member} is not a member of {channel}; nothing changed");
            }
            Ok(())
        }
        other => Err(unexpected(&args.control.control, &other)),
    }
}

/// Connects to the control endpoint `control` names and sends `request`
/// with the token from its token file.
async fn connect(control: &ControlArgs, request: &Request) -> CliResult<ControlClient> {
    ControlClient::connect(&control.control, control.token_file.as_deref(), request).await
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

/// A channel's members, one a line: id, role, label, and which is this node.
pub(crate) fn format_members(channel: &str, node: &str, members: &[MemberView]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let plural = if members.len() == 1 { "" } else { "s" };
    let _ = writeln!(out, "{channel}: {} member{plural}", members.len());
    if members.is_empty() {
        let _ = writeln!(
            out,
            "  (none known yet: the control log has not arrived from the inviter)"
        );
    }
    for member in members {
        let mut line = format!("  {}  {:<6}", member.id, member.role);
        if !member.label.is_empty() {
            line.push_str("  ");
            line.push_str(&member.label);
        }
        if member.id == node {
            line.push_str("  (this node)");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// Where a peer stands: last sync, what it lacks and how old, its clock.
fn peer_sync(peer: &PeerView) -> String {
    let synced = peer.last_sync_ms_ago.map_or_else(
        || "never synced".to_owned(),
        |ms| format!("synced {ms} ms ago"),
    );
    let lack = match (peer.lacking_entries, peer.lag_ms) {
        (None, _) => "holdings unknown".to_owned(),
        (Some(0), _) => "caught up".to_owned(),
        (Some(n), lag) => format!(
            "lacks {n} entries ({} B), {} ms behind",
            peer.lacking_bytes,
            lag.unwrap_or(0)
        ),
    };
    let clock = peer
        .clock_skew_ms
        .map(|ms| format!(", clock {ms:+} ms"))
        .unwrap_or_default();
    format!("{synced}, {lack}{clock}")
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
        let _ = writeln!(
            out,
            "  {:<16} {:<12} {heard}, {}",
            peer.id,
            peer.status,
            peer_sync(peer)
        );
    }
    let _ = writeln!(out, "channels:");
    if status.channels.is_empty() {
        let _ = writeln!(
            out,
            "  (none: `run --channel NAME` creates one, `join` joins one)"
        );
    }
    for channel in &status.channels {
        let role = channel
            .role
            .as_deref()
            .unwrap_or("not a member (yet: waiting for the control log, or removed)");
        let _ = writeln!(
            out,
            "  {}  {role}, {} member{}",
            channel.id,
            channel.members,
            if channel.members == 1 { "" } else { "s" }
        );
    }
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
    let refused: Vec<String> = status
        .refused
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect();
    let _ = writeln!(
        out,
        "refused: {}",
        if refused.is_empty() {
            "nothing".to_owned()
        } else {
            refused.join(", ")
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ChannelView, StreamView};

    #[test]
    fn status_report_names_peers_streams_and_lag() {
        let status = StatusView {
            node: "a".into(),
            state: "running".into(),
            peers: vec![
                PeerView {
                    id: "b".into(),
                    status: "suspected".into(),
                    last_heard_ms_ago: Some(1500),
                    last_sync_ms_ago: Some(4000),
                    lacking_entries: Some(5),
                    lacking_bytes: 510,
                    lag_ms: Some(3200),
                    clock_skew_ms: Some(-40),
                },
                PeerView {
                    id: "c".into(),
                    status: "reachable".into(),
                    last_heard_ms_ago: Some(10),
                    last_sync_ms_ago: Some(200),
                    lacking_entries: Some(0),
                    lacking_bytes: 0,
                    lag_ms: None,
                    clock_skew_ms: None,
                },
            ],
            channels: vec![
                ChannelView {
                    id: "main~x".into(),
                    name: "main".into(),
                    role: Some("owner".into()),
                    members: 2,
                },
                ChannelView {
                    id: "other~y".into(),
                    name: "other".into(),
                    role: None,
                    members: 1,
                },
            ],
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
            refused: vec![("unsolicited_sync".into(), 7)],
        };
        let text = format_status(&status);
        assert!(text.contains("refused: 7 unsolicited_sync"), "{text}");
        assert!(text.contains("suspected"), "{text}");
        assert!(
            text.contains(
                "heard 1500 ms ago, synced 4000 ms ago, lacks 5 entries (510 B), 3200 ms behind, clock -40 ms"
            ),
            "{text}"
        );
        assert!(text.contains("synced 200 ms ago, caught up\n"), "{text}");
        assert!(
            text.contains("main/events  3 entries (10 B)  [a:2 b:1]"),
            "{text}"
        );
        assert!(text.contains("lag: 0"), "{text}");
        assert!(text.contains("main~x  owner, 2 members"), "{text}");
        assert!(text.contains("other~y  not a member"), "{text}");
        assert!(text.contains(", 1 member\n"), "{text}");
    }

    #[test]
    fn members_list_marks_this_node() {
        let members = [
            MemberView {
                id: "a".into(),
                role: "owner".into(),
                label: String::new(),
            },
            MemberView {
                id: "b".into(),
                role: "writer".into(),
                label: "phone".into(),
            },
        ];
        let text = format_members("main~x", "b", &members);
        assert!(text.starts_with("main~x: 2 members\n"), "{text}");
        assert!(text.contains("  a  owner\n"), "{text}");
        assert!(text.contains("  b  writer  phone  (this node)"), "{text}");
        assert!(format_members("main~x", "b", &[]).contains("none known yet"));
    }
}
