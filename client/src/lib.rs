//! # bolide-client — Bolide's Rust client, and the transport its servers share
//!
//! * [`remoting`] — a duplex remoting connection over glommio, used by the
//!   NameServer and broker to serve requests and by clients to send them.

pub mod remoting;
