//! Channel requests: resolving a name, invitations, joining, appending.

use gossip::{ChannelId, Coordinator, LogEntry, Role, StreamId};

use crate::{
    cli::parse_addr,
    config::{parse_invitation, parse_node_id},
    error::{CliError, CliResult},
    node::register_inviter,
};

use super::*;

/// The held channel `text` names: its full id, or its name when exactly
/// one held channel has it.
pub(crate) async fn resolve_channel(node: &Coordinator, text: &str) -> CliResult<ChannelId> {
    let held = node.channels().await?;
    let text = text.trim();
    if let Some(id) = held.iter().find(|id| id.as_str() == text) {
        return Ok(id.clone());
    }
    let named: Vec<&ChannelId> = held.iter().filter(|id| id.name() == text).collect();
    let list = |ids: &[&ChannelId]| {
        ids.iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] if held.is_empty() => Err(CliError::Invalid(format!(
            "this node holds no channel {text:?}, nor any other: `gossip-node run --channel NAME` \
             creates one it owns, `gossip-node join INVITATION` joins one"
        ))),
        [] => Err(CliError::Invalid(format!(
            "this node holds no channel {text:?}; it holds {} (give a name or a full id)",
            list(&held.iter().collect::<Vec<_>>())
        ))),
        many => Err(CliError::Invalid(format!(
            "channel name {text:?} is ambiguous on this node: it names {}; give the full id",
            list(many)
        ))),
    }
}

pub(crate) async fn invite(
    context: &ControlContext,
    channel: &str,
    member: &str,
    role: &str,
    addresses: Vec<String>,
) -> CliResult<Response> {
    let node = &context.node;
    let id = resolve_channel(node, channel).await?;
    let member = parse_node_id("node id", member)?;
    let role: Role = role.parse()?;
    if role == Role::Owner {
        return Err(CliError::Invalid(
            "a channel has one owner, the node its id is derived from: invite as reader, writer \
             or admin"
                .into(),
        ));
    }
    if member == *node.local_id() {
        return Err(CliError::Invalid(format!(
            "{member} is this node: invite another node (`gossip-node id KEY_FILE` prints its id)"
        )));
    }
    let addresses = if addresses.is_empty() {
        if context.gossip_addr.ip().is_unspecified() {
            return Err(CliError::Invalid(format!(
                "this node listens on {}, which other nodes cannot dial: pass --address HOST:PORT \
                 with the address they reach it at",
                context.gossip_addr
            )));
        }
        vec![context.gossip_addr.to_string()]
    } else {
        addresses
            .iter()
            .map(|address| {
                parse_addr("--address", address)
                    .map(|addr| addr.to_string())
                    .map_err(CliError::Invalid)
            })
            .collect::<CliResult<Vec<_>>>()?
    };
    let handle = node.channel(id.clone()).await?;
    if handle.info().await?.owner() == &member {
        return Err(CliError::Invalid(format!(
            "{member} owns channel {id}: it is a member already"
        )));
    }
    let invitation = handle.invite_at(member.clone(), role, addresses).await?;
    // The new member dials this node: frames from a node that is not a peer
    // are dropped.
    let peers = node.health().await?.peers;
    if !peers.iter().any(|peer| peer.id == member) {
        node.add_peer(member.clone()).await?;
    }
    tracing::info!(channel = %id, %member, %role, "member invited");
    Ok(Response::Invited {
        invitation: invitation.to_string(),
        channel: id.to_string(),
        member: member.to_string(),
        role: role.to_string(),
    })
}

pub(crate) async fn join(context: &ControlContext, text: &str) -> CliResult<Response> {
    let invitation = parse_invitation("the join request", text)?;
    let skipped = register_inviter(&context.tcp, &invitation);
    let handle = context.node.join(&invitation).await?;
    let role = handle.role().await?;
    tracing::info!(channel = %handle.id(), inviter = %invitation.inviter(), "joined by invitation");
    Ok(Response::Joined {
        channel: handle.id().to_string(),
        inviter: invitation.inviter().to_string(),
        role: role.map(|role| role.to_string()),
        skipped_addresses: skipped,
    })
}

pub(crate) async fn append(
    node: &Coordinator,
    channel: &str,
    stream: &str,
    payload: String,
) -> CliResult<LogEntry> {
    let channel = resolve_channel(node, channel).await?;
    let handle = node
        .channel(channel)
        .await?
        .stream(StreamId::new(stream)?)
        .await?;
    Ok(handle.append(payload.into_bytes()).await?)
}
