//! One-line diagnostics on stderr, prefixed with the program's name.
//!
//! stdout belongs to the protocols; everything human goes here. The level comes from
//! `-v`/`-vv` or `KARGO_CREDS_LOG` (see [`crate::config`]). This is deliberately tiny: a
//! credential helper starts on every `git fetch`, and a logging framework would cost more
//! start-up time than all of its real work.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// How much goes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    /// Parses `off|error|warn|info|debug` (also `warning`, `trace`).
    pub fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "quiet" => Some(Level::Off),
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" | "trace" => Some(Level::Debug),
            _ => None,
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);
static PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// Names the program in every line (`git-credential-kargo: warning: …`).
pub fn set_program(name: &'static str) {
    let _ = PROGRAM.set(name);
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line. Use the macros [`warn!`](crate::warn), [`info!`](crate::info),
/// [`debug!`](crate::debug) instead of calling this directly.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let program = PROGRAM.get().copied().unwrap_or("kargo-creds");
    let tag = match level {
        Level::Error => "error: ",
        Level::Warn => "warning: ",
        Level::Info => "",
        Level::Debug => "debug: ",
        Level::Off => return,
    };
    // One write call per line so that concurrent processes do not interleave mid-line.
    let line = format!("{program}: {tag}{}\n", one_line(&args.to_string()));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `text` as one printable line: control characters (newlines, escape sequences) — which a
/// hostile server's error body or a file name could carry — are shown escaped, never
/// obeyed by the terminal, and never break the one-line shape of a diagnostic or of the
/// docker protocol's error answer.
pub fn one_line(text: &str) -> String {
    let text = text.trim_end_matches(['\n', '\r']);
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => " ".to_owned(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(one_line("plain text"), "plain text");
        assert_eq!(one_line("a\nb\r\n"), "a b");
        assert_eq!(one_line("red \u{1b}[31m!"), "red \\u{1b}[31m!");
        assert_eq!(one_line("nul\0"), "nul\\u{0}");
    }
}
