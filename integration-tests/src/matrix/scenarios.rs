//! The scenario suite every cell runs.

use std::time::Duration;

use gossip_core::{LogEntry, Role};
use tokio::time::sleep;

use super::{Cell, MatrixCluster, MatrixResult, Scenario};

/// Entries written before a late node joins in [`Scenario::LongHistory`].
pub const LONG_HISTORY: usize = 2_000;

/// How long a scenario waits to show that something does *not* arrive.
const QUIET: Duration = Duration::from_millis(500);

/// Plays `scenario` on a fresh cluster of `cell`, then stops every node.
pub(crate) async fn play(cell: Cell, scenario: Scenario) -> MatrixResult<()> {
    let nodes = match scenario {
        Scenario::Churn => 4,
        _ => 3,
    };
    let mut cluster = MatrixCluster::new(cell, nodes)?;
    let outcome = match scenario {
        Scenario::Converge => converge(&mut cluster).await,
        Scenario::PartitionHeal => partition_heal(&mut cluster).await,
        Scenario::Restart => restart(&mut cluster).await,
        Scenario::LongHistory => long_history(&mut cluster).await,
        Scenario::Membership => membership(&mut cluster).await,
        Scenario::Churn => churn(&mut cluster).await,
    };
    let stopped = cluster.shut_down_all().await;
    outcome?;
    stopped
}

fn ensure(condition: bool, message: impl FnOnce() -> String) -> MatrixResult<()> {
    if condition {
        Ok(())
    } else {
        Err(message().into())
    }
}

fn authored_by(entries: &[LogEntry], cluster: &MatrixCluster, i: usize) -> usize {
    let id = cluster.id(i);
    entries.iter().filter(|e| e.author == id).count()
}

/// Three writers, interleaved; every node ends with the same stream.
async fn converge(cluster: &mut MatrixCluster) -> MatrixResult<()> {
    cluster.boot_all().await?;
    for round in 0..4 {
        for i in 0..cluster.len() {
            cluster.append(i, format!("node {i} round {round}")).await?;
        }
    }
    cluster.converge(&cluster.up(), 4 * cluster.len()).await?;
    // The entries came through the cell's transport and stack.
    for i in cluster.up() {
        let frames_in = cluster.node(i).health().await?.stats.frames_in;
        ensure(frames_in > 0, || format!("node {i} received no frames"))?;
    }
    Ok(())
}

/// Node 2 is cut off: it misses what the others write and they miss what it
/// writes; after the heal everyone holds everything.
async fn partition_heal(cluster: &mut MatrixCluster) -> MatrixResult<()> {
    cluster.boot_all().await?;
    cluster.append(0, "before the partition").await?;
    cluster.converge(&[0, 1, 2], 1).await?;

    cluster.isolate(2);
    for k in 0..2 {
        cluster.append(0, format!("majority {k}")).await?;
        cluster.append(2, format!("minority {k}")).await?;
    }
    cluster.converge(&[0, 1], 3).await?;
    sleep(QUIET).await;
    let isolated = cluster.entries(2).await?;
    ensure(isolated.len() == 3, || {
        format!(
            "the isolated node holds {} entries, expected its own 2 and the first",
            isolated.len()
        )
    })?;
    let majority = cluster.entries(0).await?;
    ensure(authored_by(&majority, cluster, 2) == 0, || {
        "the majority received the isolated node's entries".to_owned()
    })?;

    cluster.heal();
    cluster.converge(&[0, 1, 2], 5).await?;
    Ok(())
}

/// Node 2 restarts on the same store: its entries are there at once, its
/// sequence numbers continue, and it catches up with what it missed.
async fn restart(cluster: &mut MatrixCluster) -> MatrixResult<()> {
    cluster.boot_all().await?;
    for i in 0..3 {
        cluster.append(i, format!("node {i} first")).await?;
    }
    cluster.converge(&[0, 1, 2], 3).await?;

    cluster.shut_down(2).await?;
    for i in 0..2 {
        for k in 0..2 {
            cluster
                .append(i, format!("node {i} while 2 is down {k}"))
                .await?;
        }
    }
    cluster.converge(&[0, 1], 7).await?;

    cluster.boot(2).await?;
    let reopened = cluster.entries(2).await?;
    ensure(reopened.len() >= 3, || {
        format!(
            "restarted on its store, node 2 holds {} entries, expected at least 3",
            reopened.len()
        )
    })?;
    ensure(authored_by(&reopened, cluster, 2) == 1, || {
        "node 2 lost its own entry across the restart".to_owned()
    })?;
    let next = cluster.append(2, "node 2 after restart").await?;
    ensure(next.sequence == 2, || {
        format!(
            "node 2's sequence restarted at {}, expected 2",
            next.sequence
        )
    })?;
    cluster.converge(&[0, 1, 2], 8).await?;
    Ok(())
}

/// Node 0 writes a long history while node 2 has never been up; node 2
/// joins with an empty store and catches up.
async fn long_history(cluster: &mut MatrixCluster) -> MatrixResult<()> {
    cluster.boot(0).await?;
    cluster.boot(1).await?;
    cluster.append_many(0, LONG_HISTORY, 250).await?;
    cluster.converge(&[0, 1], LONG_HISTORY).await?;

    cluster.boot(2).await?;
    cluster.await_membership(2).await?;
    cluster.converge(&[0, 1, 2], LONG_HISTORY).await?;
    cluster.append(2, "the newcomer speaks").await?;
    cluster.converge(&[0, 1, 2], LONG_HISTORY + 1).await?;
    Ok(())
}

/// The channel starts with nodes 0 (its owner) and 1: node 2 learns nothing
/// of it. Added by the owner, once, node 2 receives the history and is
/// heard. Node 1, removed by the owner, keeps its old entries everywhere but
/// its new ones are refused.
async fn membership(cluster: &mut MatrixCluster) -> MatrixResult<()> {
    cluster.set_initial_members([0, 1]);
    cluster.boot_all().await?;
    cluster.append(0, "members only").await?;
    cluster.converge(&[0, 1], 1).await?;
    sleep(QUIET).await;
    let outsider = cluster.entries(2).await?;
    ensure(outsider.is_empty(), || {
        format!("a non-member received {} entries", outsider.len())
    })?;

    // Added once, by the owner: the operation replicates.
    let newcomer = cluster.id(2);
    cluster
        .channel(0)
        .await?
        .add_member(newcomer.clone(), Role::Writer)
        .await?;
    cluster.await_membership(2).await?;
    cluster.converge(&[0, 1, 2], 1).await?;
    cluster.append(2, "the new member speaks").await?;
    cluster.append(1, "node 1 while a member").await?;
    cluster.converge(&[0, 1, 2], 3).await?;

    let removed = cluster.id(1);
    cluster.channel(0).await?.remove_member(&removed).await?;
    // Told of its removal (the owner sends it once), node 1 may refuse to
    // write; if the notice has not arrived yet, what it writes is refused
    // everywhere else.
    match cluster.append(1, "node 1 after its removal").await {
        Ok(_) => {}
        Err(error)
            if matches!(
                error.downcast_ref::<gossip_core::Error>(),
                Some(gossip_core::Error::NotMember { .. })
            ) => {}
        Err(error) => return Err(error),
    }
    cluster.append(0, "node 0 after the removal").await?;
    cluster.converge(&[0, 2], 4).await?;
    sleep(QUIET).await;
    for i in [0, 2] {
        let held = cluster.entries(i).await?;
        ensure(
            held.len() == 4 && authored_by(&held, cluster, 1) == 1,
            || {
                format!(
                    "node {i} holds {} entries, {} by the removed member; expected 4 and 1",
                    held.len(),
                    authored_by(&held, cluster, 1)
                )
            },
        )?;
    }
    Ok(())
}

/// Nodes 1, 2, 3 leave and rejoin in turn on their stores while the others
/// write; everyone ends with the same stream.
async fn churn(cluster: &mut MatrixCluster) -> MatrixResult<()> {
    cluster.boot_all().await?;
    for i in 0..cluster.len() {
        cluster.append(i, format!("node {i} hello")).await?;
    }
    let mut total = cluster.len();
    cluster.converge(&cluster.up(), total).await?;
    for round in 0..3 {
        let leaving = 1 + round % (cluster.len() - 1);
        cluster.shut_down(leaving).await?;
        for i in cluster.up() {
            cluster
                .append(i, format!("node {i} while {leaving} is away"))
                .await?;
            total += 1;
        }
        cluster.converge(&cluster.up(), total).await?;
        cluster.boot(leaving).await?;
        cluster
            .append(leaving, format!("node {leaving} is back"))
            .await?;
        total += 1;
        cluster.converge(&cluster.up(), total).await?;
    }
    Ok(())
}
