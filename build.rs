//! Records what `promptgate --version` and every report name: the commit the binary was built
//! from (when built from a git checkout) and the target it was built for.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PROMPTGATE_COMMIT={commit}");
    println!(
        "cargo:rustc-env=PROMPTGATE_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    // Rebuild when HEAD moves: its file, and the branch file it names.
    let head = Path::new(".git/HEAD");
    if head.is_file() {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Ok(text) = std::fs::read_to_string(head) {
            if let Some(branch) = text.trim().strip_prefix("ref: ") {
                println!("cargo:rerun-if-changed=.git/{branch}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
