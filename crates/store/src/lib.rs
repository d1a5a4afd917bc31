//! Huanxin's storage: the same SQL and the same code path on embedded SQLite (default) and PostgreSQL.
//!
//! Queries are written once with `$1`-style placeholders (both engines accept them) and run through
//! [`Db`] or [`Tx`], which pick the engine at run time. Each domain area has its own module.

pub mod acceptance;
pub mod accounts;
pub mod alarms;
pub mod approvals;
pub mod archive;
pub mod assessment;
pub mod audit;
pub mod backup;
pub mod chains;
pub mod clock;
pub mod cluster;
pub mod construction;
mod db;
pub mod decisions;
pub mod error;
pub mod estates;
pub mod evaluation;
pub mod files;
pub mod funds;
pub mod grids;
mod group_commit;
pub mod imports;
pub mod jobs;
pub mod late;
pub mod lifecycle;
mod migrations;
pub mod notices;
pub mod plans;
pub mod projects;
pub mod public;
pub mod ranking;
pub mod reach;
pub mod regions;
pub mod reports;
pub mod requests;
pub mod residents;
pub mod review;
pub mod schemes;
pub mod statistics;
pub mod surveys;
pub mod work;

pub use db::{Arg, Db, Engine, Tx};
pub use error::StoreError;
pub use files::{ReceiveError, Receiving, Upload};
pub use group_commit::Steps;

/// Today in China (China Standard Time, UTC+8 all year): the day deadlines, working days and
/// lateness are counted in, wherever the server's clock is set.
pub fn today() -> chrono::NaiveDate {
    (clock::utc_now() + chrono::Duration::hours(8)).date_naive()
}

/// The time now as stored: RFC 3339 in UTC.
pub fn now() -> String {
    clock::utc_now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
