//! Governance: what promote, rollback, monitor and readiness share. A release is a label moved
//! in git; this floor decides whether it may move and records what it moved to.
//!
//! - [`policy`]: the tier's policy (owner, approvals, required suites), readiness, and the
//!   gate of the check a release is promoted on;
//! - [`labels`]: the version a label serves, and a rollback's move of it (by hand, or by a
//!   monitor's kill switch);
//! - [`shadow_runs`]: the shadow runs under `reports/`;
//! - [`baseline`]: the monitoring baseline a promotion records;
//! - [`facts`]: the facts each readiness dimension is scored on.

pub(crate) mod baseline;
pub(crate) mod facts;
pub(crate) mod labels;
pub(crate) mod policy;
pub(crate) mod shadow_runs;
