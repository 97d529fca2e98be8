//! The commit log.
pub(crate) mod buffer;
pub(crate) mod follow;
pub(crate) mod tail;
pub(crate) mod windows;
pub(crate) mod writes;
