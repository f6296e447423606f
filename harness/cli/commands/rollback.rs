//! `promptgate rollback`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Rollback;
use crate::output::{Context, print_json};

/// Moves a label back to an earlier promoted version.
pub(crate) fn run(args: Rollback, cx: &Context) -> Result<i32, Error> {
    let json = args.json;
    let event = ops::rollback(&cx.root, &args.into())?;
    if json {
        print_json(&event)?;
        return Ok(exit::PASS);
    }
    outln!(
        "rolled back {}@{}: v{} → v{} ({})",
        event.prompt,
        event.label,
        event.from.unwrap_or_default(),
        event.version,
        event.reason.as_deref().unwrap_or_default()
    );
    Ok(exit::PASS)
}
