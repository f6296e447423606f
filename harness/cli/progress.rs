//! Progress display: a live bar on a terminal, a few plain lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use promptgate::ops::Progress;

/// Shows calls done, errors and tokens as a run goes.
pub(crate) struct Bar {
    interactive: bool,
    bar: Option<ProgressBar>,
    total: usize,
    next_line: usize,
}

impl Bar {
    pub(crate) fn new(interactive: bool) -> Self {
        Self {
            interactive,
            bar: None,
            total: 0,
            next_line: 0,
        }
    }

    pub(crate) fn update(&mut self, progress: Progress) {
        match progress {
            Progress::Note(note) => eprintln!("{note}"),
            Progress::Started { calls } => {
                self.total = calls;
                if self.interactive {
                    let bar = ProgressBar::new(calls as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{bar:30}] {pos}/{len} calls {msg} ({elapsed})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    self.bar = Some(bar);
                } else {
                    eprintln!("running {calls} calls");
                }
            }
            Progress::Finished {
                done,
                cached,
                errors,
                tokens,
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_message(format!(
                        "· {cached} cached · {errors} errors · {tokens} tokens"
                    ));
                } else if done >= self.next_line || done == self.total {
                    eprintln!(
                        "{done}/{} calls ({cached} cached), {errors} errors, {tokens} tokens",
                        self.total
                    );
                    self.next_line = done + self.total.div_ceil(10).max(1);
                }
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
