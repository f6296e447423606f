//! `promptgate approve`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Approve;
use crate::output::{Context, print_json};

/// Records an approval of a prompt version's exact content.
pub(crate) fn run(args: Approve, cx: &Context) -> Result<i32, Error> {
    let approval = ops::approve(&cx.root, &args.version, &args.id, args.note)?;
    if args.json {
        print_json(&approval)?;
        return Ok(exit::PASS);
    }
    outln!(
        "{} approved {}@{} (content {})",
        approval.id,
        approval.prompt,
        approval.rev,
        &approval.content[..12]
    );
    Ok(exit::PASS)
}
