//! Fraud signals (DESIGN.md section 6). They flag, never drop: flagged clicks and
//! conversions are stored and counted like the others, reports show how many there are, and
//! per-click and per-conversion fees leave them out.
//!
//! - A **burst**: more than a set number of clicks on one link within a minute from one
//!   visitor or one address; the clicks past that number are flagged.
//! - A **fast conversion**: less than a set number of seconds after its click.
//! - A **leaked code**: a conversion credited to a code whose order carries no click on one
//!   of that influencer's links (the code travelled without its influencer).

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, Hash},
};

use chrono::{DateTime, Duration, Utc};

/// Remembers the last minute of clicks per link and visitor, and per link and address.
///
/// A click's flag depends only on the clicks before it within the window, and seeing a
/// click again (a batch retried after a failed write) does not count it twice, so a retry
/// flags nothing new below the limit. Memory: at most `limit + 1` clicks per source (past
/// that, older clicks no longer decide anything), for the sources of the last two minutes
/// of click time. Flags only ever reach storage with the rows they belong to, so a retry
/// cannot make the rollups disagree with the facts.
#[derive(Debug)]
pub struct BurstDetector {
    limit: usize,
    window_ms: i64,
    recent: HashMap<u64, VecDeque<(i64, u64)>, foldhash::fast::FixedState>,
    newest_ms: i64,
    pruned_at_ms: i64,
}

impl BurstDetector {
    /// `limit` clicks a minute from one source on one link are fine; 0 turns detection off.
    pub fn new(limit: usize) -> Self {
        BurstDetector {
            limit,
            window_ms: 60_000,
            recent: HashMap::default(),
            newest_ms: i64::MIN,
            pruned_at_ms: i64::MIN,
        }
    }

    /// Whether this click is past the limit for its visitor or for its address.
    pub fn is_burst(
        &mut self,
        link_id: i64,
        visitor: &str,
        address: Option<&str>,
        click_id: &str,
        at: DateTime<Utc>,
    ) -> bool {
        if self.limit == 0 {
            return false;
        }
        let at_ms = at.timestamp_millis();
        self.newest_ms = self.newest_ms.max(at_ms);
        let click = hash(&click_id);
        let by_visitor = self.observe(hash(&(link_id, "visitor", visitor)), at_ms, click);
        let by_address = address.map_or(0, |a| {
            self.observe(hash(&(link_id, "address", a)), at_ms, click)
        });
        by_visitor.max(by_address) > self.limit
    }

    /// Records the click under `key`; returns how many clicks of `key` fall within the
    /// window ending at `at_ms`, this one included.
    fn observe(&mut self, key: u64, at_ms: i64, click: u64) -> usize {
        let clicks = self.recent.entry(key).or_default();
        if !clicks.contains(&(at_ms, click)) {
            let position = clicks.partition_point(|&(t, c)| (t, c) < (at_ms, click));
            clicks.insert(position, (at_ms, click));
            // Past the limit, older clicks no longer change any flag.
            if clicks.len() > self.limit + 1 {
                clicks.pop_front();
            }
        }
        let from = at_ms - self.window_ms;
        clicks
            .iter()
            .filter(|&&(t, c)| t > from && (t, c) <= (at_ms, click))
            .count()
    }

    /// Forgets clicks well out of the window of the newest one seen. It walks every
    /// source, so it walks at most once per window of click time: the worker calls it
    /// after every batch, and walking tens of thousands of sources after each of many
    /// small batches took a fifth of the worker's CPU at a steady 20 000 clicks/s.
    pub fn prune(&mut self) {
        if self.newest_ms.saturating_sub(self.pruned_at_ms) < self.window_ms {
            return;
        }
        self.pruned_at_ms = self.newest_ms;
        let keep_after = self.newest_ms.saturating_sub(2 * self.window_ms);
        self.recent.retain(|_, clicks| {
            while clicks.front().is_some_and(|&(t, _)| t <= keep_after) {
                clicks.pop_front();
            }
            !clicks.is_empty()
        });
    }

    pub fn tracked(&self) -> usize {
        self.recent.len()
    }
}

/// Fixed, so a click seen again hashes the same; a quality hash, as sources are told apart
/// by these 64 bits alone.
fn hash(value: &impl Hash) -> u64 {
    foldhash::quality::FixedState::with_seed(0x6174_7472_6962).hash_one(value)
}

/// What a conversion's order says about where it came from.
#[derive(Debug, Clone, Copy)]
pub struct ConversionFacts {
    /// Credited through a code (rather than a click).
    pub via_code: bool,
    pub credited_influencer: i64,
    pub occurred_at: DateTime<Utc>,
    /// The order's click: its link's influencer and when it was made.
    pub click: Option<(i64, DateTime<Utc>)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversionFlags {
    pub fast: bool,
    pub leaked_code: bool,
}

impl ConversionFlags {
    pub fn of(facts: &ConversionFacts, fast_under: Duration) -> Self {
        ConversionFlags {
            fast: facts
                .click
                .is_some_and(|(_, clicked_at)| facts.occurred_at - clicked_at < fast_under),
            leaked_code: facts.via_code
                && facts
                    .click
                    .is_none_or(|(influencer, _)| influencer != facts.credited_influencer),
        }
    }

    pub fn any(&self) -> bool {
        self.fast || self.leaked_code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn clicks_past_the_limit_within_a_minute_are_a_burst() {
        let mut d = BurstDetector::new(3);
        let flags: Vec<bool> = (0..5)
            .map(|i| d.is_burst(1, "v", Some("10.0.0.1"), &format!("c{i}"), at(i)))
            .collect();
        assert_eq!(flags, [false, false, false, true, true]);
        // A minute later the same visitor starts afresh; another link is another count
        assert!(!d.is_burst(1, "v", None, "later", at(70)));
        assert!(!d.is_burst(2, "v", None, "other", at(4)));
    }

    #[test]
    fn an_address_bursts_however_many_visitors_it_pretends_to_be() {
        let mut d = BurstDetector::new(2);
        let flags: Vec<bool> = (0..4)
            .map(|i| {
                d.is_burst(
                    1,
                    &format!("v{i}"),
                    Some("10.0.0.1"),
                    &format!("c{i}"),
                    at(i),
                )
            })
            .collect();
        assert_eq!(flags, [false, false, true, true]);
    }

    #[test]
    fn a_retried_batch_is_not_counted_twice() {
        let mut d = BurstDetector::new(2);
        for _attempt in 0..3 {
            let flags: Vec<bool> = (0..2)
                .map(|i| d.is_burst(1, "v", None, &format!("c{i}"), at(i)))
                .collect();
            assert_eq!(flags, [false, false]);
        }
        assert!(d.is_burst(1, "v", None, "c2", at(2)));
    }

    #[test]
    fn sources_out_of_the_window_are_forgotten() {
        let mut d = BurstDetector::new(2);
        d.is_burst(1, "old", None, "c0", at(0));
        d.is_burst(1, "new", None, "c1", at(200));
        d.prune();
        assert_eq!(d.tracked(), 1);
    }

    #[test]
    fn pruning_walks_the_sources_once_a_window() {
        let mut d = BurstDetector::new(2);
        d.is_burst(1, "a", None, "c0", at(0));
        d.is_burst(1, "b", None, "c1", at(130));
        d.prune(); // drops a, which is more than two windows older than b
        d.is_burst(1, "c", None, "c2", at(131));
        d.is_burst(1, "d", None, "c3", at(185));
        d.prune(); // less than a window since the last walk: keeps b, c and d
        assert_eq!(d.tracked(), 3);
        d.is_burst(1, "e", None, "c4", at(300));
        d.prune(); // a window later: b and c are out
        assert_eq!(d.tracked(), 2);
    }

    #[test]
    fn a_zero_limit_flags_nothing() {
        let mut d = BurstDetector::new(0);
        assert!((0..100).all(|i| !d.is_burst(1, "v", None, &i.to_string(), at(0))));
    }

    #[test]
    fn conversions_are_flagged_fast_and_leaked() {
        let facts = ConversionFacts {
            via_code: true,
            credited_influencer: 7,
            occurred_at: at(100),
            click: Some((7, at(90))),
        };
        let fast_under = Duration::seconds(15);
        assert_eq!(
            ConversionFlags::of(&facts, fast_under),
            ConversionFlags {
                fast: true,
                leaked_code: false
            }
        );
        let someone_elses_click = ConversionFacts {
            click: Some((8, at(0))),
            ..facts
        };
        assert_eq!(
            ConversionFlags::of(&someone_elses_click, fast_under),
            ConversionFlags {
                fast: false,
                leaked_code: true
            }
        );
        let no_click = ConversionFacts {
            click: None,
            ..facts
        };
        assert!(ConversionFlags::of(&no_click, fast_under).leaked_code);
        let by_click = ConversionFacts {
            via_code: false,
            click: Some((7, at(0))),
            ..facts
        };
        assert!(!ConversionFlags::of(&by_click, fast_under).any());
    }
}
