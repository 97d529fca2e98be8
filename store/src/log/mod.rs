//! The commit log.
pub(crate) mod buffer;
