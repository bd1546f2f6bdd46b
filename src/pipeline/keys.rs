//! The one place that names Redis keys.
//!
//! Streams are sharded into N keys whose hash tags (`{s0}` … `{sN-1}`) spread them over a
//! Redis Cluster; every multi-key operation stays within one shard's tag.

/// The consumer group every worker reads the event streams in.
pub const GROUP: &str = "ingest";

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    shards: usize,
}

impl Keys {
    pub fn new(prefix: &str, shards: usize) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            shards: shards.max(1),
        }
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The event stream of shard `shard`.
    pub fn stream(&self, shard: usize) -> String {
        format!("{}{{s{}}}:events", self.prefix, shard % self.shards)
    }

    /// Where undecodable entries of shard `shard` go, with the reason.
    pub fn dead_letter(&self, shard: usize) -> String {
        format!("{}{{s{}}}:dead", self.prefix, shard % self.shards)
    }

    /// Counter of recorded clicks of a link, for `max_clicks`.
    pub fn link_clicks(&self, link_id: i64) -> String {
        format!("{}link:{link_id}:clicks", self.prefix)
    }

    /// Pub/sub channel announcing changed links (payload: the slug) to every process.
    pub fn link_changes(&self) -> String {
        format!("{}links:changed", self.prefix)
    }

    /// Pub/sub channel announcing changed promo codes (payload: the code).
    pub fn code_changes(&self) -> String {
        format!("{}codes:changed", self.prefix)
    }

    /// Pub/sub channel announcing revoked API keys (payload: the key's prefix).
    pub fn key_changes(&self) -> String {
        format!("{}keys:changed", self.prefix)
    }

    /// The shard of a link's events: all clicks of one link land in one stream.
    pub fn shard_of(&self, link_id: i64) -> usize {
        (link_id.unsigned_abs() % self.shards as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_carry_their_shard_hash_tag() {
        let keys = Keys::new("attrib:", 4);
        assert_eq!(keys.stream(0), "attrib:{s0}:events");
        assert_eq!(keys.dead_letter(3), "attrib:{s3}:dead");
        assert_eq!(keys.stream(5), "attrib:{s1}:events");
        assert!((0..100).all(|id| keys.shard_of(id) < 4));
    }
}
