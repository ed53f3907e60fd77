//! The on-disk token cache (SPEC §7): minted tokens kept until shortly before they expire,
//! so that a `get` that hits costs one small file read, and N processes asking for the same
//! token at once mint it exactly once.
//!
//! Layout of the cache folder (0700, owned by the current user, never group/other-writable):
//!
//! * `<stem>.json` — one entry (0600): format version, provider, username, token, expiry,
//!   mint time and where the token came from. `<stem>` is a hex SHA-256 of the [`CacheKey`],
//!   so no secret material ever appears in a file name; private keys never appear at all.
//! * `<stem>.lock` — the advisory lock (`fs4`, i.e. `flock`) taken only on a miss.
//! * `<stem>.failure` — a recent failed mint (0600): its one-line reason, which holds no
//!   secret, and until when it stands (`Retry-After` when the server said so, else a few
//!   seconds, capped). A process that takes the lock and finds one fails at once with that
//!   reason instead of asking the server again, so N waiters behind a failing mint cost
//!   one request, not N. A successful mint removes it.
//! * `<stem>.json.tmp.<pid>.<n>` — an entry being written (temporary file, fsync, rename).
//! * `.last-prune` — when expired entries were last pruned opportunistically.
//!
//! Other files in the folder (the `dir` source keeps `dir-index/` there) are left alone.
//!
//! Entries are trusted only as far as their contents parse: an unreadable, truncated,
//! non-JSON or unknown-version entry, or one that is not a regular file (a symlink), is a
//! miss and gets replaced. Nothing here follows a symlink inside the folder: entries are
//! checked with `lstat` and then matched by inode against the file actually opened, and new
//! files are only ever created with `O_EXCL` and renamed into place, which replaces a link
//! rather than writing through it.
//!
//! This module is the only one that opens cache files; providers call
//! [`TokenCache::get_or_mint`] and never touch the folder themselves. It never logs a token.

use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fs4::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sensitive::Sensitive;
use crate::timefmt::{parse_rfc3339, rfc3339};

/// The entry format this code writes and the only one it reads.
const ENTRY_VERSION: u32 = 1;

/// How long a miss waits for another process that is minting the same token.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Lock polling: the first retry comes soon, later ones settle at the upper bound, so that a
/// waiter notices a released lock quickly without spinning.
const LOCK_POLL_FIRST: Duration = Duration::from_millis(20);
const LOCK_POLL_MAX: Duration = Duration::from_millis(50);

/// A real entry is a few hundred bytes; anything far larger is not one of ours.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// Temporary and lock files this old belong to nobody (a writer renames within
/// milliseconds; a lock file is recreated on demand).
const ORPHAN_AGE: Duration = Duration::from_secs(60);

/// Opportunistic pruning runs at most this often (checked on misses only).
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// The file whose modification time records the last opportunistic prune.
const PRUNE_STAMP: &str = ".last-prune";

const ENTRY_SUFFIX: &str = ".json";
const LOCK_SUFFIX: &str = ".lock";
const FAILURE_SUFFIX: &str = ".failure";

/// How long a failed mint stands when the server gave no `Retry-After`: long enough for the
/// processes queued behind the lock to see it, short enough that a retry by hand soon works.
const FAILURE_HOLD: Duration = Duration::from_secs(5);

/// The longest a failed mint stands, whatever the server asked for.
const FAILURE_HOLD_MAX: Duration = Duration::from_secs(60);

/// A failure's reason is one line of at most this many characters.
const FAILURE_REASON_MAX_CHARS: usize = 1000;
const TEMP_INFIX: &str = ".tmp.";

/// Makes temporary file names unique between threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `O_NOFOLLOW`, which std does not export (and `libc` is not a dependency of this crate).
/// Its value differs between architectures (0x20000 on x86 and RISC-V, 0x8000 on ARM, 0x100
/// on macOS), so it is set only where checked against `libc`. It is defence in depth: the
/// `lstat` + inode comparison in [`open_regular_file`] is what guarantees, everywhere, that a
/// symlink is never read through.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    any(target_arch = "x86_64", target_arch = "x86", target_arch = "riscv64")
))]
const O_NOFOLLOW: i32 = 0x20000;
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    any(target_arch = "aarch64", target_arch = "arm")
))]
const O_NOFOLLOW: i32 = 0x8000;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
const O_NOFOLLOW: i32 = 0x100;
#[cfg(not(any(
    all(
        any(target_os = "linux", target_os = "android"),
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "riscv64",
            target_arch = "aarch64",
            target_arch = "arm"
        )
    ),
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
const O_NOFOLLOW: i32 = 0;

/// Why the cache could not be used or could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The folder could be read by someone else's hand: refused, like ssh refuses `~/.ssh`.
    #[error("refusing the token cache folder {}: {reason}", .dir.display())]
    Unsafe { dir: PathBuf, reason: String },
    /// The folder cannot be created, read or written.
    #[error("cannot use the token cache folder {}: {reason}", .dir.display())]
    Unusable { dir: PathBuf, reason: String },
    /// Another process held the entry's lock for longer than the lock timeout.
    #[error(
        "gave up after {:.1} s waiting for the token cache lock {}: another process is minting the same token",
        .waited.as_secs_f64(),
        .lock.display()
    )]
    LockTimeout { lock: PathBuf, waited: Duration },
    #[error("cannot {what} {}: {reason}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

impl CacheError {
    fn io(what: &'static str, path: &Path, error: &io::Error) -> CacheError {
        CacheError::Io {
            what,
            path: path.to_owned(),
            reason: error.to_string(),
        }
    }
}

/// What [`TokenCache::get_or_mint`] fails with: the mint's own error, a failed mint that
/// another process recorded moments ago, or the cache's error.
#[derive(Debug, thiserror::Error)]
pub enum MintOrCacheError<E> {
    #[error("{0}")]
    Mint(E),
    /// A mint of the same token failed moments ago (in this or another process) and was not
    /// tried again: `reason` is that failure's one line.
    #[error(
        "{reason} (an attempt {} s ago failed so; not asking again before {}, or run `kargo-creds cache clear`)",
        .age.max(&0),
        rfc3339(*.retry_at)
    )]
    RecentFailure {
        reason: String,
        age: i64,
        retry_at: i64,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// What a failed mint tells the cache besides its message: when the server asked to be
/// asked again (`Retry-After`), if it did.
pub trait RetryHint {
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

impl RetryHint for String {}
impl RetryHint for &str {}

/// Which token: the pieces that name a cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The provider's name (`githubApp`, `ecrAccessKey`, …).
    pub provider: &'static str,
    /// [`identity_hash`] of the material the token is minted from.
    pub identity_hash: String,
    /// The project the token was minted for: a token is never served to another project.
    pub project: Option<String>,
    /// What the token is for: a repository, a registry host.
    pub scope: String,
}

impl CacheKey {
    /// The entry's file name without extension: hex SHA-256 of provider, identity hash,
    /// project and scope, NUL-separated. The project is tagged (`-` for none, `+name`) so
    /// that "no project" and a project with an empty name cannot collide.
    pub fn file_stem(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.provider.as_bytes());
        hasher.update([0]);
        hasher.update(self.identity_hash.as_bytes());
        hasher.update([0]);
        match &self.project {
            None => hasher.update(b"-"),
            Some(project) => {
                hasher.update(b"+");
                hasher.update(project.as_bytes());
            }
        }
        hasher.update([0]);
        hasher.update(self.scope.as_bytes());
        hex(&hasher.finalize())
    }
}

/// Hex SHA-256 of identity material (e.g. app id, installation id and key bytes). Each part
/// is length-prefixed so that different splits of the same bytes hash differently. Store
/// this, never the material itself.
pub fn identity_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex(&hasher.finalize())
}

/// A freshly minted token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub username: String,
    pub token: Sensitive<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Where a token came from, recorded in its entry for `kargo-creds cache list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `namespace/name` of the Secret, or `ambient`.
    pub secret: String,
    /// The repository or registry host, as shown to the user and matched by
    /// [`TokenCache::evict_scope`].
    pub scope: String,
    pub project: Option<String>,
}

/// What [`TokenCache::get_or_mint`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub username: String,
    pub token: Sensitive<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The token was read from the cache rather than minted by this call.
    pub from_cache: bool,
}

/// One entry as `kargo-creds cache list` shows it: never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// The entry's file name inside the cache folder.
    pub file: String,
    pub provider: String,
    pub secret: String,
    pub scope: String,
    pub project: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds.
    pub minted_at: i64,
}

/// The entry file as stored. The token stays [`Sensitive`] even here, so that printing an
/// entry by mistake cannot leak it.
#[derive(Debug, Serialize, Deserialize)]
struct EntryFile {
    version: u32,
    provider: String,
    username: String,
    #[serde(with = "sensitive_string")]
    token: Sensitive<String>,
    expires_at: String,
    minted_at: String,
    secret: String,
    scope: String,
    #[serde(default)]
    project: Option<String>,
}

/// `<stem>.failure` as stored: a failed mint's reason (never a secret: mint errors are
/// written for stderr) and the times it was recorded and stands until.
#[derive(Debug, Serialize, Deserialize)]
struct FailureFile {
    version: u32,
    reason: String,
    failed_at: String,
    retry_at: String,
}

/// A parsed, well-formed entry.
#[derive(Debug)]
struct Entry {
    file: EntryFile,
    expires_at: i64,
    minted_at: i64,
}

impl Entry {
    fn served(self, from_cache: bool) -> Served {
        Served {
            username: self.file.username,
            token: self.file.token,
            expires_at: self.expires_at,
            from_cache,
        }
    }
}

/// What reading an entry found.
enum Lookup {
    Absent,
    Found(Entry),
    /// Present but not usable; the reason is for a log line.
    Refused(String),
}

/// The token cache in one folder.
#[derive(Debug, Clone)]
pub struct TokenCache {
    dir: PathBuf,
    /// Seconds before expiry at which a cached token is no longer handed out.
    margin: i64,
    lock_timeout: Duration,
}

impl TokenCache {
    /// Opens the cache folder, creating it with mode 0700 when missing.
    ///
    /// Fails with [`CacheError::Unsafe`] when the folder is owned by another user or
    /// writable by group or others, and with [`CacheError::Unusable`] when it cannot be
    /// created or lacks owner read/write/search permission. Callers then run without a cache
    /// after one warning. A read-only file system is only discovered when writing; then
    /// [`TokenCache::get_or_mint`] hands out the minted token uncached, with a warning.
    pub fn open(dir: &Path, margin: Duration) -> Result<TokenCache, CacheError> {
        let metadata = match fs::metadata(dir) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => create_folder(dir)?,
            Err(error) => return Err(unusable(dir, error.to_string())),
        };
        check_folder(dir, &metadata)?;
        Ok(TokenCache {
            dir: dir.to_owned(),
            margin: i64::try_from(margin.as_secs()).unwrap_or(i64::MAX),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        })
    }

    /// Whether a cache folder may be trusted, without creating it: absent is fine (it will
    /// be created private); present, it must be a folder of the current user that group
    /// and others cannot write. Other users of the folder (the `dir` source's summary
    /// index) apply the same rule as the token cache.
    pub fn check_safe(dir: &Path) -> Result<(), CacheError> {
        match fs::metadata(dir) {
            Ok(metadata) => check_folder(dir, &metadata),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(unusable(dir, error.to_string())),
        }
    }

    /// How long a miss waits for another process minting the same token (default 60 s).
    pub fn with_lock_timeout(self, timeout: Duration) -> Self {
        TokenCache {
            lock_timeout: timeout,
            ..self
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Serves the token for `key` from the cache, or mints it with `mint` and caches it.
    ///
    /// * Hit: an entry with `expires_at − now > margin` is served without taking a lock.
    /// * Miss: takes the entry's exclusive lock (waiting at most the lock timeout), reads
    ///   again — another process may have just minted — and mints only if still needed; the
    ///   new entry is written to a temporary file, fsynced and renamed into place.
    /// * A failed mint serves a cached token that is inside the margin but not yet expired,
    ///   with a warning; otherwise the mint's error is returned.
    /// * A failed mint is recorded (its reason and until when it stands); a process that
    ///   then takes the lock fails at once with that reason ([`MintOrCacheError::RecentFailure`])
    ///   rather than minting again. A successful mint removes the record.
    /// * A token that is already inside the margin when minted is handed out, not stored.
    /// * A folder that turns out unwritable costs one warning; the token is still handed out.
    pub fn get_or_mint<E: fmt::Display + RetryHint>(
        &self,
        key: &CacheKey,
        origin: &Origin,
        mint: impl FnOnce() -> Result<Minted, E>,
    ) -> Result<Served, MintOrCacheError<E>> {
        let stem = key.file_stem();
        let entry_path = self.entry_path(&stem);

        if let Lookup::Found(entry) = read_entry(&entry_path) {
            if self.is_fresh(&entry, unix_now()) {
                crate::debug!(
                    "token for {} ({}) served from the cache",
                    origin.secret,
                    origin.scope
                );
                return Ok(entry.served(true));
            }
        }

        let lock = match self.lock(&stem) {
            Ok(lock) => Some(lock),
            Err(timeout @ CacheError::LockTimeout { .. }) => return Err(timeout.into()),
            Err(error) => {
                crate::warn!("{error}; minting without the token cache");
                None
            }
        };

        // Under the lock: another process may have minted while this one waited.
        let mut cached = match read_entry(&entry_path) {
            Lookup::Found(entry) => Some(entry),
            Lookup::Absent => None,
            Lookup::Refused(reason) => {
                crate::warn!(
                    "ignoring token cache entry {}: {reason}; it will be replaced",
                    entry_path.display()
                );
                None
            }
        };
        let now = unix_now();
        if let Some(entry) = cached.take_if(|entry| self.is_fresh(entry, now)) {
            crate::debug!(
                "token for {} ({}) minted meanwhile by another process",
                origin.secret,
                origin.scope
            );
            return Ok(entry.served(true));
        }

        let failure_path = self.failure_path(&stem);
        let attempt = match lock.as_ref().and_then(|_| read_failure(&failure_path, now)) {
            Some((reason, failed_at, retry_at)) => Err(MintOrCacheError::RecentFailure {
                reason,
                age: now - failed_at,
                retry_at,
            }),
            None => mint().map_err(|error| {
                if lock.is_some() {
                    self.record_failure(&stem, &error.to_string(), error.retry_after());
                }
                MintOrCacheError::Mint(error)
            }),
        };
        let minted = match attempt {
            Ok(minted) => {
                if lock.is_some() {
                    remove_logged(&failure_path);
                }
                minted
            }
            Err(error) => {
                return match cached {
                    Some(entry) if entry.expires_at > unix_now() => {
                        crate::warn!(
                            "could not mint a new token for {} ({}): {error}; using the cached one, which expires at {}",
                            origin.secret,
                            origin.scope,
                            rfc3339(entry.expires_at)
                        );
                        Ok(entry.served(true))
                    }
                    _ => Err(error),
                };
            }
        };

        let minted_at = unix_now();
        let mut stored = false;
        if minted.expires_at.saturating_sub(minted_at) <= self.margin {
            crate::info!(
                "the token minted for {} ({}) expires at {}, within the {} s expiry margin: handing it out without caching it",
                origin.secret,
                origin.scope,
                rfc3339(minted.expires_at),
                self.margin
            );
        } else if lock.is_some() {
            let entry = EntryFile {
                version: ENTRY_VERSION,
                provider: key.provider.to_owned(),
                username: minted.username.clone(),
                token: minted.token.clone(),
                expires_at: rfc3339(minted.expires_at),
                minted_at: rfc3339(minted_at),
                secret: origin.secret.clone(),
                scope: origin.scope.clone(),
                project: origin.project.clone(),
            };
            match self.write_entry(&stem, &entry) {
                Ok(()) => stored = true,
                Err(error) => crate::warn!(
                    "not caching the token for {} ({}): {error}",
                    origin.secret,
                    origin.scope
                ),
            }
        }
        drop(lock);
        if stored {
            self.prune_if_due();
        }

        Ok(Served {
            username: minted.username,
            token: minted.token,
            expires_at: minted.expires_at,
            from_cache: false,
        })
    }

    /// Evicts the entry for `key` if its token is `token` (git's `erase` sends the password
    /// the server rejected; a token minted since then is kept). Returns whether it did.
    pub fn evict_if_token(&self, key: &CacheKey, token: &str) -> bool {
        let stem = key.file_stem();
        let entry_path = self.entry_path(&stem);
        let holds_token = |lookup: Lookup| match lookup {
            Lookup::Found(entry) => entry.file.token.expose() == token,
            Lookup::Absent | Lookup::Refused(_) => false,
        };
        // The common case (nothing cached, or a newer token) needs no lock.
        if !holds_token(read_entry(&entry_path)) {
            return false;
        }
        let lock = match self.lock(&stem) {
            Ok(lock) => lock,
            Err(error) => {
                crate::warn!("not evicting the cached token: {error}");
                return false;
            }
        };
        // Read again under the lock: a process may have just replaced the rejected token.
        let evicted = holds_token(read_entry(&entry_path)) && remove_logged(&entry_path);
        drop(lock);
        evicted
    }

    /// Evicts every entry whose scope is `scope` (docker's `erase` names only the registry
    /// host). An entry that another process is minting right now is left to it. Returns
    /// how many were evicted.
    pub fn evict_scope(&self, scope: &str) -> usize {
        self.remove_entries_where(
            |_, lookup| matches!(lookup, Lookup::Found(entry) if entry.file.scope == scope),
        )
    }

    /// The readable entries, sorted by provider, Secret and scope; never the token.
    pub fn list(&self) -> Vec<EntryInfo> {
        let mut infos: Vec<EntryInfo> = self
            .files()
            .into_iter()
            .filter_map(|(name, kind)| match kind {
                FileKind::Entry => match read_entry(&self.dir.join(&name)) {
                    Lookup::Found(entry) => Some(EntryInfo {
                        file: name,
                        provider: entry.file.provider,
                        secret: entry.file.secret,
                        scope: entry.file.scope,
                        project: entry.file.project,
                        expires_at: entry.expires_at,
                        minted_at: entry.minted_at,
                    }),
                    Lookup::Absent | Lookup::Refused(_) => None,
                },
                FileKind::Lock | FileKind::Failure | FileKind::Temp => None,
            })
            .collect();
        infos.sort_by(|a, b| {
            (&a.provider, &a.secret, &a.scope, &a.project, &a.file).cmp(&(
                &b.provider,
                &b.secret,
                &b.scope,
                &b.project,
                &b.file,
            ))
        });
        infos
    }

    /// Removes every entry, every lock file no process holds, and orphaned temporary files.
    /// Returns how many entries were removed.
    pub fn clear(&self) -> usize {
        let mut removed = 0;
        for (name, kind) in self.files() {
            let path = self.dir.join(&name);
            match kind {
                FileKind::Entry => {
                    if remove_logged(&path) {
                        removed += 1;
                    }
                }
                FileKind::Lock => {
                    // Unlinked only while held by us, so a waiter notices and starts over.
                    if let Some(lock) = try_lock_once(&path) {
                        remove_logged(&path);
                        drop(lock);
                    }
                }
                // A recorded failure is forgotten: the next get asks the server again.
                FileKind::Failure => {
                    remove_logged(&path);
                }
                FileKind::Temp => remove_if_orphan(&path),
            }
        }
        removed
    }

    /// Removes the entries that can no longer be served (expired, unreadable, symlinks),
    /// failure records that no longer stand, lock files of entries that no longer exist, and
    /// orphaned temporary files. Returns how many entries were removed.
    pub fn prune(&self) -> usize {
        let now = unix_now();
        // An unreadable entry is left alone while young: a miss for it replaces it anyway.
        let removed = self.remove_entries_where(|path, lookup| match lookup {
            Lookup::Found(entry) => entry.expires_at <= now,
            Lookup::Refused(_) => is_older_than(path, ORPHAN_AGE),
            Lookup::Absent => false,
        });
        for (name, kind) in self.files() {
            let path = self.dir.join(&name);
            match kind {
                FileKind::Lock => {
                    let stem = &name[..name.len() - LOCK_SUFFIX.len()];
                    let entry_exists = fs::symlink_metadata(self.entry_path(stem)).is_ok();
                    if !entry_exists && is_older_than(&path, ORPHAN_AGE) {
                        if let Some(lock) = try_lock_once(&path) {
                            remove_logged(&path);
                            drop(lock);
                        }
                    }
                }
                FileKind::Failure => {
                    if read_failure(&path, now).is_none() && is_older_than(&path, FAILURE_HOLD) {
                        remove_logged(&path);
                    }
                }
                FileKind::Temp => remove_if_orphan(&path),
                FileKind::Entry => {}
            }
        }
        removed
    }

    fn entry_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}{ENTRY_SUFFIX}"))
    }

    fn lock_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}{LOCK_SUFFIX}"))
    }

    fn failure_path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}{FAILURE_SUFFIX}"))
    }

    /// Records a failed mint of `stem` (the caller holds its lock): the reason as one line,
    /// standing for `retry_after` (capped), else [`FAILURE_HOLD`]. Not being able to record
    /// it only means the next process asks the server again.
    fn record_failure(&self, stem: &str, reason: &str, retry_after: Option<Duration>) {
        let now = unix_now();
        let hold = retry_after
            .unwrap_or(FAILURE_HOLD)
            .clamp(Duration::from_secs(1), FAILURE_HOLD_MAX);
        let record = FailureFile {
            version: ENTRY_VERSION,
            reason: one_line(reason, FAILURE_REASON_MAX_CHARS),
            failed_at: rfc3339(now),
            retry_at: rfc3339(now.saturating_add(hold.as_secs() as i64)),
        };
        let written = serde_json::to_vec(&record)
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                self.write_file_atomically(&format!("{stem}{FAILURE_SUFFIX}"), &bytes)
                    .map_err(|error| error.to_string())
            });
        if let Err(error) = written {
            crate::debug!("not recording the failed mint: {error}");
        }
    }

    fn is_fresh(&self, entry: &Entry, now: i64) -> bool {
        entry.expires_at.saturating_sub(now) > self.margin
    }

    /// The files of the folder that belong to the cache, by name.
    fn files(&self) -> Vec<(String, FileKind)> {
        let read_dir = match fs::read_dir(&self.dir) {
            Ok(read_dir) => read_dir,
            Err(error) => {
                crate::warn!(
                    "cannot list the token cache folder {}: {error}",
                    self.dir.display()
                );
                return Vec::new();
            }
        };
        read_dir
            .filter_map(Result::ok)
            .filter_map(|dir_entry| {
                let name = dir_entry.file_name().into_string().ok()?;
                let kind = classify(&name)?;
                Some((name, kind))
            })
            .collect()
    }

    /// Removes each entry for which `condition` holds, under its lock (taken without
    /// waiting: an entry being minted right now is about to be replaced anyway), and its
    /// lock file with it.
    fn remove_entries_where(&self, condition: impl Fn(&Path, &Lookup) -> bool) -> usize {
        let mut removed = 0;
        for (name, kind) in self.files() {
            if kind != FileKind::Entry {
                continue;
            }
            let path = self.dir.join(&name);
            if !condition(&path, &read_entry(&path)) {
                continue;
            }
            let stem = &name[..name.len() - ENTRY_SUFFIX.len()];
            let lock_path = self.lock_path(stem);
            let Some(lock) = try_lock_once(&lock_path) else {
                continue;
            };
            // Read again under the lock: the entry may have been replaced meanwhile.
            if condition(&path, &read_entry(&path)) && remove_logged(&path) {
                removed += 1;
                remove_logged(&lock_path);
            }
            drop(lock);
        }
        removed
    }

    /// Prunes when the last opportunistic prune is older than [`PRUNE_INTERVAL`]. Costs one
    /// `lstat` when it is not due; called on misses only, never on a hit.
    fn prune_if_due(&self) {
        let stamp = self.dir.join(PRUNE_STAMP);
        let due = match fs::symlink_metadata(&stamp) {
            Ok(metadata) => {
                !metadata.is_file()
                    || metadata
                        .modified()
                        .ok()
                        .and_then(|modified| modified.elapsed().ok())
                        .is_none_or(|age| age >= PRUNE_INTERVAL)
            }
            Err(_) => true,
        };
        if !due {
            return;
        }
        // The stamp is replaced by rename, like an entry, so a symlink there is never
        // followed. Failing to write it only means pruning again next time.
        if self.write_file_atomically(PRUNE_STAMP, b"").is_err() {
            crate::debug!("cannot record the last prune in {}", stamp.display());
        }
        let removed = self.prune();
        if removed > 0 {
            crate::debug!("pruned {removed} expired token cache entries");
        }
    }

    fn write_entry(&self, stem: &str, entry: &EntryFile) -> Result<(), CacheError> {
        let bytes = serde_json::to_vec(entry).map_err(|error| CacheError::Io {
            what: "encode the token cache entry",
            path: self.entry_path(stem),
            reason: error.to_string(),
        })?;
        self.write_file_atomically(&format!("{stem}{ENTRY_SUFFIX}"), &bytes)
    }

    /// Writes `name` in the folder: a new 0600 temporary file beside it, fsync, rename.
    /// Readers see the old file or the new one, never a part; a symlink at `name` is
    /// replaced, not followed.
    fn write_file_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), CacheError> {
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!(
            "{name}{TEMP_INFIX}{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(&temporary)
            .map_err(|error| CacheError::io("create", &temporary, &error))?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|error| CacheError::io("write", &temporary, &error))
            .and_then(|()| {
                fs::rename(&temporary, &path)
                    .map_err(|error| CacheError::io("replace", &path, &error))
            });
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    /// Takes the exclusive lock of the entry `stem`, polling so that the timeout holds.
    fn lock(&self, stem: &str) -> Result<HeldLock, CacheError> {
        let path = self.lock_path(stem);
        let started = Instant::now();
        let mut pause = LOCK_POLL_FIRST;
        loop {
            let file = open_lock_file(&path)?;
            loop {
                match FileExt::try_lock(&file) {
                    Ok(()) => break,
                    Err(fs4::TryLockError::WouldBlock) => {
                        let waited = started.elapsed();
                        if waited >= self.lock_timeout {
                            return Err(CacheError::LockTimeout { lock: path, waited });
                        }
                        std::thread::sleep(pause.min(self.lock_timeout - waited));
                        pause = (pause * 2).min(LOCK_POLL_MAX);
                    }
                    Err(fs4::TryLockError::Error(error)) => {
                        return Err(CacheError::io("lock", &path, &error));
                    }
                }
            }
            // `clear` and `prune` unlink lock files (while holding them). A lock on a file
            // that is no longer at the path excludes nobody: start over on the new one.
            if is_same_file(&file, &path) {
                return Ok(HeldLock { _file: file });
            }
        }
    }
}

/// A held entry lock; closing the file releases it (as does the death of the process).
struct HeldLock {
    _file: File,
}

/// Which of the cache's files a folder entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Entry,
    Lock,
    /// A recent failed mint (`<stem>.failure`).
    Failure,
    Temp,
}

fn classify(name: &str) -> Option<FileKind> {
    if name
        .strip_prefix(PRUNE_STAMP)
        .is_some_and(|rest| rest.starts_with(TEMP_INFIX))
    {
        return Some(FileKind::Temp);
    }
    let (stem, rest) = name.split_at_checked(64)?;
    if !stem
        .bytes()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    match rest {
        ENTRY_SUFFIX => Some(FileKind::Entry),
        LOCK_SUFFIX => Some(FileKind::Lock),
        FAILURE_SUFFIX => Some(FileKind::Failure),
        _ if [ENTRY_SUFFIX, FAILURE_SUFFIX].iter().any(|suffix| {
            rest.strip_prefix(suffix)
                .is_some_and(|rest| rest.starts_with(TEMP_INFIX))
        }) =>
        {
            Some(FileKind::Temp)
        }
        _ => None,
    }
}

fn create_folder(dir: &Path) -> Result<Metadata, CacheError> {
    if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|error| unusable(dir, error.to_string()))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        // Another process created it at the same moment: check what is there now.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(unusable(dir, error.to_string())),
    }
    fs::metadata(dir).map_err(|error| unusable(dir, error.to_string()))
}

/// The ssh rule: ours, and nobody else may write to it.
fn check_folder(dir: &Path, metadata: &Metadata) -> Result<(), CacheError> {
    if !metadata.is_dir() {
        return Err(unusable(dir, "it is not a folder".to_owned()));
    }
    let mode = metadata.mode() & 0o7777;
    let owner = metadata.uid();
    let user = effective_uid();
    if owner != user {
        return Err(CacheError::Unsafe {
            dir: dir.to_owned(),
            reason: format!(
                "it is owned by uid {owner}, not by the current user (uid {user}); use a folder of your own (--cache-dir)"
            ),
        });
    }
    if mode & 0o022 != 0 {
        return Err(CacheError::Unsafe {
            dir: dir.to_owned(),
            reason: format!(
                "it is writable by group or others (mode {mode:04o}); run `chmod 700 {}`",
                dir.display()
            ),
        });
    }
    if mode & 0o700 != 0o700 {
        return Err(unusable(
            dir,
            format!("its owner may not read, write and enter it (mode {mode:04o})"),
        ));
    }
    Ok(())
}

fn unusable(dir: &Path, reason: String) -> CacheError {
    CacheError::Unusable {
        dir: dir.to_owned(),
        reason,
    }
}

/// Reads and parses an entry, refusing anything but a regular file.
fn read_entry(path: &Path) -> Lookup {
    let mut file = match open_regular_file(path) {
        Ok(Some(file)) => file,
        Ok(None) => return Lookup::Absent,
        Err(reason) => return Lookup::Refused(reason),
    };
    let mut bytes = Vec::new();
    if let Err(error) = (&mut file)
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        return Lookup::Refused(format!("cannot read it: {error}"));
    }
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Lookup::Refused(format!("it is larger than {MAX_ENTRY_BYTES} bytes"));
    }
    parse_entry(&bytes).map_or_else(Lookup::Refused, Lookup::Found)
}

fn parse_entry(bytes: &[u8]) -> Result<Entry, String> {
    let file: EntryFile = match serde_json::from_slice(bytes) {
        Ok(file) => file,
        Err(error) => {
            // A clearer reason when only the version is foreign.
            #[derive(Deserialize)]
            struct VersionOnly {
                version: u32,
            }
            return Err(match serde_json::from_slice::<VersionOnly>(bytes) {
                Ok(VersionOnly { version }) if version != ENTRY_VERSION => {
                    format!("unknown format version {version}")
                }
                _ => describe_json_error(&error),
            });
        }
    };
    if file.version != ENTRY_VERSION {
        return Err(format!("unknown format version {}", file.version));
    }
    let expires_at = parse_rfc3339(&file.expires_at)
        .ok_or_else(|| "its expires_at is not an RFC 3339 time".to_owned())?;
    let minted_at = parse_rfc3339(&file.minted_at)
        .ok_or_else(|| "its minted_at is not an RFC 3339 time".to_owned())?;
    Ok(Entry {
        file,
        expires_at,
        minted_at,
    })
}

/// A failure record that still stands at `now`: its reason, when it was recorded and until
/// when it stands. Anything else (absent, a symlink, unreadable, expired) is `None`.
fn read_failure(path: &Path, now: i64) -> Option<(String, i64, i64)> {
    let file = open_regular_file(path).ok()??;
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    let record: FailureFile = serde_json::from_slice(&bytes).ok()?;
    let failed_at = parse_rfc3339(&record.failed_at)?;
    let retry_at = parse_rfc3339(&record.retry_at)?;
    // A record from the future (a clock set back) or standing longer than any hold is not
    // one this code wrote: ignored.
    let plausible = record.version == ENTRY_VERSION
        && failed_at <= now.saturating_add(1)
        && retry_at.saturating_sub(failed_at) <= FAILURE_HOLD_MAX.as_secs() as i64;
    (plausible && retry_at > now).then(|| {
        (
            one_line(&record.reason, FAILURE_REASON_MAX_CHARS),
            failed_at,
            retry_at,
        )
    })
}

/// `text` as one line of at most `max` characters (control characters become spaces).
fn one_line(text: &str, max: usize) -> String {
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        line.push('…');
    }
    line
}

/// Why an entry does not parse, without serde_json's own message: that can quote the
/// offending value (`invalid type: string "…"`), which might be the token.
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Eof => "truncated",
        Category::Syntax => "not JSON",
        Category::Data => "not an entry of this format",
        Category::Io => "unreadable",
    };
    format!(
        "{what} (at line {} column {})",
        error.line(),
        error.column()
    )
}

/// Opens `path` for reading if it is a regular file. `Ok(None)` when there is nothing
/// there; `Err(reason)` for a symlink, anything else that is not a regular file, or a file
/// swapped between the check and the open.
fn open_regular_file(path: &Path) -> Result<Option<File>, String> {
    let checked = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot inspect it: {error}")),
    };
    if checked.file_type().is_symlink() {
        return Err("it is a symbolic link, which the cache never follows".to_owned());
    }
    if !checked.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot open it: {error}")),
    };
    // Without O_NOFOLLOW on every platform, this is what proves that the file read is the
    // regular file checked above and not a link swapped in between.
    let opened = file
        .metadata()
        .map_err(|error| format!("cannot inspect it: {error}"))?;
    if opened.dev() != checked.dev() || opened.ino() != checked.ino() {
        return Err("it changed while being opened".to_owned());
    }
    Ok(Some(file))
}

/// Opens (creating, 0600) a lock file; a symlink in its place is removed first, never
/// followed.
fn open_lock_file(path: &Path) -> Result<File, CacheError> {
    if let Ok(metadata) = fs::symlink_metadata(path) {
        if !metadata.is_file() {
            fs::remove_file(path)
                .map_err(|error| CacheError::io("remove the non-file lock", path, &error))?;
            crate::warn!(
                "replaced the token cache lock {}: it was not a regular file",
                path.display()
            );
        }
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW)
        .open(path)
        .map_err(|error| CacheError::io("open the lock file", path, &error))
}

/// Locks `path` if nobody holds it, without waiting, and only if the file exists.
fn try_lock_once(path: &Path) -> Option<HeldLock> {
    let checked = fs::symlink_metadata(path).ok();
    let file = match checked {
        Some(metadata) if metadata.is_file() => OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NOFOLLOW)
            .open(path)
            .ok()?,
        // Nobody can be holding a lock file that does not exist (or is not one): create it.
        _ => open_lock_file(path).ok()?,
    };
    FileExt::try_lock(&file).ok()?;
    is_same_file(&file, path).then_some(HeldLock { _file: file })
}

fn is_same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(opened), Ok(current)) => opened.dev() == current.dev() && opened.ino() == current.ino(),
        _ => false,
    }
}

fn is_older_than(path: &Path, age: Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|elapsed| elapsed >= age)
}

fn remove_if_orphan(path: &Path) {
    if is_older_than(path, ORPHAN_AGE) {
        remove_logged(path);
    }
}

/// Removes a file (a symlink itself, never its target); whether it did.
fn remove_logged(path: &Path) -> bool {
    match fs::remove_file(path) {
        Ok(()) => true,
        Err(error) if error.kind() == io::ErrorKind::NotFound => false,
        Err(error) => {
            crate::warn!("cannot remove {}: {error}", path.display());
            false
        }
    }
}

fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The effective user id: the owner of the files this process creates.
pub(crate) fn effective_uid() -> u32 {
    // std has no getter and `libc` is not a dependency. geteuid(2) takes no arguments, cannot
    // fail and touches no memory; `uid_t` is a 32-bit unsigned integer on every Unix that
    // Rust supports.
    unsafe extern "C" {
        safe fn geteuid() -> u32;
    }
    geteuid()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Serializes a [`Sensitive`] string as the plain string (the entry file must hold the
/// token) while keeping it redacted everywhere else.
mod sensitive_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::sensitive::Sensitive;

    pub fn serialize<S: Serializer>(
        value: &Sensitive<String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Sensitive<String>, D::Error> {
        String::deserialize(deserializer).map(Sensitive::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::AtomicUsize;

    const MARGIN: Duration = Duration::from_secs(300);

    fn key_for(scope: &str, project: Option<&str>) -> CacheKey {
        CacheKey {
            provider: "githubApp",
            identity_hash: identity_hash(&[b"12345", b"67890", b"-----BEGIN RSA PRIVATE KEY-----"]),
            project: project.map(str::to_owned),
            scope: scope.to_owned(),
        }
    }

    fn repo_key() -> CacheKey {
        key_for("https://github.com/example/repo", Some("kargo-demo"))
    }

    fn origin(key: &CacheKey) -> Origin {
        Origin {
            secret: "kargo-demo/github-app".to_owned(),
            scope: key.scope.clone(),
            project: key.project.clone(),
        }
    }

    fn minted(token: &str, lifetime: i64) -> Result<Minted, String> {
        Ok(Minted {
            username: "x-access-token".to_owned(),
            token: token.into(),
            expires_at: unix_now() + lifetime,
        })
    }

    fn must_not_mint() -> Result<Minted, String> {
        panic!("the cache should have answered without minting")
    }

    /// A cache in a folder that `open` creates, as on first use.
    fn new_cache(root: &Path, margin: Duration) -> TokenCache {
        TokenCache::open(&root.join("kargo-creds"), margin).expect("open the cache")
    }

    fn get(cache: &TokenCache, key: &CacheKey, token: &str, lifetime: i64) -> Served {
        cache
            .get_or_mint(key, &origin(key), || minted(token, lifetime))
            .expect("get_or_mint")
    }

    fn entry_json(key: &CacheKey, token: &str, expires_at: i64) -> String {
        serde_json::json!({
            "version": 1,
            "provider": key.provider,
            "username": "x-access-token",
            "token": token,
            "expires_at": rfc3339(expires_at),
            "minted_at": rfc3339(expires_at - 3600),
            "secret": "kargo-demo/github-app",
            "scope": key.scope,
            "project": key.project,
        })
        .to_string()
    }

    fn write_raw(cache: &TokenCache, key: &CacheKey, contents: &str) -> PathBuf {
        let path = cache.entry_path(&key.file_stem());
        fs::write(&path, contents).expect("write a raw entry");
        path
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    fn age(path: &Path, by: Duration) {
        let file = File::options().write(true).open(path).expect("open to age");
        file.set_modified(SystemTime::now() - by)
            .expect("set mtime");
    }

    fn hold_lock(cache: &TokenCache, key: &CacheKey) -> File {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(cache.lock_path(&key.file_stem()))
            .expect("open the lock file");
        FileExt::lock(&file).expect("lock");
        file
    }

    #[test]
    fn file_stem_is_a_hash_that_separates_every_part() {
        let base = repo_key();
        let stem = base.file_stem();
        assert_eq!(stem.len(), 64);
        assert!(classify(&format!("{stem}.json")) == Some(FileKind::Entry));
        assert!(!stem.contains("example"));
        assert_eq!(stem, repo_key().file_stem(), "stable");
        let variants = [
            key_for(&base.scope, None),
            key_for(&base.scope, Some("")),
            key_for(&base.scope, Some("other")),
            key_for("https://github.com/example/other", Some("kargo-demo")),
            CacheKey {
                provider: "ecrAccessKey",
                ..base.clone()
            },
            CacheKey {
                identity_hash: identity_hash(&[b"12345", b"67890", b"another key"]),
                ..base.clone()
            },
        ];
        let mut stems: Vec<String> = variants.iter().map(CacheKey::file_stem).collect();
        stems.push(stem);
        stems.sort();
        stems.dedup();
        assert_eq!(stems.len(), variants.len() + 1);
        assert_ne!(identity_hash(&[b"ab", b"c"]), identity_hash(&[b"a", b"bc"]));
        assert_eq!(
            identity_hash(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "no parts: the SHA-256 of the empty input"
        );
    }

    #[test]
    fn a_hit_is_served_without_minting() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        let first = get(&cache, &key, "ghs_first", 3600);
        assert!(!first.from_cache);
        assert_eq!(first.token.expose(), "ghs_first");
        let second = cache
            .get_or_mint(&key, &origin(&key), must_not_mint)
            .unwrap();
        assert!(second.from_cache);
        assert_eq!(second.token.expose(), "ghs_first");
        assert_eq!(second.username, "x-access-token");
        assert_eq!(second.expires_at, first.expires_at);
    }

    #[test]
    fn a_hit_takes_no_lock() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN).with_lock_timeout(Duration::from_millis(10));
        let key = repo_key();
        get(&cache, &key, "ghs_first", 3600);
        let _held = hold_lock(&cache, &key);
        let served = cache
            .get_or_mint(&key, &origin(&key), must_not_mint)
            .expect("a hit while another process holds the lock");
        assert_eq!(served.token.expose(), "ghs_first");
    }

    #[test]
    fn an_entry_inside_the_margin_is_minted_again() {
        let root = tempfile::tempdir().unwrap();
        let key = repo_key();
        // Stored by a cache without margin, read by one whose margin covers it.
        get(
            &new_cache(root.path(), Duration::ZERO),
            &key,
            "ghs_old",
            100,
        );
        let cache = new_cache(root.path(), MARGIN);
        let fresh = get(&cache, &key, "ghs_new", 3600);
        assert!(!fresh.from_cache);
        assert_eq!(fresh.token.expose(), "ghs_new");
        let again = cache
            .get_or_mint(&key, &origin(&key), must_not_mint)
            .unwrap();
        assert_eq!(again.token.expose(), "ghs_new");
    }

    #[test]
    fn a_failed_mint_serves_a_token_that_is_still_valid() {
        let root = tempfile::tempdir().unwrap();
        let key = repo_key();
        get(
            &new_cache(root.path(), Duration::ZERO),
            &key,
            "ghs_old",
            100,
        );
        let cache = new_cache(root.path(), MARGIN);
        let served = cache
            .get_or_mint(&key, &origin(&key), || {
                Err::<Minted, _>("GitHub answered 500")
            })
            .expect("the cached token, with a warning");
        assert!(served.from_cache);
        assert_eq!(served.token.expose(), "ghs_old");
    }

    #[test]
    fn a_failed_mint_with_an_expired_entry_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        write_raw(
            &cache,
            &key,
            &entry_json(&key, "ghs_expired", unix_now() - 10),
        );
        let error = cache
            .get_or_mint(&key, &origin(&key), || {
                Err::<Minted, _>("GitHub answered 500")
            })
            .expect_err("nothing valid to fall back on");
        assert!(matches!(
            error,
            MintOrCacheError::Mint("GitHub answered 500")
        ));
        assert_eq!(error.to_string(), "GitHub answered 500");
    }

    #[test]
    fn a_token_minted_inside_the_margin_is_handed_out_but_not_stored() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        let served = get(&cache, &key, "ghs_short", 100);
        assert_eq!(served.token.expose(), "ghs_short");
        assert!(!served.from_cache);
        assert!(!cache.entry_path(&key.file_stem()).exists());
        assert_eq!(
            get(&cache, &key, "ghs_short_again", 100).token.expose(),
            "ghs_short_again"
        );
    }

    #[test]
    fn broken_entries_are_misses_that_get_replaced() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        let valid = entry_json(&key, "ghs_planted", unix_now() + 3600);
        let truncated = valid[..valid.len() / 2].to_owned();
        let future_version = valid.replace("\"version\":1", "\"version\":2");
        assert_ne!(future_version, valid);
        let bad_time = valid.replace(&rfc3339(unix_now() + 3600)[..4], "soon");
        assert_ne!(bad_time, valid);
        let broken = [
            ("empty", String::new()),
            ("truncated", truncated),
            ("not JSON", "\u{0}\u{1}garbage".to_owned()),
            ("JSON of another shape", "[1, 2, 3]".to_owned()),
            ("unknown version", future_version),
            ("unparsable time", bad_time),
            ("huge", " ".repeat(MAX_ENTRY_BYTES as usize + 10)),
        ];
        for (what, contents) in broken {
            let path = write_raw(&cache, &key, &contents);
            let token = format!("ghs_after_{}", what.replace(' ', "_"));
            let served = get(&cache, &key, &token, 3600);
            assert_eq!(served.token.expose(), &token, "{what}");
            assert!(!served.from_cache, "{what}");
            let stored = fs::read_to_string(&path).unwrap();
            assert!(stored.contains(&token), "{what}: the entry was replaced");
            assert_eq!(mode_of(&path), 0o600, "{what}");
        }
    }

    #[test]
    fn reasons_for_refusing_an_entry_never_quote_it() {
        let key = repo_key();
        let valid = entry_json(&key, "ghs_secret", unix_now() + 3600);
        let misplaced = [
            valid.replace("\"version\":1", "\"version\":\"ghs_secret\""),
            valid.replace("\"expires_at\":", "\"expires_at\":[\"ghs_secret\"],\"x\":"),
            "{\"version\":1,\"token\":\"ghs_secret\"".to_owned(),
            "ghs_secret".to_owned(),
        ];
        for contents in misplaced {
            let reason = parse_entry(contents.as_bytes()).expect_err("refused");
            assert!(!reason.contains("ghs_secret"), "{reason}");
        }
        assert_eq!(
            parse_entry(b"{\"version\":1,").unwrap_err(),
            "truncated (at line 1 column 13)"
        );
    }

    #[test]
    fn a_symlinked_entry_is_not_followed_and_gets_replaced() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        // A link to a perfectly valid entry elsewhere: following it would serve its token.
        let target = root.path().join("elsewhere.json");
        let planted = entry_json(&key, "ghs_planted", unix_now() + 3600);
        fs::write(&target, &planted).unwrap();
        let entry = cache.entry_path(&key.file_stem());
        std::os::unix::fs::symlink(&target, &entry).unwrap();

        let served = get(&cache, &key, "ghs_minted", 3600);
        assert_eq!(served.token.expose(), "ghs_minted");
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            planted,
            "target untouched"
        );
        assert!(
            fs::symlink_metadata(&entry).unwrap().is_file(),
            "link replaced"
        );
        assert!(fs::read_to_string(&entry).unwrap().contains("ghs_minted"));
    }

    #[test]
    fn a_symlinked_lock_file_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        let target = root.path().join("not-a-lock");
        let lock = cache.lock_path(&key.file_stem());
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        get(&cache, &key, "ghs_minted", 3600);
        assert!(!target.exists(), "the link's target was not created");
        assert!(fs::symlink_metadata(&lock).unwrap().is_file());
    }

    #[cfg(any(target_os = "linux", target_os = "macos"))]
    #[test]
    fn o_nofollow_has_this_platforms_value() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        fs::write(&target, "x").unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_ne!(O_NOFOLLOW, 0);
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW)
            .open(&link);
        assert!(
            opened.is_err(),
            "opening a symlink with O_NOFOLLOW fails (ELOOP)"
        );
        assert!(OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW)
            .open(&target)
            .is_ok());
    }

    #[test]
    fn folder_and_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        get(&cache, &key, "ghs_minted", 3600);
        assert_eq!(mode_of(cache.dir()), 0o700);
        assert_eq!(mode_of(&cache.entry_path(&key.file_stem())), 0o600);
        assert_eq!(mode_of(&cache.lock_path(&key.file_stem())), 0o600);
        let name = fs::read_dir(cache.dir())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            !name.contains("ghs_minted") && !name.contains("example"),
            "{name}"
        );
    }

    #[test]
    fn an_unsafe_or_unusable_folder_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        fs::create_dir(&dir).unwrap();
        for mode in [0o777, 0o770, 0o720, 0o702, 0o1777] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let error = TokenCache::open(&dir, MARGIN).expect_err("refused");
            assert!(
                matches!(error, CacheError::Unsafe { .. }),
                "{mode:o}: {error}"
            );
            assert!(
                error.to_string().contains("writable by group or others"),
                "{error}"
            );
        }
        for mode in [0o700, 0o750, 0o755] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            assert!(TokenCache::open(&dir, MARGIN).is_ok(), "{mode:o}");
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
        let error = TokenCache::open(&dir, MARGIN).expect_err("read-only");
        assert!(matches!(error, CacheError::Unusable { .. }), "{error}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();

        let file = root.path().join("a-file");
        fs::write(&file, "").unwrap();
        let error = TokenCache::open(&file, MARGIN).expect_err("not a folder");
        assert!(matches!(error, CacheError::Unusable { .. }), "{error}");
        let error = TokenCache::open(&file.join("below"), MARGIN).expect_err("cannot create");
        assert!(matches!(error, CacheError::Unusable { .. }), "{error}");

        // Only root can give a folder away; elsewhere this part cannot run.
        if effective_uid() == 0 {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            let error = TokenCache::open(&dir, MARGIN).expect_err("owned by nobody");
            assert!(matches!(error, CacheError::Unsafe { .. }), "{error}");
            assert!(error.to_string().contains("owned by uid 65534"), "{error}");
        }
    }

    #[test]
    fn evict_if_token_evicts_only_the_rejected_token() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        get(&cache, &key, "ghs_first", 3600);
        assert!(!cache.evict_if_token(&key, "ghs_something_else"));
        assert!(!cache.evict_if_token(&key_for(&key.scope, None), "ghs_first"));
        assert!(cache.entry_path(&key.file_stem()).exists());
        assert!(cache.evict_if_token(&key, "ghs_first"));
        assert!(!cache.entry_path(&key.file_stem()).exists());
        assert!(!cache.evict_if_token(&key, "ghs_first"), "already gone");
        let next = get(&cache, &key, "ghs_second", 3600);
        assert!(!next.from_cache);
        assert_eq!(next.token.expose(), "ghs_second");
    }

    #[test]
    fn evict_scope_evicts_every_entry_for_the_registry() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        get(&cache, &key_for(registry, Some("a")), "token-a", 3600);
        get(&cache, &key_for(registry, None), "token-shared", 3600);
        get(&cache, &key_for("gcr.io", None), "token-gcr", 3600);
        assert_eq!(cache.evict_scope(registry), 2);
        let left: Vec<String> = cache.list().into_iter().map(|info| info.scope).collect();
        assert_eq!(left, ["gcr.io"]);
        assert_eq!(cache.evict_scope(registry), 0);
    }

    #[test]
    fn list_describes_entries_without_their_tokens() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        let served = get(&cache, &key, "ghs_secret_token_value", 3600);
        write_raw(
            &cache,
            &key_for("https://github.com/example/broken", None),
            "{",
        );
        let listed = cache.list();
        assert_eq!(listed.len(), 1, "the unreadable entry is not listed");
        let info = &listed[0];
        assert_eq!(info.file, format!("{}.json", key.file_stem()));
        assert_eq!(info.provider, "githubApp");
        assert_eq!(info.secret, "kargo-demo/github-app");
        assert_eq!(info.scope, key.scope);
        assert_eq!(info.project.as_deref(), Some("kargo-demo"));
        assert_eq!(info.expires_at, served.expires_at);
        assert!(info.minted_at <= unix_now() && info.minted_at > unix_now() - 60);
        let shown = format!("{listed:?} {}", serde_json::to_string(&listed).unwrap());
        assert!(!shown.contains("ghs_secret_token_value"), "{shown}");
    }

    #[test]
    fn prune_removes_only_what_can_no_longer_be_served() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let valid = repo_key();
        get(&cache, &valid, "ghs_valid", 3600);
        // Expired but within the margin of no one: still gone, since it cannot be served.
        let expired = key_for("https://github.com/example/expired", None);
        let expired_path = write_raw(&cache, &expired, &entry_json(&expired, "t", unix_now() - 1));
        let corrupt = key_for("https://github.com/example/corrupt", None);
        let corrupt_path = write_raw(&cache, &corrupt, "{");
        age(&corrupt_path, Duration::from_secs(120));
        let young_corrupt = key_for("https://github.com/example/young", None);
        let young_corrupt_path = write_raw(&cache, &young_corrupt, "{");
        let stem = valid.file_stem();
        let orphan = cache.dir().join(format!("{stem}.json.tmp.1.0"));
        fs::write(&orphan, "").unwrap();
        age(&orphan, Duration::from_secs(120));
        let in_flight = cache.dir().join(format!("{stem}.json.tmp.2.0"));
        fs::write(&in_flight, "").unwrap();
        let foreign = cache.dir().join("dir-index");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("index"), "kept").unwrap();

        assert_eq!(cache.prune(), 2);
        assert!(!expired_path.exists());
        assert!(!corrupt_path.exists());
        assert!(
            young_corrupt_path.exists(),
            "may be being replaced right now"
        );
        assert!(!orphan.exists());
        assert!(in_flight.exists());
        assert!(foreign.join("index").exists());
        let served = cache
            .get_or_mint(&valid, &origin(&valid), must_not_mint)
            .unwrap();
        assert_eq!(served.token.expose(), "ghs_valid");
    }

    #[test]
    fn expired_entries_are_pruned_on_a_miss_at_most_once_an_interval() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let expired = key_for("https://github.com/example/expired", None);
        let expired_path = write_raw(&cache, &expired, &entry_json(&expired, "t", unix_now() - 1));
        get(&cache, &repo_key(), "ghs_a", 3600);
        assert!(!expired_path.exists(), "pruned by the first miss");
        assert!(cache.dir().join(PRUNE_STAMP).exists());

        write_raw(&cache, &expired, &entry_json(&expired, "t", unix_now() - 1));
        get(
            &cache,
            &key_for("https://github.com/example/other", None),
            "ghs_b",
            3600,
        );
        assert!(expired_path.exists(), "not again within the interval");
        age(&cache.dir().join(PRUNE_STAMP), PRUNE_INTERVAL);
        get(
            &cache,
            &key_for("https://github.com/example/third", None),
            "ghs_c",
            3600,
        );
        assert!(!expired_path.exists(), "pruned once the interval passed");
    }

    #[test]
    fn clear_removes_entries_and_free_lock_files_only() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        get(&cache, &repo_key(), "ghs_a", 3600);
        let other = key_for("gcr.io", None);
        get(&cache, &other, "ghs_b", 3600);
        let held = hold_lock(&cache, &other);
        fs::create_dir(cache.dir().join("dir-index")).unwrap();
        fs::write(cache.dir().join("dir-index/index"), "kept").unwrap();

        assert_eq!(cache.clear(), 2);
        assert!(cache.list().is_empty());
        assert!(!cache.lock_path(&repo_key().file_stem()).exists());
        assert!(
            cache.lock_path(&other.file_stem()).exists(),
            "held: left alone"
        );
        assert!(cache.dir().join("dir-index/index").exists());
        drop(held);
        assert_eq!(cache.clear(), 0);
        assert!(!cache.lock_path(&other.file_stem()).exists());
    }

    #[test]
    fn a_lock_held_too_long_is_a_clear_timeout() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN).with_lock_timeout(Duration::from_millis(150));
        let key = repo_key();
        let _held = hold_lock(&cache, &key);
        let started = Instant::now();
        let error = cache
            .get_or_mint(&key, &origin(&key), must_not_mint)
            .expect_err("times out");
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(started.elapsed() < Duration::from_secs(2));
        let MintOrCacheError::Cache(CacheError::LockTimeout { lock, waited }) = &error else {
            panic!("expected a lock timeout, got {error}");
        };
        assert_eq!(lock, &cache.lock_path(&key.file_stem()));
        assert!(*waited >= Duration::from_millis(150));
        let message = error.to_string();
        assert!(message.contains(&lock.display().to_string()), "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn an_unusable_lock_file_degrades_to_minting_without_the_cache() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        // A non-empty folder where the lock file belongs can be neither opened nor removed.
        let lock = cache.lock_path(&key.file_stem());
        fs::create_dir(&lock).unwrap();
        fs::write(lock.join("x"), "").unwrap();
        let served = get(&cache, &key, "ghs_uncached", 3600);
        assert_eq!(served.token.expose(), "ghs_uncached");
        assert!(!served.from_cache);
        assert!(!cache.entry_path(&key.file_stem()).exists());
    }

    #[test]
    fn concurrent_misses_mint_once() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("kargo-creds");
        let key = repo_key();
        let mints = AtomicUsize::new(0);
        let served: Vec<Served> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| {
                        // Each thread opens the cache and the lock file itself, like a process.
                        let cache = TokenCache::open(&dir, MARGIN).unwrap();
                        cache
                            .get_or_mint(&key, &origin(&key), || {
                                std::thread::sleep(Duration::from_millis(100));
                                let n = mints.fetch_add(1, Ordering::SeqCst);
                                minted(&format!("ghs_{n}"), 3600)
                            })
                            .unwrap()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .collect()
        });
        assert_eq!(mints.load(Ordering::SeqCst), 1);
        assert!(served.iter().all(|s| s.token.expose() == "ghs_0"));
        assert_eq!(served.iter().filter(|s| !s.from_cache).count(), 1);
    }

    #[test]
    fn a_waiter_starts_over_when_the_lock_file_was_replaced() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        let stem = key.file_stem();
        let first_holder = cache.lock(&stem).unwrap();
        let mints = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                cache.get_or_mint(&key, &origin(&key), || {
                    mints.fetch_add(1, Ordering::SeqCst);
                    minted("ghs_waiter", 3600)
                })
            });
            std::thread::sleep(Duration::from_millis(100));
            // The file is unlinked (as clear does) and a newcomer locks a new one.
            fs::remove_file(cache.lock_path(&stem)).unwrap();
            let newcomer = hold_lock(&cache, &key);
            drop(first_holder);
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(
                mints.load(Ordering::SeqCst),
                0,
                "the newcomer still excludes it"
            );
            drop(newcomer);
            let served = waiter.join().unwrap().unwrap();
            assert_eq!(served.token.expose(), "ghs_waiter");
        });
        assert_eq!(mints.load(Ordering::SeqCst), 1);
    }

    const HOLD_LOCK_ENV: &str = "KARGO_CREDS_TEST_HOLD_LOCK";
    const LOCK_HELD: &str = "lock-held-by-helper";

    /// Not a test: the process that `killed_lock_holder_does_not_block_the_next_one` starts
    /// (this test binary again) to hold a lock until it is SIGKILLed.
    #[test]
    #[ignore = "helper process for killed_lock_holder_does_not_block_the_next_one"]
    fn hold_lock_until_killed() {
        let Some(path) = std::env::var_os(HOLD_LOCK_ENV) else {
            return;
        };
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        FileExt::lock(&file).unwrap();
        // libtest may print its own "test … ..." in front on the same line.
        println!("{LOCK_HELD}");
        io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(60));
    }

    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn killed_lock_holder_does_not_block_the_next_one() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN).with_lock_timeout(Duration::from_millis(150));
        let key = repo_key();
        let mut holder = KillOnDrop(
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "cache::tests::hold_lock_until_killed"])
                .args(["--ignored", "--nocapture", "--test-threads=1"])
                .env(HOLD_LOCK_ENV, cache.lock_path(&key.file_stem()))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = holder.0.stdout.take().unwrap();
        let locked = io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.ends_with(LOCK_HELD));
        assert!(locked, "the helper process took the lock");

        let error = cache
            .get_or_mint(&key, &origin(&key), must_not_mint)
            .expect_err("the other process holds the lock");
        assert!(matches!(
            error,
            MintOrCacheError::Cache(CacheError::LockTimeout { .. })
        ));

        holder.0.kill().unwrap(); // SIGKILL: no chance to clean up
        holder.0.wait().unwrap();
        let cache = cache.with_lock_timeout(Duration::from_secs(5));
        let started = Instant::now();
        let served = get(&cache, &key, "ghs_after_kill", 3600);
        assert_eq!(served.token.expose(), "ghs_after_kill");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn errors_read_as_one_line() {
        let errors = [
            CacheError::Unsafe {
                dir: "/home/u/.cache/kargo-creds".into(),
                reason: "it is writable by group or others (mode 0777)".into(),
            },
            CacheError::Unusable {
                dir: "/ro".into(),
                reason: "Read-only file system (os error 30)".into(),
            },
            CacheError::LockTimeout {
                lock: "/c/x.lock".into(),
                waited: Duration::from_secs(60),
            },
            CacheError::Io {
                what: "replace",
                path: "/c/x.json".into(),
                reason: "No space left on device (os error 28)".into(),
            },
        ];
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown[2],
            "gave up after 60.0 s waiting for the token cache lock /c/x.lock: another process is minting the same token"
        );
        assert_eq!(
            shown[3],
            "cannot replace /c/x.json: No space left on device (os error 28)"
        );
        for line in &shown {
            assert!(!line.contains('\n'), "{line}");
        }
        let wrapped: MintOrCacheError<String> = errors[1].clone().into();
        assert_eq!(wrapped.to_string(), shown[1]);
    }

    /// A mint error that says when to ask again, as GitHub's `Retry-After` does.
    #[derive(Debug)]
    struct Refused {
        reason: &'static str,
        retry_after: Option<Duration>,
    }

    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.reason)
        }
    }

    impl RetryHint for Refused {
        fn retry_after(&self) -> Option<Duration> {
            self.retry_after
        }
    }

    const SERVER_ERROR: &str =
        "POST https://api.github.com/app/installations/1/access_tokens: 500 Internal Server Error";

    fn fail(cache: &TokenCache, key: &CacheKey, retry_after: Option<Duration>) -> String {
        cache
            .get_or_mint(key, &origin(key), || {
                Err::<Minted, _>(Refused {
                    reason: SERVER_ERROR,
                    retry_after,
                })
            })
            .expect_err("the mint fails")
            .to_string()
    }

    fn failure_record(cache: &TokenCache, key: &CacheKey) -> serde_json::Value {
        let text = fs::read_to_string(cache.failure_path(&key.file_stem())).expect("a record");
        serde_json::from_str(&text).expect("JSON")
    }

    #[test]
    fn a_failed_mint_is_recorded_and_the_next_attempt_fails_fast_with_its_reason() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        assert_eq!(fail(&cache, &key, None), SERVER_ERROR);
        let record = failure_record(&cache, &key);
        assert_eq!(record["reason"], SERVER_ERROR);
        let failed_at = parse_rfc3339(record["failed_at"].as_str().unwrap()).unwrap();
        let retry_at = parse_rfc3339(record["retry_at"].as_str().unwrap()).unwrap();
        assert_eq!(retry_at - failed_at, FAILURE_HOLD.as_secs() as i64);
        assert_eq!(mode_of(&cache.failure_path(&key.file_stem())), 0o600);

        let error = cache
            .get_or_mint(&key, &origin(&key), must_not_mint)
            .expect_err("fails fast");
        let MintOrCacheError::RecentFailure { reason, .. } = &error else {
            panic!("expected the recorded failure, got {error}");
        };
        assert_eq!(reason, SERVER_ERROR);
        let message = error.to_string();
        assert!(message.starts_with(SERVER_ERROR), "{message}");
        assert!(message.contains("kargo-creds cache clear"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        // Other tokens are not affected.
        let other = key_for("https://github.com/example/other", Some("kargo-demo"));
        assert_eq!(
            get(&cache, &other, "ghs_other", 3600).token.expose(),
            "ghs_other"
        );
        // `list` does not show it; `clear` forgets it and the next get asks again.
        assert_eq!(cache.list().len(), 1);
        cache.clear();
        assert!(!cache.failure_path(&key.file_stem()).exists());
        assert_eq!(
            get(&cache, &key, "ghs_after_clear", 3600).token.expose(),
            "ghs_after_clear"
        );
    }

    #[test]
    fn retry_after_sets_how_long_a_failure_stands_capped() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        for (asked, stands) in [(Some(30), 30), (Some(86_400), 60), (Some(0), 1), (None, 5)] {
            let key = key_for(&format!("https://github.com/example/r{stands}"), None);
            fail(&cache, &key, asked.map(Duration::from_secs));
            let record = failure_record(&cache, &key);
            let failed_at = parse_rfc3339(record["failed_at"].as_str().unwrap()).unwrap();
            let retry_at = parse_rfc3339(record["retry_at"].as_str().unwrap()).unwrap();
            assert_eq!(retry_at - failed_at, stands, "Retry-After {asked:?}");
        }
    }

    #[test]
    fn a_failure_that_no_longer_stands_is_tried_again_and_a_success_clears_it() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        let path = cache.failure_path(&key.file_stem());
        let record = |failed_at: i64, retry_at: i64| {
            serde_json::json!({
                "version": 1,
                "reason": SERVER_ERROR,
                "failed_at": rfc3339(failed_at),
                "retry_at": rfc3339(retry_at),
            })
            .to_string()
        };
        let now = unix_now();
        for planted in [
            record(now - 10, now - 5),    // over
            record(now + 100, now + 105), // from the future
            record(now, now + 3600),      // longer than any hold
            "{".to_owned(),               // unreadable
        ] {
            fs::write(&path, planted).unwrap();
            let served = get(&cache, &key, "ghs_fresh", 3600);
            assert!(!served.from_cache);
            assert!(!path.exists(), "the success removed the record");
            cache.clear();
        }
        // A symlink in its place is not followed either (and is replaced by a success).
        let outside = root.path().join("outside.json");
        fs::write(&outside, record(now, now + 30)).unwrap();
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        assert!(!get(&cache, &key, "ghs_fresh", 3600).from_cache);
        assert!(fs::symlink_metadata(&path).is_err());
        assert!(outside.exists());
    }

    #[test]
    fn a_recorded_failure_still_serves_a_cached_token_that_has_not_expired() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let key = repo_key();
        // Inside the margin (due for renewal) but valid for 100 s more.
        write_raw(&cache, &key, &entry_json(&key, "ghs_old", unix_now() + 100));
        let served = cache
            .get_or_mint(&key, &origin(&key), || {
                Err::<Minted, _>(Refused {
                    reason: SERVER_ERROR,
                    retry_after: None,
                })
            })
            .unwrap();
        assert_eq!(served.token.expose(), "ghs_old");
        assert!(cache.failure_path(&key.file_stem()).exists());
        // The next process serves it too, without asking again.
        let served = cache
            .get_or_mint(&key, &origin(&key), must_not_mint)
            .unwrap();
        assert_eq!(served.token.expose(), "ghs_old");
    }

    #[test]
    fn concurrent_misses_behind_a_failing_mint_ask_once() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("kargo-creds");
        let key = repo_key();
        let mints = AtomicUsize::new(0);
        let errors: Vec<String> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| {
                        let cache = TokenCache::open(&dir, MARGIN).unwrap();
                        cache
                            .get_or_mint(&key, &origin(&key), || {
                                std::thread::sleep(Duration::from_millis(100));
                                mints.fetch_add(1, Ordering::SeqCst);
                                Err::<Minted, _>(Refused {
                                    reason: SERVER_ERROR,
                                    retry_after: Some(Duration::from_secs(30)),
                                })
                            })
                            .expect_err("fails")
                            .to_string()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .collect()
        });
        assert_eq!(mints.load(Ordering::SeqCst), 1);
        assert!(
            errors.iter().all(|e| e.starts_with(SERVER_ERROR)),
            "{errors:?}"
        );
    }

    #[test]
    fn prune_removes_failures_that_no_longer_stand() {
        let root = tempfile::tempdir().unwrap();
        let cache = new_cache(root.path(), MARGIN);
        let standing = repo_key();
        fail(&cache, &standing, Some(Duration::from_secs(30)));
        let over = key_for("https://github.com/example/over", None);
        let over_path = cache.failure_path(&over.file_stem());
        let now = unix_now();
        fs::write(
            &over_path,
            serde_json::json!({"version": 1, "reason": "x", "failed_at": rfc3339(now - 70), "retry_at": rfc3339(now - 65)}).to_string(),
        )
        .unwrap();
        age(&over_path, Duration::from_secs(70));
        cache.prune();
        assert!(!over_path.exists());
        assert!(cache.failure_path(&standing.file_stem()).exists());
        assert_eq!(
            classify(&format!("{}.failure", standing.file_stem())),
            Some(FileKind::Failure)
        );
        assert_eq!(
            classify(&format!("{}.failure.tmp.1.2", standing.file_stem())),
            Some(FileKind::Temp)
        );
    }
}
