//! Background work that runs once in a cluster of servers: a job is taken by one server for a
//! lease it keeps renewing; when that server dies the lease runs out and another takes the job
//! over. Periodic work (publishing the chains' heads, supervising late requests) is one job per
//! period, named by the period's slot, so that every server can offer it and only one runs it.

/// How long a server holds a job without renewing its lease (it renews every second).
pub const LEASE_MS: i64 = 15_000;

/// How many servers may take a job before it is given up as failed (a job that kills its server).
pub const MAX_ATTEMPTS: i64 = 3;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a server to take it.
    Queued,
    /// Taken by a server whose lease runs until `lease_until`.
    Running,
    Done,
    Failed,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<JobState> {
        [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed].into_iter().find(|j| j.as_str() == s)
    }

    /// Still to finish (queued or running).
    pub fn open(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// What a server may do with a job it finds (the rule the store's claim applies in SQL; the test
/// `jobs_are_taken_once_and_taken_over_when_a_lease_runs_out` checks the SQL against it case by case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Take it (queued, or its holder's lease ran out with attempts left).
    Take,
    /// Give it up as failed: its holders died [`MAX_ATTEMPTS`] times.
    GiveUp,
    /// Leave it (held under a live lease, or finished).
    Leave,
}

/// Whether a job in `state` with a lease until `lease_until` (ms) after `attempts` takes may be
/// taken at `now` (ms).
pub fn take(state: JobState, lease_until: i64, attempts: i64, now: i64) -> Take {
    match state {
        JobState::Queued => Take::Take,
        JobState::Running if lease_until < now && attempts >= MAX_ATTEMPTS => Take::GiveUp,
        JobState::Running if lease_until < now => Take::Take,
        _ => Take::Leave,
    }
}

/// The slot of a periodic job at `now_ms`: the same for every server within one period of
/// `every_ms`, the period's start as milliseconds since the epoch.
pub fn slot(now_ms: i64, every_ms: i64) -> String {
    let every = every_ms.max(1);
    now_ms.div_euclid(every).saturating_mul(every).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_held_job_is_taken_over_only_when_its_lease_ran_out() {
        assert_eq!(take(JobState::Queued, 0, 0, 10), Take::Take);
        assert_eq!(take(JobState::Running, 20, 1, 10), Take::Leave);
        assert_eq!(take(JobState::Running, 9, 1, 10), Take::Take);
        assert_eq!(take(JobState::Running, 9, MAX_ATTEMPTS, 10), Take::GiveUp);
        assert_eq!(take(JobState::Done, 0, 1, 10), Take::Leave);
        assert_eq!(take(JobState::Failed, 0, 1, 10), Take::Leave);
    }

    #[test]
    fn states_read_back() {
        for s in [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobState::parse("x"), None);
        assert!(JobState::Running.open() && !JobState::Done.open());
    }

    proptest! {
        #[test]
        fn one_slot_per_period(t in -1_000_000_000_000i64..10_000_000_000_000, every in 1i64..100_000_000) {
            let s: i64 = slot(t, every).parse().unwrap();
            prop_assert!(s <= t && t - s < every);
            prop_assert_eq!(slot(s, every), slot(s + every - 1, every));
            prop_assert_ne!(slot(s, every), slot(s + every, every));
        }
    }
}
