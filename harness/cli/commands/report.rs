//! `promptgate report`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Report;
use crate::output::Context;

/// Re-renders a stored check's reports, and opens the HTML one when asked.
pub(crate) fn run(args: Report, cx: &Context) -> Result<i32, Error> {
    let formats: Vec<ops::ReportFormat> = if args.format.is_empty() {
        ops::ReportFormat::ALL.to_vec()
    } else {
        args.format.into_iter().map(Into::into).collect()
    };
    let run_dir = ops::rerender(&cx.root, &args.run_id, &formats)?;
    for format in formats.iter().filter(|f| **f != ops::ReportFormat::Json) {
        outln!("{}", run_dir.join(format.file_name()).display());
    }
    if args.open {
        open_in_browser(&run_dir.join(ops::ReportFormat::Html.file_name()));
    }
    Ok(exit::PASS)
}

/// Opens a file with the desktop's default application, reporting (not failing) if it cannot.
fn open_in_browser(path: &std::path::Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(path).status() {
        eprintln!(
            "warning: cannot run `{opener}` to open {}: {e}",
            path.display()
        );
    }
}
