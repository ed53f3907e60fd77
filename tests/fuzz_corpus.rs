//! Replays the fuzz corpus as ordinary tests: every file under `fuzz/corpus/<target>/` and
//! `fuzz/artifacts/<target>/` (minimized crashes kept as regressions) goes through the
//! same check the cargo-fuzz target runs (`kargo_creds::fuzzing`), so CI needs no nightly
//! toolchain and no fuzzer to keep every input that once found a bug fixed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use kargo_creds::fuzzing;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for folder in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable corpus folder").path();
            let hidden = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('.'));
            if path.is_file() && !hidden {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs `check` on every input of `target`, reporting every failing file at once.
fn replay(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files.len() >= 5,
        "fuzz/corpus/{target} should hold the seed corpus; found {} files",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let bytes = std::fs::read(path).expect("a readable corpus file");
            catch_unwind(AssertUnwindSafe(|| check(&bytes)))
                .err()
                .map(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    format!("  {}: {message}", path.display())
                })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn git_request_corpus() {
    replay("git_request", fuzzing::check_git_request);
}

#[test]
fn docker_input_corpus() {
    replay("docker_input", fuzzing::check_docker_input);
}

#[test]
fn manifest_corpus() {
    replay("manifest", fuzzing::check_manifest);
}

#[test]
fn normalize_corpus() {
    replay("normalize", fuzzing::check_normalize);
}

/// The normalize corpus also holds every input of the shared vectors, read at run time.
#[test]
fn normalize_holds_on_every_shared_vector() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/kargo-normalize.json"
    );
    let text = std::fs::read_to_string(path).expect("the shared test vectors beside the project");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let cases = json["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let input = case["input"].as_str().expect("input");
        fuzzing::check_normalize(input.as_bytes());
        fuzzing::check_docker_input(input.as_bytes());
        fuzzing::check_git_request(format!("url={input}\n").as_bytes());
    }
}
