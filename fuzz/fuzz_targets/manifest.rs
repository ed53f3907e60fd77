//! `cargo +nightly fuzz run manifest`: see `kargo_creds::fuzzing::check_manifest` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kargo_creds::fuzzing::check_manifest(data));
