//! KV config: namespaced string settings kept by the NameServer
//! (PUT/GET/DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE), e.g. the
//! `ORDER_TOPIC_CONFIG` namespace read by clients.

use std::collections::BTreeMap;

/// Longest namespace, key or value accepted; settings are small by nature.
pub const MAX_KV_ENTRY_BYTES: usize = 16 * 1024;

/// Namespace → key → value.
#[derive(Debug, Default)]
pub struct KvConfig {
    table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvConfig {
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> Result<(), &'static str> {
        if namespace.is_empty() || key.is_empty() {
            return Err("namespace and key must not be empty");
        }
        if [namespace, key, value]
            .iter()
            .any(|s| s.len() > MAX_KV_ENTRY_BYTES)
        {
            return Err("namespace, key or value too long");
        }
        self.table
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.table.get(namespace)?.get(key).map(String::as_str)
    }

    pub fn delete(&mut self, namespace: &str, key: &str) {
        if let Some(keys) = self.table.get_mut(namespace) {
            keys.remove(key);
            if keys.is_empty() {
                self.table.remove(namespace);
            }
        }
    }

    pub fn list(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.table.get(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_delete_list() {
        let mut kv = KvConfig::default();
        kv.put("ns", "k", "v").unwrap();
        kv.put("ns", "k2", "v2").unwrap();
        assert_eq!(kv.get("ns", "k"), Some("v"));
        assert_eq!(kv.list("ns").map(|m| m.len()), Some(2));
        kv.delete("ns", "k");
        kv.delete("ns", "k2");
        assert_eq!(kv.get("ns", "k"), None);
        assert!(kv.list("ns").is_none());
        assert!(kv.put("", "k", "v").is_err());
        assert!(kv
            .put("ns", "k", &"x".repeat(MAX_KV_ENTRY_BYTES + 1))
            .is_err());
    }
}
