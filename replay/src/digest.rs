//! The determinism digest: a SHA-256 over every event published, in order.

use sha2::{Digest, Sha256};
use tickforge_engine::record::{Record, RECORD_SIZE};

/// Events hashed per update call: small updates cost more than the hashing itself.
const BATCH: usize = 256;

/// Hashes published events; two runs published the same events in the same order exactly
/// when their digests are equal. The digest is SHA-256 of the events' 64-byte records, as
/// written to shared memory, concatenated.
#[derive(Clone)]
pub struct EventDigest {
    hasher: Sha256,
    buf: Vec<u8>,
    events: u64,
}

impl Default for EventDigest {
    fn default() -> Self {
        EventDigest {
            hasher: Sha256::new(),
            buf: Vec::with_capacity(BATCH * RECORD_SIZE),
            events: 0,
        }
    }
}

impl EventDigest {
    /// An empty digest.
    pub fn new() -> Self {
        EventDigest::default()
    }

    /// Adds one published event.
    #[inline]
    pub fn add(&mut self, r: &Record) {
        self.buf.extend_from_slice(r.as_bytes());
        self.events += 1;
        if self.buf.len() >= BATCH * RECORD_SIZE {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    /// Events added.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The digest as 64 lower-case hex digits.
    pub fn hex(&self) -> String {
        let mut h = self.hasher.clone();
        h.update(&self.buf);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_engine::record::{Side, TradeRecord};

    fn trade(i: i64) -> Record {
        Record::from(TradeRecord::new(1, 0, i, i, i, 1, Side::Buy, i as u64))
    }

    #[test]
    fn the_digest_is_sha256_of_the_records_whatever_the_batching() {
        let mut d = EventDigest::new();
        let mut all = Vec::new();
        for i in 0..1000 {
            let r = trade(i);
            all.extend_from_slice(r.as_bytes());
            d.add(&r);
        }
        let direct: String = Sha256::digest(&all)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(d.hex(), direct);
        assert_eq!(d.events(), 1000);
        let mut other = EventDigest::new();
        for i in (0..1000).rev() {
            other.add(&trade(i));
        }
        assert_ne!(other.hex(), d.hex(), "order matters");
    }
}
