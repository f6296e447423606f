//! `promptgate init`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::output::Context;

/// Scaffolds a project where it is run.
pub(crate) fn run(judges: bool, cx: &Context) -> Result<i32, Error> {
    let done = ops::init(&cx.root, judges)?;
    if done.git_initialised {
        outln!("created a git repository");
    }
    for f in &done.created {
        outln!("created {f}");
    }
    for f in &done.kept {
        outln!("kept {f} (it exists)");
    }
    outln!(
        "next: commit; edit a prompt and run `promptgate check` (the report is under reports/);\n\
         release a prompt with `promptgate approve NAME@HEAD --as YOU` and `promptgate promote NAME`,\n\
         then push the release refs: git push origin 'refs/prompts/*' 'refs/promptgate/*' 'refs/tags/prompts/*';\n\
         `promptgate hook install` gates every commit"
    );
    Ok(exit::PASS)
}
