//! Ownership of a data directory: one broker process per directory, and
//! one shard count for its life.
//!
//! Before any store opens, the broker takes an exclusive, non-blocking
//! `flock` on `<data_dir>/lock` (which records its pid for operators) and
//! holds it as long as the [`DataDirLock`] lives. flock locks belong to the
//! open file, so the kernel drops the lock when the process exits however
//! it exits (even `kill -9`): a stale file never blocks a restart. A
//! second broker on the same directory — embedded ones (loadgen, tests)
//! included — refuses to start, naming the holder.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The lock file inside the data directory.
const LOCK_FILE: &str = "lock";
/// File under `<data>/config/` recording the shard count the directory
/// was written with.
const SHARD_COUNT_FILE: &str = "shards";

/// The held lock of a data directory; released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes `<dir>/lock` without waiting and writes our pid in it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        // No truncation on open: the holder's pid must stay readable.
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // SAFETY: flock only reads the descriptor, which `file` keeps open.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::WouldBlock {
                return Err(format!("cannot lock {}: {err}", path.display()));
            }
            return Err(format!(
                "data directory {} is in use by another broker ({}, holding {}); \
                 stop it or choose another --data-dir",
                dir.display(),
                lock_holder(&mut file),
                path.display()
            ));
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(DataDirLock { _file: file })
    }
}

/// "pid N" from a lock file another process holds, if it wrote one yet.
fn lock_holder(file: &mut File) -> String {
    let mut text = String::new();
    match file
        .read_to_string(&mut text)
        .map(|_| text.trim().parse::<u32>())
    {
        Ok(Ok(pid)) => format!("pid {pid}"),
        _ => "pid unknown".to_owned(),
    }
}

/// Refuses a data directory written with another shard count: queues map
/// to shards by count, so changing it would orphan stored messages.
pub fn check_shard_count(config_dir: &Path, shards: usize) -> Result<(), String> {
    let path = config_dir.join(SHARD_COUNT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim() == shards.to_string() => Ok(()),
        Ok(text) => Err(format!(
            "data directory was written with {} shards; set broker.shards = {} (changing it is not supported)",
            text.trim(),
            text.trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::write(&path, shards.to_string())
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_goes() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(err.contains("in use by another broker"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn the_shard_count_is_fixed_by_the_first_start() {
        let dir = tempfile::tempdir().unwrap();
        check_shard_count(dir.path(), 2).unwrap();
        check_shard_count(dir.path(), 2).unwrap();
        let err = check_shard_count(dir.path(), 3).unwrap_err();
        assert!(err.contains("broker.shards = 2"), "{err}");
    }
}
