//! Token buckets as they sit in shared data, and the arithmetic of one request against one. Pure: no SDK calls,
//! so every rule is unit-tested natively.
//!
//! Tokens are counted in thousandths, so a slow rate (1 request per hour) refills smoothly without floating point,
//! and time is the proxy's clock in nanoseconds.

/// A bucket: its tokens (thousandths), when it was last refilled, and whose key it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub millitokens: u64,
    pub refilled_ns: u64,
    pub owner: Vec<u8>,
}

/// What one request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { remaining: u64 },
    Limited { retry_after_ns: u64 },
}

/// A limit as a steady rate with a burst.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub limit: u64,
    pub period_ns: u64,
    pub burst: u64,
}

const ONE: u64 = 1000;

impl Rate {
    fn capacity(&self) -> u64 {
        self.burst * ONE
    }

    /// Thousandths of a token earned in `elapsed_ns`.
    fn earned(&self, elapsed_ns: u64) -> u64 {
        let earned = u128::from(elapsed_ns) * u128::from(self.limit) * u128::from(ONE)
            / u128::from(self.period_ns);
        u64::try_from(earned).unwrap_or(u64::MAX)
    }

    /// Nanoseconds to earn `millitokens`, rounded up.
    fn time_for(&self, millitokens: u64) -> u64 {
        let per = u128::from(self.limit) * u128::from(ONE);
        let ns = (u128::from(millitokens) * u128::from(self.period_ns)).div_ceil(per);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// A full bucket for `owner`.
    pub fn fresh(&self, owner: &[u8], now_ns: u64) -> Bucket {
        Bucket {
            millitokens: self.capacity(),
            refilled_ns: now_ns,
            owner: owner.to_vec(),
        }
    }

    /// Adds what the time since the last refill earned, up to the burst. Only the time that earned whole
    /// thousandths is used up, so a fast stream of requests does not lose the fractions.
    pub fn refill(&self, bucket: &mut Bucket, now_ns: u64) {
        let elapsed = now_ns.saturating_sub(bucket.refilled_ns);
        let earned = self.earned(elapsed);
        let room = self.capacity().saturating_sub(bucket.millitokens);
        if earned >= room {
            bucket.millitokens = self.capacity();
            bucket.refilled_ns = now_ns;
        } else if earned > 0 {
            bucket.millitokens += earned;
            bucket.refilled_ns = bucket
                .refilled_ns
                .saturating_add(self.time_for(earned).min(elapsed));
        }
    }

    pub fn is_full(&self, bucket: &Bucket) -> bool {
        bucket.millitokens >= self.capacity()
    }

    /// One request against the bucket, already refilled.
    pub fn take(&self, bucket: &mut Bucket) -> Decision {
        if bucket.millitokens >= ONE {
            bucket.millitokens -= ONE;
            Decision::Allowed {
                remaining: bucket.millitokens / ONE,
            }
        } else {
            Decision::Limited {
                retry_after_ns: self.time_for(ONE - bucket.millitokens),
            }
        }
    }
}

impl Bucket {
    /// The shared-data value: tokens and refill time (little-endian u64 each), then the owner key.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(16 + self.owner.len());
        bytes.extend_from_slice(&self.millitokens.to_le_bytes());
        bytes.extend_from_slice(&self.refilled_ns.to_le_bytes());
        bytes.extend_from_slice(&self.owner);
        bytes
    }

    /// A stored bucket; `None` for anything that is not one (an empty value: never written, or cleared by hand).
    pub fn decode(bytes: &[u8]) -> Option<Bucket> {
        let millitokens = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let refilled_ns = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(Bucket {
            millitokens,
            refilled_ns,
            owner: bytes[16..].to_vec(),
        })
    }
}

/// Which of `slots` shared-data entries counts `key` (FNV-1a: stable across VMs and Envoy restarts).
pub fn slot(key: &[u8], slots: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(slots)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn rate(limit: u64, period_s: u64, burst: u64) -> Rate {
        Rate {
            limit,
            period_ns: period_s * SECOND,
            burst,
        }
    }

    #[test]
    fn a_full_bucket_allows_the_burst_then_limits_until_a_token_is_earned() {
        let r = rate(2, 1, 3);
        let mut b = r.fresh(b"alice", 0);
        for remaining in [2, 1, 0] {
            assert_eq!(r.take(&mut b), Decision::Allowed { remaining });
        }
        // Two per second: the next token takes half a second.
        assert_eq!(
            r.take(&mut b),
            Decision::Limited {
                retry_after_ns: SECOND / 2
            }
        );
        r.refill(&mut b, SECOND / 4);
        assert_eq!(
            r.take(&mut b),
            Decision::Limited {
                retry_after_ns: SECOND / 4
            }
        );
        r.refill(&mut b, SECOND / 2);
        assert_eq!(r.take(&mut b), Decision::Allowed { remaining: 0 });
    }

    #[test]
    fn refills_stop_at_the_burst_and_keep_fractions() {
        let r = rate(1, 3, 1);
        let mut b = r.fresh(b"k", 0);
        r.take(&mut b);
        // 1 s of 3 earns a third of a token: kept, not rounded away by the next refill.
        r.refill(&mut b, SECOND);
        r.refill(&mut b, 2 * SECOND);
        assert_eq!(b.millitokens, 666);
        r.refill(&mut b, 3 * SECOND);
        assert_eq!(
            b.millitokens, 1000,
            "three thirds make a whole token: no fraction is lost between refills"
        );
        assert_eq!(r.take(&mut b), Decision::Allowed { remaining: 0 });
        r.refill(&mut b, 1000 * SECOND);
        assert!(r.is_full(&b));
    }

    #[test]
    fn a_bucket_reads_back_and_anything_else_is_none() {
        let b = Bucket {
            millitokens: 12_345,
            refilled_ns: 7,
            owner: b"bob/GET".to_vec(),
        };
        assert_eq!(Bucket::decode(&b.encode()), Some(b));
        assert_eq!(Bucket::decode(b""), None);
        assert_eq!(Bucket::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn slots_are_stable_and_in_range() {
        assert_eq!(slot(b"alice", 10_000), slot(b"alice", 10_000));
        assert!((0..1000).all(|i| slot(format!("user-{i}").as_bytes(), 7) < 7));
    }
}
