//! The control endpoint served over TCP: its token, and `tail` paging
//! through the history and following the stream live.

use super::{
    tests::{context, context_with, loopback},
    *,
};
use crate::error::CliError;

/// `context` served on a loopback port, with its token in a file (mode
/// 0600) in `dir`: the address and the token file.
async fn served(
    context: &ControlContext,
    dir: &std::path::Path,
) -> (SocketAddr, std::path::PathBuf) {
    let listener = TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token_file = dir.join("node.key.control-token");
    context.token.write(&token_file).unwrap();
    tokio::spawn(serve(listener, context.clone()));
    (addr, token_file)
}

/// Sends `line` on a new connection and reads every line until the node
/// closes it.
async fn raw(addr: SocketAddr, line: &str) -> Vec<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(line.as_bytes()).await.unwrap();
    socket.write_all(b"\n").await.unwrap();
    let mut lines = BufReader::new(socket).lines();
    let mut read = Vec::new();
    // Bounded: a node that kept the connection open fails the test.
    while let Some(line) = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the node closes the connection")
        .unwrap()
    {
        read.push(line);
    }
    read
}

#[tokio::test]
async fn requests_without_the_token_are_refused_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let a = context("a", loopback()).await;
    a.node.create_channel("main").await.unwrap();
    let (addr, token_file) = served(&a, dir.path()).await;
    let token = a.token.to_hex();
    let wrong = ControlToken::generate().unwrap().to_hex();
    let refused = [
        // The old protocol: no token at all.
        r#"{"op":"status"}"#.to_owned(),
        r#"{"op":"append","channel":"main","stream":"events","payload":"forged"}"#.to_owned(),
        r#"{"op":"tail","channel":"main","stream":"events"}"#.to_owned(),
        format!(r#"{{"v":1,"token":"{wrong}","op":"status"}}"#),
        format!(
            r#"{{"v":1,"token":"{wrong}","op":"append","channel":"main","stream":"events","payload":"forged"}}"#
        ),
        format!(r#"{{"v":1,"token":"{wrong}","op":"tail","channel":"main","stream":"events"}}"#),
        format!(r#"{{"v":1,"token":"{}","op":"status"}}"#, &token[..32]),
        r#"{"v":1,"token":"","op":"status"}"#.to_owned(),
        // The right token in another protocol version.
        format!(r#"{{"v":2,"token":"{token}","op":"status"}}"#),
    ];
    for line in &refused {
        let answers = raw(addr, line).await;
        assert_eq!(answers.len(), 1, "one answer, then closed: {answers:?}");
        let answer: Response = serde_json::from_str(&answers[0]).unwrap();
        let Response::Error { message } = answer else {
            panic!("{line} was answered: {answer:?}")
        };
        assert!(
            message.contains("unauthorized") || message.contains("version"),
            "{message}"
        );
        assert!(!message.contains(&token), "the token never leaks");
    }
    let stream = a
        .node
        .channel(resolve_channel(&a.node, "main").await.unwrap())
        .await
        .unwrap()
        .stream(gossip::StreamId::new("events").unwrap())
        .await
        .unwrap();
    assert!(
        stream.entries().await.unwrap().is_empty(),
        "nothing was appended"
    );

    // A correct client, before and after, is served.
    let right = format!(r#"{{"v":1,"token":"{token}","op":"status"}}"#);
    let answers = raw(addr, &right).await;
    let answer: Response = serde_json::from_str(&answers[0]).unwrap();
    assert!(matches!(answer, Response::Status { .. }), "{answer:?}");
    let request = Request::Append {
        channel: "main".into(),
        stream: "events".into(),
        payload: "by the owner".into(),
    };
    let client = ControlClient::connect(&addr.to_string(), Some(&token_file), &request)
        .await
        .unwrap();
    let answer = client.answer().await.unwrap();
    assert!(matches!(answer, Response::Appended { .. }), "{answer:?}");
    assert_eq!(stream.entries().await.unwrap().len(), 1);

    // A client with another node's token file is refused.
    let other = dir.path().join("other.control-token");
    ControlToken::generate().unwrap().write(&other).unwrap();
    let error = ControlClient::connect(&addr.to_string(), Some(&other), &Request::Status)
        .await
        .unwrap()
        .answer()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("unauthorized"), "{error}");
    // Without a token file, the client says what is missing.
    let error = ControlClient::connect(&addr.to_string(), None, &Request::Status)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("--token-file"), "{error}");
}

#[cfg(unix)]
#[tokio::test]
async fn clients_refuse_token_files_others_can_read_and_addresses_off_loopback() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let a = context("a", loopback()).await;
    let (addr, token_file) = served(&a, dir.path()).await;
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = ControlClient::connect(&addr.to_string(), Some(&token_file), &Request::Status)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("others"), "{error}");
    assert!(error.contains("control token file"), "{error}");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let answer = ControlClient::connect(&addr.to_string(), Some(&token_file), &Request::Status)
        .await
        .unwrap()
        .answer()
        .await
        .unwrap();
    assert!(matches!(answer, Response::Status { .. }), "{answer:?}");
    // The token is never sent off this machine.
    let error = ControlClient::connect("192.0.2.1:7070", Some(&token_file), &Request::Status)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, CliError::ControlNotLoopback { .. }),
        "{error:?}"
    );
}

/// Reads `count` entries of a `tail`, then checks that nothing more comes
/// for a moment: their sequences, in the order received.
async fn tail_sequences(client: &mut ControlClient, count: usize) -> Vec<u64> {
    let mut sequences = Vec::new();
    while sequences.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(20), client.next())
            .await
            .unwrap_or_else(|_| panic!("{count} entries expected, {sequences:?} came"))
            .unwrap();
        match next {
            Some(Response::Entry { entry }) => sequences.push(entry.sequence),
            other => panic!("not an entry: {other:?}"),
        }
    }
    let more = tokio::time::timeout(Duration::from_millis(300), client.next()).await;
    assert!(more.is_err(), "nothing more (no duplicate): {more:?}");
    sequences
}

#[tokio::test]
async fn tail_pages_through_history_then_follows_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let a = context("a", loopback()).await;
    a.node.create_channel("main").await.unwrap();
    let (addr, token_file) = served(&a, dir.path()).await;
    let add = |payload: String| {
        let node = a.node.clone();
        async move { append(&node, "main", "events", payload).await.unwrap() }
    };
    for i in 0..10 {
        add(format!("old {i}")).await;
    }
    let tail = Request::Tail {
        channel: "main".into(),
        stream: "events".into(),
        new_only: false,
    };
    let mut client = ControlClient::connect(&addr.to_string(), Some(&token_file), &tail)
        .await
        .unwrap();
    let mut sequences = tail_sequences(&mut client, 10).await;
    for i in 0..5 {
        add(format!("new {i}")).await;
    }
    sequences.extend(tail_sequences(&mut client, 5).await);
    assert_eq!(sequences, (1..=15).collect::<Vec<_>>());

    // Appends while a second tail starts (whether they land before, during
    // or after its history depends on scheduling): each entry once, in
    // order. `entries_appended_while_the_history_is_read_come_once` pins the
    // interleaving down.
    let mut racing = ControlClient::connect(&addr.to_string(), Some(&token_file), &tail)
        .await
        .unwrap();
    let writer = {
        let node = a.node.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                append(&node, "main", "events", format!("racing {i}"))
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let sequences = tail_sequences(&mut racing, 55).await;
    writer.await.unwrap();
    assert_eq!(sequences, (1..=55).collect::<Vec<_>>());

    // `new_only`: what comes after, nothing before.
    let mut new_only = ControlClient::connect(
        &addr.to_string(),
        Some(&token_file),
        &Request::Tail {
            channel: "main".into(),
            stream: "events".into(),
            new_only: true,
        },
    )
    .await
    .unwrap();
    // The subscription starts when the node has read the request: append
    // until the tail shows an entry; none of the 55 before comes.
    let mut shown = None;
    for attempt in 0..100 {
        add(format!("after {attempt}")).await;
        if let Ok(next) = tokio::time::timeout(Duration::from_millis(200), new_only.next()).await {
            shown = Some(next.unwrap());
            break;
        }
    }
    let Some(Some(Response::Entry { entry })) = shown else {
        panic!("no new entry: {shown:?}")
    };
    assert!(entry.sequence > 55, "{entry:?}");
}

/// The next line of a tail: an entry's sequence and payload.
async fn next_entry<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut R) -> (u64, String) {
    let line = tokio::time::timeout(Duration::from_secs(20), read_line(lines))
        .await
        .expect("an entry")
        .unwrap()
        .expect("the tail goes on");
    match serde_json::from_str::<Response>(&line).unwrap() {
        Response::Entry { entry } => (entry.sequence, entry.payload),
        other => panic!("not an entry: {other:?}"),
    }
}

#[tokio::test]
async fn entries_appended_while_the_history_is_read_come_once() {
    let a = context("a", loopback()).await;
    a.node.create_channel("main").await.unwrap();
    for i in 0..10 {
        append(&a.node, "main", "events", format!("old {i}"))
            .await
            .unwrap();
    }
    // A client that reads nothing yet: the node's writes block once 64
    // bytes wait, in the middle of the history.
    let (to_client, from_node) = tokio::io::duplex(64);
    let (to_node, from_client) = tokio::io::duplex(64);
    let context = a.clone();
    let server = tokio::spawn(async move {
        tail(&context, "main", "events", false, from_client, to_client).await
    });
    let mut lines = BufReader::new(from_node);
    assert_eq!(next_entry(&mut lines).await, (1, "old 0".to_owned()));
    // Entries 11 to 15 land after the node read the version (10), while
    // the history is sent: they come live, once.
    for i in 0..5 {
        append(&a.node, "main", "events", format!("new {i}"))
            .await
            .unwrap();
    }
    let mut sequences = vec![1];
    for _ in 0..14 {
        sequences.push(next_entry(&mut lines).await.0);
    }
    assert_eq!(sequences, (1..=15).collect::<Vec<_>>());
    let more = tokio::time::timeout(Duration::from_millis(300), next_entry(&mut lines)).await;
    assert!(more.is_err(), "no duplicate: {more:?}");
    drop(to_node); // the client goes away: the tail ends
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_tail_that_lagged_reads_what_it_missed_from_the_store() {
    // Live entries wait in a buffer of 4: more, while the client is slow,
    // and the subscription lags.
    let config = gossip::Config::default().stream_capacity(4);
    let a = context_with("a", loopback(), config).await;
    a.node.create_channel("main").await.unwrap();
    for i in 0..10 {
        append(&a.node, "main", "events", format!("old {i}"))
            .await
            .unwrap();
    }
    let (to_client, from_node) = tokio::io::duplex(64);
    let (to_node, from_client) = tokio::io::duplex(64);
    let context = a.clone();
    let server = tokio::spawn(async move {
        tail(&context, "main", "events", false, from_client, to_client).await
    });
    let mut lines = BufReader::new(from_node);
    assert_eq!(next_entry(&mut lines).await.0, 1);
    for i in 0..20 {
        append(&a.node, "main", "events", format!("new {i}"))
            .await
            .unwrap();
    }
    let mut sequences = vec![1];
    for _ in 0..29 {
        sequences.push(next_entry(&mut lines).await.0);
    }
    assert_eq!(sequences, (1..=30).collect::<Vec<_>>());
    // And it goes on live.
    append(&a.node, "main", "events", "after".into())
        .await
        .unwrap();
    assert_eq!(next_entry(&mut lines).await, (31, "after".to_owned()));
    let more = tokio::time::timeout(Duration::from_millis(300), next_entry(&mut lines)).await;
    assert!(more.is_err(), "no duplicate: {more:?}");
    drop(to_node);
    server.await.unwrap().unwrap();
}
