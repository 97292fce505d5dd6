#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use gossip::{LogEntry, StateMaterializer};

/// One change to the list, as stored in an entry's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Adds a task, not done (again, if it was dropped).
    Add(String),
    /// Marks a task done (if it exists).
    Done(String),
    /// Removes a task.
    Drop(String),
}

impl Command {
    /// The payload to append: `add <task>`, `done <task>` or `drop <task>`.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Command::Add(task) => format!("add {task}"),
            Command::Done(task) => format!("done {task}"),
            Command::Drop(task) => format!("drop {task}"),
        }
        .into_bytes()
    }

    /// Reads a payload; `None` for anything that is not a command (such
    /// entries are skipped by the fold, never a panic).
    #[must_use]
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(payload).ok()?;
        let (verb, task) = text.split_once(' ')?;
        let task = task.trim();
        if task.is_empty() {
            return None;
        }
        let task = task.to_owned();
        match verb {
            "add" => Some(Command::Add(task)),
            "done" => Some(Command::Done(task)),
            "drop" => Some(Command::Drop(task)),
            _ => None,
        }
    }
}

/// Folds commands into the list: task → done.
#[derive(Debug, Clone, Copy, Default)]
pub struct TodoList;

impl StateMaterializer<BTreeMap<String, bool>> for TodoList {
    fn initial(&self) -> BTreeMap<String, bool> {
        BTreeMap::new()
    }

    fn fold(&self, mut state: BTreeMap<String, bool>, entry: &LogEntry) -> BTreeMap<String, bool> {
        match Command::decode(&entry.payload) {
            Some(Command::Add(task)) => {
                state.insert(task, false);
            }
            Some(Command::Done(task)) => {
                if let Some(done) = state.get_mut(&task) {
                    *done = true;
                }
            }
            Some(Command::Drop(task)) => {
                state.remove(&task);
            }
            None => {}
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use gossip::{Hlc, Materialized, NodeId};

    use super::*;

    fn entries(commands: &[Command]) -> Vec<LogEntry> {
        let author = NodeId::from_seed("a");
        commands
            .iter()
            .zip(1u64..)
            .map(|(c, seq)| {
                LogEntry::new(
                    author.clone(),
                    seq,
                    Hlc::new(seq * 10, 0).unwrap(),
                    c.encode(),
                )
            })
            .collect()
    }

    #[test]
    fn commands_roundtrip_and_garbage_is_skipped() {
        for c in [
            Command::Add("milk".into()),
            Command::Done("milk".into()),
            Command::Drop("a b".into()),
        ] {
            assert_eq!(Command::decode(&c.encode()), Some(c));
        }
        assert_eq!(Command::decode(b"add "), None);
        assert_eq!(Command::decode(b"\xff\xfe"), None);
        assert_eq!(Command::decode(b"shout milk"), None);
    }

    #[test]
    fn the_fold_follows_the_commands() {
        let mut view = Materialized::new(TodoList);
        let _ = view.apply(&entries(&[
            Command::Add("milk".into()),
            Command::Add("bread".into()),
            Command::Done("milk".into()),
            Command::Done("eggs".into()),
            Command::Drop("bread".into()),
        ]));
        let expected: BTreeMap<String, bool> = [("milk".to_owned(), true)].into();
        assert_eq!(view.state(), &expected);
    }
}
