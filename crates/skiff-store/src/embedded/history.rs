//! Recent history in memory, so that watches and near-past reads rarely touch disk.

use crate::Event;
use std::collections::VecDeque;

/// How many recent events stay in memory; older ones are read from the on-disk log.
const MAX_EVENTS: usize = 20_000;

pub struct History {
    /// Every revision >= `start` is fully present in `events`.
    start: i64,
    events: VecDeque<Event>,
}

impl History {
    /// An empty history that covers revisions from `start` on (nothing before `start` is in memory).
    pub fn new(start: i64) -> Self {
        History { start, events: VecDeque::new() }
    }

    pub fn covers(&self, from: i64) -> bool {
        from >= self.start
    }

    pub fn push(&mut self, events: impl IntoIterator<Item = Event>) {
        self.events.extend(events);
        if self.events.len() > MAX_EVENTS {
            // Drop whole revisions, so `start` stays a revision boundary.
            let cut = self.events[self.events.len() - MAX_EVENTS].revision();
            self.drop_before(cut);
        }
    }

    /// Forgets events older than `rev`.
    pub fn drop_before(&mut self, rev: i64) {
        while self.events.front().is_some_and(|e| e.revision() < rev) {
            self.events.pop_front();
        }
        self.start = self.start.max(rev);
    }

    pub fn between(&self, from: i64, to: i64, prefix: &str) -> Vec<Event> {
        let first = self.events.partition_point(|e| e.revision() < from);
        self.events
            .range(first..)
            .take_while(|e| e.revision() <= to)
            .filter(|e| e.kv.key.starts_with(prefix))
            .cloned()
            .collect()
    }
}
