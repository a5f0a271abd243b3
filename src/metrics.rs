//! The filter's counters, as named in the public contract (Envoy stats).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    SessionsCreated,
    SessionsResumed,
    SessionsExpired,
    TokensRejected,
    BodiesRewritten,
    RewriteSkipped,
    StoreErrors,
    /// Every eviction: the sum of the two kinds below.
    StoreEvictions,
    /// A session evicted that was never resumed (a one-shot session, still on probation).
    StoreEvictionsOneShot,
    /// A session evicted that had been resumed at least once (pushed back to probation first).
    StoreEvictionsResumed,
    RequestsRefused,
    SessionsRotated,
    /// A session found in the table of another `max_sessions` (before a configuration update)
    /// and moved into this store's.
    StoreSessionsMoved,
    /// A table of another `max_sessions` dropped, none of its sessions used for its idle timeout.
    StoreTablesDropped,
}

impl Metric {
    pub const ALL: [Metric; 14] = [
        Metric::SessionsCreated,
        Metric::SessionsResumed,
        Metric::SessionsExpired,
        Metric::TokensRejected,
        Metric::BodiesRewritten,
        Metric::RewriteSkipped,
        Metric::StoreErrors,
        Metric::StoreEvictions,
        Metric::StoreEvictionsOneShot,
        Metric::StoreEvictionsResumed,
        Metric::RequestsRefused,
        Metric::SessionsRotated,
        Metric::StoreSessionsMoved,
        Metric::StoreTablesDropped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::SessionsCreated => "cookieless_sessions_created",
            Metric::SessionsResumed => "cookieless_sessions_resumed",
            Metric::SessionsExpired => "cookieless_sessions_expired",
            Metric::TokensRejected => "cookieless_tokens_rejected",
            Metric::BodiesRewritten => "cookieless_bodies_rewritten",
            Metric::RewriteSkipped => "cookieless_rewrite_skipped",
            Metric::StoreErrors => "cookieless_store_errors",
            Metric::StoreEvictions => "cookieless_store_evictions",
            Metric::StoreEvictionsOneShot => "cookieless_store_evictions_one_shot",
            Metric::StoreEvictionsResumed => "cookieless_store_evictions_resumed",
            Metric::RequestsRefused => "cookieless_requests_refused",
            Metric::SessionsRotated => "cookieless_sessions_rotated",
            Metric::StoreSessionsMoved => "cookieless_store_sessions_moved",
            Metric::StoreTablesDropped => "cookieless_store_tables_dropped",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}
