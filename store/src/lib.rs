//! # bolide-store — one shard's storage engine
//!
//! (layout docs filled in below as modules land)

pub mod config;
pub mod error;
pub mod index;
pub mod io;

#[cfg(test)]
pub(crate) mod testutil;

pub use config::{FlushMode, StoreConfig};
pub use error::{Result, StoreError};
pub mod layout;
pub(crate) mod log;
