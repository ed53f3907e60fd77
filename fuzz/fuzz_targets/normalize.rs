//! `cargo +nightly fuzz run normalize`: see `kargo_creds::fuzzing::check_normalize` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kargo_creds::fuzzing::check_normalize(data));
