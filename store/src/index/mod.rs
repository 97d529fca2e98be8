//! The key index: message keys and unique keys → commit-log offsets, with a
//! store-time range.
//!
//! [`format`] is the pure on-disk format of one index file (hash slots +
//! chained entries) and the sans-IO lookup that walks it.
pub mod format;
