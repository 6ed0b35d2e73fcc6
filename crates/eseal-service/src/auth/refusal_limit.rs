//! The rate limit of audited refusals: a token bucket per principal (per peer address for
//! callers that are not authenticated), so that a caller cannot turn refusals into an
//! unbounded stream of durable audit records. A refusal within the bucket is recorded one by
//! one; beyond it, the refusal is still answered, and counted in a pending summary that the
//! service writes as one record per key and interval.
//!
//! Callers that are not authenticated also share one bucket between them all
//! ([`UNAUTHENTICATED_SHARE`] times a key's): a refusal of theirs is recorded one by one only
//! while both its address's bucket and the shared one hold a token, so that many addresses
//! (an IPv6 prefix counts as one: [`RefusalKey::peer`]) add no more records than a few.
//!
//! Memory is bounded: at most [`MAX_KEYS`] peer addresses are tracked. Principals come from the
//! configuration and always keep their own bucket (a flood of addresses can neither evict nor
//! hide them); when the table of addresses is full, buckets that hold nothing (full again, no
//! pending summary) are dropped, and if none can be, further addresses share one overflow
//! bucket.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use eseal_audit::{AuditEvent, EventKind};

/// At most this many peer addresses have a bucket of their own.
pub const MAX_KEYS: usize = 10_000;

/// The bucket that all callers that are not authenticated share is this many times a key's
/// (its burst and its refill rate).
pub const UNAUTHENTICATED_SHARE: f64 = 2.0;

/// At most this many distinct methods are named in one summary; further ones count as `other`.
const MAX_METHODS: usize = 16;

/// A full table is searched for buckets to drop at most this often: a flood of new addresses
/// must not make every refusal scan the table.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Whose refusals share a bucket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RefusalKey {
    /// An authenticated principal, by name.
    Principal(String),
    /// A caller that is not authenticated, by its IP address (see [`RefusalKey::peer`]).
    Peer(IpAddr),
    /// Every peer address beyond the [`MAX_KEYS`] tracked.
    Overflow,
}

impl RefusalKey {
    /// The key of a caller that is not authenticated, from `ip`: an IPv4 address itself, an
    /// IPv6 address by its /64 prefix (one host is commonly given a whole /64).
    pub fn peer(ip: IpAddr) -> RefusalKey {
        match ip {
            IpAddr::V4(_) => RefusalKey::Peer(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => RefusalKey::Peer(IpAddr::V4(v4)),
                None => RefusalKey::Peer(IpAddr::V6(std::net::Ipv6Addr::from(
                    v6.to_bits() & !u128::from(u64::MAX),
                ))),
            },
        }
    }
}

/// Refusals counted instead of recorded, for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// How many.
    pub count: u64,
    /// The first and last one (Unix seconds).
    pub first: i64,
    /// See `first`.
    pub last: i64,
    /// Per method (at most [`MAX_METHODS`] names, then `other`).
    pub methods: BTreeMap<String, u64>,
    /// Per reason (the metric's reason words).
    pub reasons: BTreeMap<&'static str, u64>,
    /// The peer address of the latest one.
    pub peer: Option<IpAddr>,
}

impl Pending {
    fn add(&mut self, method: &str, reason: &'static str, peer: Option<IpAddr>, now: i64) {
        if self.count == 0 {
            self.first = now;
        }
        self.count += 1;
        self.first = self.first.min(now);
        self.last = self.last.max(now);
        self.count_method(method, 1);
        *self.reasons.entry(reason).or_default() += 1;
        if peer.is_some() {
            self.peer = peer;
        }
    }

    /// Counts `n` refusals of `method`: under its own name among the first [`MAX_METHODS`],
    /// else under `other`.
    fn count_method(&mut self, method: &str, n: u64) {
        let method = if self.methods.len() < MAX_METHODS || self.methods.contains_key(method) {
            method
        } else {
            "other"
        };
        *self.methods.entry(method.to_string()).or_default() += n;
    }

    fn merge(&mut self, other: Pending) {
        if other.count == 0 {
            return;
        }
        self.first = if self.count == 0 { other.first } else { self.first.min(other.first) };
        self.last = self.last.max(other.last);
        self.count += other.count;
        for (method, n) in other.methods {
            self.count_method(&method, n);
        }
        for (reason, n) in other.reasons {
            *self.reasons.entry(reason).or_default() += n;
        }
        self.peer = other.peer.or(self.peer);
    }
}

/// A summary to write: the key and what was counted for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Whose refusals.
    pub key: RefusalKey,
    /// What was counted.
    pub pending: Pending,
}

impl Summary {
    /// The summary's audit record.
    pub fn to_event(&self) -> AuditEvent {
        let p = &self.pending;
        let principal = match &self.key {
            RefusalKey::Principal(name) => name.clone(),
            RefusalKey::Peer(_) | RefusalKey::Overflow => "anonymous".into(),
        };
        let mut event = AuditEvent::new(EventKind::RefusalsSummarized, principal);
        event.peer = match &self.key {
            RefusalKey::Peer(ip) => Some(ip.to_string()),
            RefusalKey::Principal(_) => p.peer.map(|ip| ip.to_string()),
            RefusalKey::Overflow => None,
        };
        let counted = |items: Vec<(String, u64)>| {
            items
                .into_iter()
                .map(|(name, n)| format!("{name} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        event.method = Some(counted(p.methods.iter().map(|(m, n)| (m.clone(), *n)).collect()));
        let whose = match self.key {
            RefusalKey::Overflow => format!(
                " (callers not authenticated, from addresses beyond the {MAX_KEYS} tracked)"
            ),
            _ => String::new(),
        };
        event.reason = Some(format!(
            "{} refusals beyond the audit rate limit, answered but not recorded one by one{whose}: {}",
            p.count,
            counted(p.reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect())
        ));
        event.count = Some(p.count);
        event.interval_start = Some(p.first);
        event.interval_end = Some(p.last);
        event
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
    pending: Pending,
}

impl Bucket {
    fn refill(&mut self, at: Instant, burst: f64, refill: f64) {
        let elapsed = at.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * refill).min(burst);
        self.updated = self.updated.max(at);
    }
}

struct Table {
    buckets: HashMap<RefusalKey, Bucket>,
    /// How many of `buckets` are peer addresses (or the overflow).
    peers: usize,
    /// Shared by every caller that is not authenticated.
    unauthenticated: Bucket,
    last_prune: Option<Instant>,
}

/// Token buckets of audited refusals, per key.
pub struct RefusalLimiter {
    burst: f64,
    refill: f64,
    max_keys: usize,
    table: std::sync::Mutex<Table>,
}

impl RefusalLimiter {
    /// Buckets of `burst` refusals, refilled at `refill_per_second`.
    pub fn new(burst: u32, refill_per_second: f64) -> Self {
        Self::with_capacity(burst, refill_per_second, MAX_KEYS)
    }

    fn with_capacity(burst: u32, refill_per_second: f64, max_keys: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill: refill_per_second.max(0.0),
            max_keys,
            table: std::sync::Mutex::new(Table {
                buckets: HashMap::new(),
                peers: 0,
                unauthenticated: Bucket {
                    tokens: f64::INFINITY,
                    updated: Instant::now(),
                    pending: Pending::default(),
                },
                last_prune: None,
            }),
        }
    }

    /// Whether a refusal of `key` is recorded one by one (`true`), or counted for a summary
    /// (`false`). `at` drives the buckets, `now` (Unix seconds) is what summaries report.
    pub fn admit(
        &self,
        key: RefusalKey,
        method: &str,
        reason: &'static str,
        peer: Option<IpAddr>,
        at: Instant,
        now: i64,
    ) -> bool {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let authenticated = matches!(key, RefusalKey::Principal(_));
        let key = if authenticated { key } else { self.tracked_key(&mut table, key, at) };
        let (burst, refill) = (self.burst, self.refill);
        let table = &mut *table;
        if !authenticated && !table.buckets.contains_key(&key) {
            table.peers += 1;
        }
        let bucket = table.buckets.entry(key).or_insert_with(|| Bucket {
            tokens: burst,
            updated: at,
            pending: Pending::default(),
        });
        bucket.refill(at, burst, refill);
        let shared = &mut table.unauthenticated;
        if !authenticated {
            shared.refill(at, burst * UNAUTHENTICATED_SHARE, refill * UNAUTHENTICATED_SHARE);
        }
        if bucket.tokens >= 1.0 && (authenticated || shared.tokens >= 1.0) {
            bucket.tokens -= 1.0;
            if !authenticated {
                shared.tokens -= 1.0;
            }
            return true;
        }
        bucket.pending.add(method, reason, peer, now);
        false
    }

    /// The peer `key` itself when it has a bucket or one can be made for it, else
    /// [`RefusalKey::Overflow`].
    fn tracked_key(&self, table: &mut Table, key: RefusalKey, at: Instant) -> RefusalKey {
        if table.buckets.contains_key(&key) || table.peers < self.max_keys {
            return key;
        }
        if table.last_prune.is_none_or(|last| at.saturating_duration_since(last) >= PRUNE_EVERY) {
            table.last_prune = Some(at);
            let (burst, refill) = (self.burst, self.refill);
            // A bucket that is full again and has nothing pending is the same as no bucket.
            let mut dropped = 0;
            table.buckets.retain(|k, b| {
                b.refill(at, burst, refill);
                let keep = matches!(k, RefusalKey::Principal(_) | RefusalKey::Overflow)
                    || b.tokens < burst
                    || b.pending.count > 0;
                dropped += usize::from(!keep);
                keep
            });
            table.peers -= dropped;
        }
        if table.peers < self.max_keys { key } else { RefusalKey::Overflow }
    }

    /// Takes every pending summary (leaving the buckets' tokens as they are).
    pub fn take_summaries(&self) -> Vec<Summary> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let mut summaries: Vec<Summary> = table
            .buckets
            .iter_mut()
            .filter(|(_, b)| b.pending.count > 0)
            .map(|(key, b)| Summary { key: key.clone(), pending: std::mem::take(&mut b.pending) })
            .collect();
        summaries.sort_by_key(|s| s.pending.first);
        summaries
    }

    /// Puts back a summary that could not be written, to be written with the next ones.
    pub fn restore(&self, summary: Summary, at: Instant) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let burst = self.burst;
        if !matches!(summary.key, RefusalKey::Principal(_))
            && !table.buckets.contains_key(&summary.key)
        {
            table.peers += 1;
        }
        let bucket = table.buckets.entry(summary.key).or_insert_with(|| Bucket {
            tokens: burst,
            updated: at,
            pending: Pending::default(),
        });
        bucket.pending.merge(summary.pending);
    }

    /// How many keys have a bucket.
    pub fn tracked(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn a_burst_then_the_refill_rate_then_a_summary() {
        let limiter = RefusalLimiter::new(3, 2.0);
        let t0 = Instant::now();
        let key = || RefusalKey::Principal("approval-system".into());
        let admitted: Vec<bool> = (0..10)
            .map(|_| limiter.admit(key(), "GetSeal", "permission_denied", None, t0, 1000))
            .collect();
        assert_eq!(admitted.iter().filter(|a| **a).count(), 3, "the burst");
        // Half a second later, one more token (2 per second).
        assert!(limiter.admit(
            key(),
            "GetSeal",
            "permission_denied",
            None,
            t0 + Duration::from_millis(500),
            1001
        ));
        assert!(!limiter.admit(
            key(),
            "ListSeals",
            "permission_denied",
            Some(peer(1)),
            t0 + Duration::from_millis(500),
            1001
        ));
        // Another principal has its own bucket.
        assert!(limiter.admit(
            RefusalKey::Principal("custodian-wang".into()),
            "GetSeal",
            "permission_denied",
            None,
            t0,
            1000
        ));

        let summaries = limiter.take_summaries();
        assert_eq!(summaries.len(), 1);
        let s = &summaries[0];
        assert_eq!(
            (s.key.clone(), s.pending.count, s.pending.first, s.pending.last),
            (key(), 8, 1000, 1001)
        );
        assert_eq!(
            s.pending.methods,
            BTreeMap::from([("GetSeal".to_string(), 7), ("ListSeals".to_string(), 1)])
        );
        let event = s.to_event();
        assert_eq!(event.event, Some(EventKind::RefusalsSummarized));
        assert_eq!(
            (event.principal.as_str(), event.count, event.peer.as_deref()),
            ("approval-system", Some(8), Some("10.0.0.1"))
        );
        assert_eq!(event.method.as_deref(), Some("GetSeal (7), ListSeals (1)"));
        assert!(
            event.reason.as_deref().unwrap().starts_with("8 refusals beyond the audit rate limit"),
            "{:?}",
            event.reason
        );
        assert!(limiter.take_summaries().is_empty(), "taken once");

        // Not written: put back, and merged with what comes next.
        limiter.restore(s.clone(), t0);
        assert!(!limiter.admit(
            key(),
            "GetSeal",
            "permission_denied",
            None,
            t0 + Duration::from_millis(500),
            1002
        ));
        let again = limiter.take_summaries();
        assert_eq!(
            (again[0].pending.count, again[0].pending.first, again[0].pending.last),
            (9, 1000, 1002)
        );
    }

    #[test]
    fn many_peers_cannot_grow_the_table() {
        let limiter = RefusalLimiter::with_capacity(2, 0.001, 100);
        let t0 = Instant::now();
        let mut overflowed = 0;
        for i in 0..10_000 {
            // Each address spends its bucket, so none can be dropped.
            for _ in 0..3 {
                if !limiter.admit(
                    RefusalKey::Peer(peer(i)),
                    "ListSeals",
                    "unauthenticated",
                    Some(peer(i)),
                    t0,
                    1000,
                ) && i >= 100
                {
                    overflowed += 1;
                }
            }
        }
        assert_eq!(limiter.tracked(), 101, "100 keys and the overflow bucket");
        assert!(overflowed > 0);
        let summaries = limiter.take_summaries();
        let total: u64 = summaries.iter().map(|s| s.pending.count).sum();
        // Every refusal is either recorded or counted; all the addresses together are recorded
        // no more than the shared bucket holds (2 x a burst of 2).
        assert_eq!(total, 30_000 - 4);
        assert!(
            summaries.iter().any(|s| s.key == RefusalKey::Overflow && s.to_event().peer.is_none())
        );

        // Buckets that are full again and hold nothing are dropped to make room.
        let later = t0 + Duration::from_secs(10_000);
        assert!(limiter.admit(
            RefusalKey::Peer(peer(50_000)),
            "ListSeals",
            "unauthenticated",
            None,
            later,
            20_000
        ));
        assert!(limiter.tracked() <= 3, "{}", limiter.tracked());
    }

    #[test]
    fn many_addresses_share_one_budget_and_an_ipv6_prefix_is_one_address() {
        let limiter = RefusalLimiter::new(5, 1.0);
        let t0 = Instant::now();
        let recorded = (0..1000)
            .filter(|i| {
                limiter.admit(
                    RefusalKey::peer(peer(*i)),
                    "GetSeal",
                    "unauthenticated",
                    Some(peer(*i)),
                    t0,
                    1000,
                )
            })
            .count();
        assert_eq!(
            recorded, 10,
            "a thousand addresses, one refusal each: the shared bucket (2 x 5) is the bound"
        );
        let total: u64 = limiter.take_summaries().iter().map(|s| s.pending.count).sum();
        assert_eq!(total, 990, "the others are counted, each under its address");

        let v6 = |text: &str| RefusalKey::peer(text.parse().unwrap());
        assert_eq!(v6("2001:db8:1:2:aaaa::1"), v6("2001:db8:1:2:ffff:ffff:ffff:ffff"), "one /64");
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"), "another /64");
        assert_eq!(
            v6("::ffff:192.0.2.7"),
            RefusalKey::Peer("192.0.2.7".parse().unwrap()),
            "an IPv4 address seen over IPv6"
        );
        assert_ne!(
            RefusalKey::peer(peer(1)),
            RefusalKey::peer(peer(2)),
            "IPv4 addresses are their own"
        );
    }

    #[test]
    fn a_flood_of_addresses_neither_evicts_nor_hides_a_principal() {
        let limiter = RefusalLimiter::with_capacity(2, 0.001, 10);
        let t0 = Instant::now();
        for i in 0..100 {
            for _ in 0..3 {
                limiter.admit(
                    RefusalKey::peer(peer(i)),
                    "ListSeals",
                    "unauthenticated",
                    Some(peer(i)),
                    t0,
                    1000,
                );
            }
        }
        // The shared bucket of callers not authenticated is empty; a principal's is its own.
        let insider = || RefusalKey::Principal("approval-system".into());
        assert!(
            limiter.admit(insider(), "GetSeal", "permission_denied", None, t0, 1000),
            "recorded one by one"
        );
        assert!(limiter.admit(insider(), "GetSeal", "permission_denied", None, t0, 1000));
        assert!(
            !limiter.admit(insider(), "GetSeal", "permission_denied", None, t0, 1000),
            "its own burst of 2"
        );
        let summaries = limiter.take_summaries();
        let insider_summary =
            summaries.iter().find(|s| s.key == insider()).expect("the principal's own summary");
        assert_eq!(
            (insider_summary.pending.count, insider_summary.to_event().principal.as_str()),
            (1, "approval-system")
        );
        assert_eq!(limiter.tracked(), 10 + 1 + 1, "10 addresses, the overflow and the principal");
    }
}
