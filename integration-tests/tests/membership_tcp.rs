//! Membership over real sockets: a device joins by the invitation's text
//! alone (the invitation carries the inviter's address), and after a
//! restart on a new port it reconnects with no address given by the
//! application: members announce their addresses in the channel's control
//! log, and saved peers' addresses are handed to the transport at start.

// Test code: a failed unwrap or a bad index is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{net::SocketAddr, time::Duration};

use gossip_core::{Config, Coordinator, Identity, Role, StreamHandle, StreamId};
use gossip_store_memory::MemoryStore;
use gossip_transport_tcp::{TcpConfig, TcpTransport};
use tokio::time::{sleep, timeout, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

async fn node(identity: &Identity, store: MemoryStore) -> Coordinator {
    let tcp = TcpTransport::bind(
        identity,
        loopback(),
        TcpConfig::default().backoff(Duration::from_millis(20), Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let node = Coordinator::builder(identity.clone())
        .store(store)
        .transport(tcp)
        .config(Config::default().gossip_interval(Duration::from_millis(100)))
        .build()
        .await
        .unwrap();
    node.start().await.unwrap();
    node
}

async fn holds(stream: &StreamHandle, count: usize) {
    let start = Instant::now();
    while stream.entries().await.unwrap().len() < count {
        assert!(
            start.elapsed() < LIMIT,
            "{count} entries never arrived: {:?}",
            stream.entries().await.unwrap()
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_joined_by_invitation_reconnects_after_a_restart_on_its_own() {
    timeout(Duration::from_secs(120), async {
        let (laptop_key, phone_key) = (Identity::from_seed("laptop"), Identity::from_seed("phone"));
        let laptop = node(&laptop_key, MemoryStore::new()).await;
        let list = laptop.create_channel("list").await.unwrap();
        let items = StreamId::new("items").unwrap();
        let on_laptop = list.stream(items.clone()).await.unwrap();
        on_laptop.append("milk").await.unwrap();
        let invitation = list
            .invite(phone_key.node_id().clone(), Role::Writer)
            .await
            .unwrap();
        assert!(
            invitation.addresses()[0].starts_with("127.0.0.1:"),
            "the invitation says where the laptop listens: {:?}",
            invitation.addresses()
        );

        // The phone is given the invitation's text, nothing else.
        let phone_store = MemoryStore::new();
        let phone = node(&phone_key, phone_store.clone()).await;
        let joined = phone
            .join(&invitation.to_string().parse().unwrap())
            .await
            .unwrap();
        let on_phone = joined.stream(items.clone()).await.unwrap();
        holds(&on_phone, 1).await;
        let start = Instant::now();
        while joined.role().await.unwrap() != Some(Role::Writer) {
            assert!(start.elapsed() < LIMIT, "the phone never became a writer");
            sleep(Duration::from_millis(20)).await;
        }
        on_phone.append("bread").await.unwrap();
        holds(&on_laptop, 2).await;

        // The phone restarts on its store, on another port; nobody tells
        // anybody where anything is.
        phone.dispose().await.unwrap();
        let phone = node(&phone_key, phone_store).await;
        let on_phone = phone
            .channel(list.id().clone())
            .await
            .unwrap()
            .stream(items)
            .await
            .unwrap();
        on_phone.append("eggs").await.unwrap();
        holds(&on_laptop, 3).await;
        on_laptop.append("butter").await.unwrap();
        holds(&on_phone, 4).await;
        assert_eq!(
            on_laptop.entries().await.unwrap(),
            on_phone.entries().await.unwrap()
        );
        let laptop_view = list.info().await.unwrap();
        assert!(
            !laptop_view
                .control()
                .addresses(phone_key.node_id())
                .is_empty(),
            "the phone announced where it listens"
        );
        laptop.dispose().await.unwrap();
        phone.dispose().await.unwrap();
    })
    .await
    .expect("within two minutes");
}
