//! `cargo +nightly fuzz run git_request`: see `kargo_creds::fuzzing::check_git_request` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kargo_creds::fuzzing::check_git_request(data));
