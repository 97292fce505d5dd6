//! The node's lifecycle: idle → running ⇄ paused → stopped → disposed.
//!
//! [`step`] is the pure table of which change is allowed from which state;
//! the driver applies what it decides.

use super::Driver;
use crate::{
    error::Error,
    node::{command::Lifecycle, health::NodeState},
};

/// What a lifecycle change does from the state the node is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Begin (or resume) networking: running, every peer a SWIM member, a
    /// gossip round due at once.
    Run,
    /// Suspend networking; local operations keep working.
    Pause,
    /// Close the transport for good and save the clock.
    Stop,
    /// End everything: networking, clock saved, store closed.
    Dispose,
    /// The node is already there.
    Stay,
}

/// Which step `change` takes from `state`.
///
/// # Errors
///
/// [`Error::InvalidState`] when the change is not allowed from `state` (for
/// example starting a stopped node, or resuming one that was never started).
pub(super) fn step(change: Lifecycle, state: NodeState) -> Result<Step, Error> {
    use NodeState::{Idle, Paused, Running, Stopped};
    Ok(match (change, state) {
        (Lifecycle::Start, Idle) | (Lifecycle::Resume, Paused) => Step::Run,
        (Lifecycle::Start | Lifecycle::Resume, Running)
        | (Lifecycle::Pause, Paused)
        | (Lifecycle::Stop, Stopped) => Step::Stay,
        (Lifecycle::Pause, Running) => Step::Pause,
        (Lifecycle::Stop, _) => Step::Stop,
        (Lifecycle::Dispose, _) => Step::Dispose,
        (change, state) => {
            return Err(Error::InvalidState(format!(
                "cannot {change:?} a node that is {state:?}"
            )))
        }
    })
}

impl Driver {
    /// Applies a lifecycle change.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] for a change the current state does not
    /// allow; [`Error::Store`] when stopping cannot save the clock.
    pub(super) async fn lifecycle(&mut self, change: Lifecycle) -> Result<(), Error> {
        match step(change, self.state)? {
            Step::Run => {
                let resuming = self.state == NodeState::Paused;
                self.state = NodeState::Running;
                self.learn_known_addresses();
                let channels: Vec<_> = self.replica.channels.keys().cloned().collect();
                self.replica.announce.extend(channels);
                let now = self.timers.now_ms();
                for peer in self.peers.ids() {
                    self.engines.swim.add_member(peer, now);
                }
                if resuming {
                    // Back: say so, then sync from where this node stands
                    // with every peer at once.
                    self.engines.swim.wake(now);
                    self.flush_swim().await;
                    for peer in self.peers.ids() {
                        self.gossip_round(Some(peer)).await;
                    }
                }
                self.timers.gossip_now();
            }
            Step::Pause => {
                // Tell the peers before going quiet: they leave a dormant
                // node alone instead of suspecting it.
                let now = self.timers.now_ms();
                self.engines.swim.go_dormant(now);
                self.flush_swim().await;
                self.state = NodeState::Paused;
            }
            Step::Stop => {
                self.stop_networking().await;
                self.save_clock().await?;
            }
            Step::Dispose => self.shutdown().await,
            Step::Stay => {}
        }
        Ok(())
    }

    async fn stop_networking(&mut self) {
        if let Some(transport) = self.link.take() {
            if let Err(error) = transport.close().await {
                self.report(Error::Transport(error), None);
            }
        }
        self.state = NodeState::Stopped;
    }

    async fn save_clock(&mut self) -> Result<(), Error> {
        self.store.save_clock(self.replica.hlc.last()).await?;
        Ok(())
    }

    /// Ends everything: networking, clock saved, store closed, and the
    /// event, error and entry feeds (open subscriptions end).
    pub(super) async fn shutdown(&mut self) {
        if self.state == NodeState::Disposed {
            return;
        }
        self.feeds.mark_disposing();
        self.stop_networking().await;
        if let Err(error) = self.save_clock().await {
            self.report(error, None);
        }
        if let Err(error) = self.store.close().await {
            self.report(Error::Store(error), None);
        }
        self.feeds.close();
        self.state = NodeState::Disposed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_table() {
        use Lifecycle::{Dispose, Pause, Resume, Start, Stop};
        use NodeState::{Idle, Paused, Running, Stopped};
        let allowed = [
            (Start, Idle, Step::Run),
            (Resume, Paused, Step::Run),
            (Start, Running, Step::Stay),
            (Resume, Running, Step::Stay),
            (Pause, Running, Step::Pause),
            (Pause, Paused, Step::Stay),
            (Stop, Idle, Step::Stop),
            (Stop, Running, Step::Stop),
            (Stop, Stopped, Step::Stay),
            (Dispose, Stopped, Step::Dispose),
            (Dispose, Idle, Step::Dispose),
        ];
        for (change, state, want) in allowed {
            assert_eq!(
                step(change, state).unwrap(),
                want,
                "{change:?} from {state:?}"
            );
        }
    }

    #[test]
    fn a_wrong_order_is_an_invalid_state_not_an_invalid_config() {
        use Lifecycle::{Pause, Resume, Start};
        use NodeState::{Idle, Paused, Stopped};
        for (change, state) in [
            (Start, Stopped),
            (Start, Paused),
            (Resume, Idle),
            (Resume, Stopped),
            (Pause, Idle),
            (Pause, Stopped),
        ] {
            let err = step(change, state).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidState(m) if m.contains(&format!("{state:?}"))),
                "{change:?} from {state:?}: {err:?}"
            );
        }
    }
}

#[cfg(test)]
mod driver_tests {
    use super::*;
    use crate::{
        node::driver::fixture::{node, Fixture},
        ports::{PeerRecord, Store},
    };

    #[tokio::test]
    async fn starting_makes_peers_members_and_stopping_saves_the_clock() {
        let mut f = Fixture::new(&["b"]).await;
        f.driver.peers.insert(PeerRecord::new(node("b")));

        f.driver.lifecycle(Lifecycle::Start).await.unwrap();
        assert_eq!(f.driver.state, NodeState::Running);
        assert!(f.driver.engines.swim.status(&node("b")).is_some());

        let (c, s) = (f.channel.clone(), f.stream.clone());
        f.driver
            .append(&c, &s, vec![bytes::Bytes::from_static(b"x")])
            .await
            .unwrap();
        f.driver.lifecycle(Lifecycle::Stop).await.unwrap();
        assert_eq!(f.driver.state, NodeState::Stopped);
        assert_eq!(
            f.store.load_clock().await.unwrap(),
            Some(f.driver.replica.hlc.last())
        );
        // Appends keep working after stop; starting again does not.
        f.driver
            .append(&c, &s, vec![bytes::Bytes::from_static(b"y")])
            .await
            .unwrap();
        let err = f.driver.lifecycle(Lifecycle::Start).await.unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)));
        assert_eq!(f.driver.state, NodeState::Stopped);
    }

    #[tokio::test]
    async fn disposing_ends_the_feeds_the_handles_keep_alive() {
        use futures_util::StreamExt;

        let mut f = Fixture::new(&[]).await;
        let mut events = f.driver.feeds.events();
        let mut errors = f.driver.feeds.errors();
        let mut entries = f.driver.feeds.entries(&f.channel, &f.stream);
        // A handle's share of the feeds outlives the node task.
        let feeds = f.driver.feeds.clone();

        f.driver.lifecycle(Lifecycle::Dispose).await.unwrap();
        assert_eq!(f.driver.state, NodeState::Disposed);
        assert!(events.next().await.is_none());
        assert!(errors.next().await.is_none());
        assert!(entries.next().await.is_none());
        assert!(feeds.events().next().await.is_none(), "opened after");
        assert!(feeds.entries(&f.channel, &f.stream).next().await.is_none());
    }
}
