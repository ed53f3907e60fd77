//! Small file-system helpers shared by the writers (secrets folder, summary index, the
//! client configuration `setup` edits).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Replaces `path` atomically: a temporary file in the same folder with `mode`, written,
/// fsynced, then renamed over the target. A reader sees the old file or the new one, never
/// half of either, and a crash leaves at most a stray temporary file.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let temporary = temporary_beside(path);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// A fresh name for a temporary file in `path`'s folder (same file system, so a rename
/// over `path` is atomic), hidden, naming the process that made it.
pub fn temporary_beside(path: &Path) -> PathBuf {
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    folder.join(format!(".{name}.tmp.{}.{nanos}", std::process::id()))
}

/// Creates a folder (and its parents) with mode 0700 where it is created.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}
