//! The commit log.
pub(crate) mod buffer;
pub(crate) mod windows;
