//! Stable hashing for the client's placement decisions: the consistent-hash
//! rebalance ring and ordered sends (sharding key → queue).
//!
//! Both must give the same answer in every process, on every platform and in
//! every release — all consumers of a group must agree on the ring, and every
//! producer must send one key to one queue — so std's randomly seeded
//! `SipHash` will not do. [`stable_hash64`] is FNV-1a (64-bit, fixed by its
//! published constants) followed by MurmurHash3's 64-bit finalizer: plain
//! FNV-1a barely moves the high bits when keys differ only in their last
//! bytes (`client-1`, `client-2`), which clusters points on a hash ring.
//!
//! It is *not* what Java clients use (`String.hashCode` for ordered sends, MD5
//! for the hash ring); mixed Java/Rust groups must not rely on agreeing here.

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit, of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// MurmurHash3's `fmix64`: every input bit affects every output bit.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The client's stable hash: `fmix64(fnv1a64(bytes))`.
pub fn stable_hash64(bytes: &[u8]) -> u64 {
    fmix64(fnv1a64(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_pinned() {
        // Changing these values reshuffles every deployed group: don't.
        let cases: [(&[u8], u64); 3] = [
            (b"", 0xefd0_1f60_ba99_2926),
            (b"a", 0x82a2_a958_a9be_ce5b),
            (b"foobar", 0x2c22_1949_22d1_672b),
        ];
        for (input, want) in cases {
            assert_eq!(stable_hash64(input), want, "{input:?}");
        }
    }

    #[test]
    fn fnv_matches_published_vectors() {
        let cases: [(&[u8], u64); 3] = [
            (b"", 0xcbf2_9ce4_8422_2325),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"foobar", 0x8594_4171_f739_67e8),
        ];
        for (input, want) in cases {
            assert_eq!(fnv1a64(input), want, "{input:?}");
        }
    }
}
