//! `cargo +nightly fuzz run docker_input`: see `kargo_creds::fuzzing::check_docker_input` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kargo_creds::fuzzing::check_docker_input(data));
