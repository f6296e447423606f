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
    let from = event.from.unwrap_or_default();
    outln!(
        "{} {}@{}: v{from} → v{}{} ({})",
        match event.version > from {
            true => "moved forward, ungated,",
            false => "rolled back",
        },
        event.prompt,
        event.label,
        event.version,
        if event.forced { " (forced)" } else { "" },
        event.reason.as_deref().unwrap_or_default()
    );
    Ok(exit::PASS)
}
