//! One file per command: each converts its arguments, calls its `ops` command, and prints.

pub(crate) mod approve;
pub(crate) mod cache;
pub(crate) mod check;
pub(crate) mod completions;
pub(crate) mod hook;
pub(crate) mod init;
pub(crate) mod judge;
pub(crate) mod log;
pub(crate) mod man;
pub(crate) mod merge;
pub(crate) mod model;
pub(crate) mod monitor;
pub(crate) mod promote;
pub(crate) mod readiness;
pub(crate) mod report;
pub(crate) mod rollback;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod schema;
pub(crate) mod shadow;
pub(crate) mod show;
pub(crate) mod status;
pub(crate) mod validate;
