//! Stable hashes for anything that must agree across cores, processes and
//! versions (shard routing, on-disk index slots). Seeded hashers such as
//! ahash's must never be used for those.

/// 32-bit FNV-1a of a byte sequence.
pub fn fnv1a32(bytes: impl IntoIterator<Item = u8>) -> u32 {
    bytes.into_iter().fold(0x811C_9DC5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_fnv1a_values() {
        assert_eq!(fnv1a32(*b""), 0x811C_9DC5);
        assert_eq!(fnv1a32(*b"a"), 0xE40C_292C);
        assert_eq!(fnv1a32(*b"foobar"), 0xBF9C_F968);
    }
}
