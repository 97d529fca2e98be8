//! NameServer configuration: `namesrv.toml` (every key optional, unknown
//! keys rejected by name). `deploy/namesrv.toml` is the annotated default,
//! embedded, and kept equal to [`NamesrvConfig::default`] by a test.

use serde::Deserialize;

/// The annotated default configuration file.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../deploy/namesrv.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamesrvConfig {
    pub listen_addr: String,
    pub scan_interval_ms: u64,
    pub broker_timeout_ms: u64,
    pub max_frame_bytes: usize,
    pub enable_all_topic_list: bool,
    /// A connection that completes no frame for this long is closed, ms.
    pub idle_timeout_ms: u64,
    /// Connections served at once; more are closed at accept, logged.
    pub max_connections: usize,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        NamesrvConfig {
            listen_addr: "0.0.0.0:9876".into(),
            scan_interval_ms: 10_000,
            broker_timeout_ms: 120_000,
            max_frame_bytes: 16 << 20,
            enable_all_topic_list: true,
            idle_timeout_ms: 120_000,
            max_connections: 10_000,
        }
    }
}

impl NamesrvConfig {
    /// Parses and validates a `namesrv.toml` text; errors name the key.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let config: NamesrvConfig =
            toml::from_str(text).map_err(|e| format!("namesrv config: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.listen_addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "config key `listen_addr`: {:?} is not ip:port",
                self.listen_addr
            ));
        }
        if self.scan_interval_ms == 0 {
            return Err("config key `scan_interval_ms`: must be > 0".into());
        }
        if self.broker_timeout_ms < self.scan_interval_ms {
            return Err("config key `broker_timeout_ms`: must be >= scan_interval_ms".into());
        }
        if self.max_frame_bytes < 4096 {
            return Err("config key `max_frame_bytes`: must be >= 4096".into());
        }
        if self.idle_timeout_ms < 1_000 {
            return Err("config key `idle_timeout_ms`: must be >= 1000".into());
        }
        if self.max_connections == 0 {
            return Err("config key `max_connections`: must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_equals_default() {
        assert_eq!(
            NamesrvConfig::from_toml(DEFAULT_CONFIG_TOML).unwrap(),
            NamesrvConfig::default()
        );
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        assert!(NamesrvConfig::from_toml("listen = 1")
            .unwrap_err()
            .contains("listen"));
        assert!(NamesrvConfig::from_toml("listen_addr = \"x\"")
            .unwrap_err()
            .contains("listen_addr"));
        assert!(NamesrvConfig::from_toml("scan_interval_ms = 0")
            .unwrap_err()
            .contains("scan_interval_ms"));
    }
}
