//! Huanxin's domain: the words of DESIGN.md as validated types and pure rules, with no I/O.
//!
//! One module per domain area; storage, HTTP and the CLI are built around these types.

pub mod acceptance;
pub mod access;
pub mod alarms;
pub mod approvals;
pub mod archive;
pub mod assessment;
pub mod calendar;
pub mod chain;
pub mod construction;
pub mod decisions;
pub mod error;
pub mod estates;
pub mod evaluation;
pub mod funds;
pub mod geo;
pub mod grids;
pub mod jobs;
pub mod lifecycle;
pub mod notices;
pub mod photos;
pub mod plans;
pub mod privacy;
pub mod projects;
pub mod ranking;
pub mod reasons;
pub mod regions;
pub mod reports;
pub mod requests;
pub mod residents;
pub mod review;
pub mod schemes;
pub mod sheets;
pub mod statistics;
pub mod surveys;
pub mod units;
pub mod work;

pub use error::{FieldError, ValidationErrors};
pub use reasons::Reason;
