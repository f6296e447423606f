//! `promptgate cache stats` and `promptgate cache clear`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::CacheCommand;
use crate::output::{Context, print_json};

/// Reports on, or clears, the response cache.
pub(crate) fn run(command: CacheCommand, cx: &Context) -> Result<i32, Error> {
    match command {
        CacheCommand::Stats { json } => {
            let stats = ops::cache_stats(&cx.root)?;
            if json {
                print_json(&stats)?;
            } else {
                outln!(
                    "{} cached responses, {:.1} MB in {}",
                    stats.entries,
                    stats.bytes as f64 / 1e6,
                    stats.dir
                );
            }
        }
        CacheCommand::Clear => {
            outln!("removed {} cached responses", ops::cache_clear(&cx.root)?);
        }
    }
    Ok(exit::PASS)
}
