//! The credential-helper wire formats: bytes in, typed values out, and back. No I/O and
//! no configuration here.

pub mod docker;
pub mod git;
