//! The control endpoint's protocol and requests.

use super::*;
use gossip::ChannelId;

#[test]
fn requests_are_tagged_json_lines() {
    let request = Request::Append {
        channel: "main".into(),
        stream: "events".into(),
        payload: "hi".into(),
    };
    let json = serde_json::to_string(&request).unwrap();
    assert_eq!(
        json,
        r#"{"op":"append","channel":"main","stream":"events","payload":"hi"}"#
    );
    assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
    let tail: Request =
        serde_json::from_str(r#"{"op":"tail","channel":"c","stream":"s"}"#).unwrap();
    assert_eq!(
        tail,
        Request::Tail {
            channel: "c".into(),
            stream: "s".into(),
            new_only: false
        }
    );
    assert_eq!(
        serde_json::from_str::<Request>(r#"{"op":"status"}"#).unwrap(),
        Request::Status
    );
    assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    // On the wire, version 1: the version and the token beside the fields.
    let envelope = Envelope {
        v: PROTOCOL_VERSION,
        token: "ab",
        request: &Request::Status,
    };
    assert_eq!(
        serde_json::to_string(&envelope).unwrap(),
        r#"{"v":1,"token":"ab","op":"status"}"#
    );
    let line = serde_json::to_string(&Envelope {
        v: 1,
        token: "ab",
        request: &request,
    })
    .unwrap();
    assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), request);
    let credentials: Credentials = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (credentials.v, credentials.token.as_deref()),
        (Some(1), Some("ab"))
    );
}

#[test]
fn membership_requests_are_tagged_json_lines() {
    let invite: Request =
        serde_json::from_str(r#"{"op":"invite","channel":"main","member":"node1x"}"#).unwrap();
    assert_eq!(
        invite,
        Request::Invite {
            channel: "main".into(),
            member: "node1x".into(),
            role: "writer".into(),
            addresses: Vec::new(),
        }
    );
    for (json, request) in [
        (
            r#"{"op":"join","invitation":"gossip-invite1x"}"#,
            Request::Join {
                invitation: "gossip-invite1x".into(),
            },
        ),
        (
            r#"{"op":"members","channel":"main"}"#,
            Request::Members {
                channel: "main".into(),
            },
        ),
        (
            r#"{"op":"remove","channel":"main","member":"node1x"}"#,
            Request::Remove {
                channel: "main".into(),
                member: "node1x".into(),
            },
        ),
    ] {
        assert_eq!(serde_json::from_str::<Request>(json).unwrap(), request);
        assert_eq!(serde_json::to_string(&request).unwrap(), json);
    }
}

/// A node (not started: commands are answered all the same) with an
/// in-memory store and a TCP transport on loopback, and its context.
pub(super) async fn context(seed: &str, listen: SocketAddr) -> ControlContext {
    context_with(seed, listen, gossip::Config::default()).await
}

/// [`context`] with a node `config`.
pub(super) async fn context_with(
    seed: &str,
    listen: SocketAddr,
    config: gossip::Config,
) -> ControlContext {
    let identity = gossip::Identity::from_seed(seed);
    let tcp = crate::node::bind_tcp(&identity, listen, None)
        .await
        .unwrap();
    let gossip_addr = tcp.local_addr();
    let node = Coordinator::builder(identity)
        .store(gossip::MemoryStore::new())
        .transport(tcp.clone())
        .config(config)
        .build()
        .await
        .unwrap();
    ControlContext {
        node,
        tcp,
        gossip_addr,
        token: ControlToken::generate().unwrap(),
    }
}

pub(super) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn ask(context: &ControlContext, request: Request) -> Result<Response, String> {
    answer(context, request)
        .await
        .map_err(|error| one_line(&error))
}

#[tokio::test]
async fn channels_are_named_by_id_or_by_an_unambiguous_name() {
    let a = context("a", loopback()).await;
    let error = resolve_channel(&a.node, "main")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("nor any other"), "{error}");
    let main = a.node.create_channel("main").await.unwrap();
    let other = a.node.create_channel("other").await.unwrap();
    assert_eq!(&resolve_channel(&a.node, "main").await.unwrap(), main.id());
    assert_eq!(
        &resolve_channel(&a.node, other.id().as_str()).await.unwrap(),
        other.id()
    );
    let error = resolve_channel(&a.node, "nope")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(main.id().as_str()), "{error}");
    assert!(error.contains(other.id().as_str()), "{error}");
    // Another owner's "main", joined: the name no longer says which.
    let b = gossip::NodeId::from_seed("b");
    let theirs = gossip::Invitation::new(
        ChannelId::derive(&b, "main").unwrap(),
        b.clone(),
        b,
        vec!["127.0.0.1:9".into()],
    )
    .unwrap();
    let Response::Joined { channel, role, .. } = ask(
        &a,
        Request::Join {
            invitation: theirs.to_string(),
        },
    )
    .await
    .unwrap() else {
        panic!("not joined")
    };
    assert_eq!(channel, theirs.channel().as_str());
    assert_eq!(role, None, "the control log has not arrived");
    let error = resolve_channel(&a.node, "main")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("ambiguous"), "{error}");
    assert!(error.contains(main.id().as_str()), "{error}");
    assert!(error.contains(theirs.channel().as_str()), "{error}");
    assert_eq!(
        &resolve_channel(&a.node, theirs.channel().as_str())
            .await
            .unwrap(),
        theirs.channel()
    );
}

#[tokio::test]
async fn invite_members_and_remove_through_the_endpoint() {
    let a = context("a", loopback()).await;
    let main = a.node.create_channel("main").await.unwrap();
    let b = gossip::NodeId::from_seed("b");
    let Response::Invited {
        invitation,
        channel,
        role,
        ..
    } = ask(
        &a,
        Request::Invite {
            channel: "main".into(),
            member: b.to_string(),
            role: "reader".into(),
            addresses: Vec::new(),
        },
    )
    .await
    .unwrap()
    else {
        panic!("not invited")
    };
    assert_eq!(
        (channel.as_str(), role.as_str()),
        (main.id().as_str(), "reader")
    );
    let invitation: gossip::Invitation = invitation.parse().unwrap();
    assert_eq!(invitation.channel(), main.id());
    assert_eq!(invitation.inviter(), a.node.local_id());
    assert_eq!(invitation.addresses(), [a.gossip_addr.to_string()]);
    let peers = a.node.health().await.unwrap().peers;
    assert!(
        peers.iter().any(|peer| peer.id == b),
        "the invited node is a peer"
    );

    let Response::Members { members, node, .. } = ask(
        &a,
        Request::Members {
            channel: "main".into(),
        },
    )
    .await
    .unwrap() else {
        panic!("not members")
    };
    assert_eq!(node, a.node.local_id().to_string());
    let roles: Vec<(String, String)> = members
        .into_iter()
        .map(|member| (member.id, member.role))
        .collect();
    assert!(
        roles.contains(&(b.to_string(), "reader".into())),
        "{roles:?}"
    );
    assert!(roles.contains(&(node.clone(), "owner".into())), "{roles:?}");

    let remove = || Request::Remove {
        channel: "main".into(),
        member: b.to_string(),
    };
    let removed = ask(&a, remove()).await.unwrap();
    assert!(
        matches!(
            removed,
            Response::Removed {
                was_member: true,
                ..
            }
        ),
        "{removed:?}"
    );
    let again = ask(&a, remove()).await.unwrap();
    assert!(
        matches!(
            again,
            Response::Removed {
                was_member: false,
                ..
            }
        ),
        "{again:?}"
    );

    let status = status(&a.node).await.unwrap();
    let view = status.channels.first().unwrap();
    assert_eq!(
        (view.name.as_str(), view.role.as_deref(), view.members),
        ("main", Some("owner"), 1)
    );
}

#[tokio::test]
async fn bad_membership_requests_are_explained() {
    let a = context("a", loopback()).await;
    a.node.create_channel("main").await.unwrap();
    let b = gossip::NodeId::from_seed("b").to_string();
    let invite = |member: &str, role: &str, addresses: Vec<String>| Request::Invite {
        channel: "main".into(),
        member: member.into(),
        role: role.into(),
        addresses,
    };
    let error = ask(&a, invite("bob", "writer", vec![])).await.unwrap_err();
    assert!(error.contains("gossip-node id"), "{error}");
    let error = ask(&a, invite(&b, "owner", vec![])).await.unwrap_err();
    assert!(error.contains("one owner"), "{error}");
    let error = ask(&a, invite(&b, "boss", vec![])).await.unwrap_err();
    assert!(error.contains("unknown role"), "{error}");
    let me = a.node.local_id().to_string();
    let error = ask(&a, invite(&me, "writer", vec![])).await.unwrap_err();
    assert!(error.contains("this node"), "{error}");
    let error = ask(&a, invite(&b, "writer", vec!["nowhere".into()]))
        .await
        .unwrap_err();
    assert!(error.contains("--address"), "{error}");
    let error = ask(
        &a,
        Request::Join {
            invitation: "gossip-invite1garbage".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(error.contains("invalid invitation"), "{error}");

    // Listening on every interface: the invitation needs an address
    // others can dial.
    let any = context("c", SocketAddr::from(([0, 0, 0, 0], 0))).await;
    any.node.create_channel("main").await.unwrap();
    let error = ask(&any, invite(&b, "writer", vec![])).await.unwrap_err();
    assert!(error.contains("--address"), "{error}");
    let answer = ask(&any, invite(&b, "writer", vec!["192.0.2.1:7000".into()]))
        .await
        .unwrap();
    let Response::Invited { invitation, .. } = answer else {
        panic!("not invited: {answer:?}")
    };
    let invitation: gossip::Invitation = invitation.parse().unwrap();
    assert_eq!(invitation.addresses(), ["192.0.2.1:7000"]);
}

#[tokio::test]
async fn long_lines_are_refused() {
    let data = vec![b'x'; usize::try_from(MAX_LINE).unwrap() + 10];
    let mut reader = BufReader::new(&data[..]);
    assert!(read_line(&mut reader).await.is_err());
    let mut reader = BufReader::new(&b"ok\n"[..]);
    assert_eq!(read_line(&mut reader).await.unwrap().unwrap(), "ok\n");
    assert!(read_line(&mut reader).await.unwrap().is_none());
}
