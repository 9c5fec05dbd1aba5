//! Random identifiers: access key ids, secret access keys, unique ids and account ids.
//!
//! All randomness comes from the operating system RNG ([`rand::rngs::OsRng`]). Each generator
//! has a `*_with` variant taking any [`RngCore`] so tests can be deterministic.

use base64::Engine as _;
use rand::rngs::OsRng;
use rand::{Rng, RngCore, TryRngCore};

/// Prefix of long-term (IAM user / root) access key ids.
pub const LONG_TERM_ACCESS_KEY_PREFIX: &str = "AKIA";
/// Prefix of temporary (STS) access key ids.
pub const TEMPORARY_ACCESS_KEY_PREFIX: &str = "ASIA";
/// Unique-id prefix of IAM users.
pub const USER_ID_PREFIX: &str = "AIDA";
/// Unique-id prefix of IAM roles.
pub const ROLE_ID_PREFIX: &str = "AROA";
/// Unique-id prefix of IAM groups.
pub const GROUP_ID_PREFIX: &str = "AGPA";
/// Unique-id prefix of managed policies.
pub const POLICY_ID_PREFIX: &str = "ANPA";
/// Unique-id prefix of managed policy versions.
pub const POLICY_VERSION_ID_PREFIX: &str = "ANVA";

/// Length of a generated access key id (with a 4-character prefix).
pub const ACCESS_KEY_ID_LEN: usize = 20;
/// Length of a generated secret access key.
pub const SECRET_ACCESS_KEY_LEN: usize = 40;
/// Length of a generated unique id (with a 4-character prefix).
pub const UNIQUE_ID_LEN: usize = 21;
/// Length of an account id.
pub const ACCOUNT_ID_LEN: usize = 12;

/// RFC 4648 base32 alphabet (`A-Z2-7`), the alphabet AWS uses in key ids and unique ids.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The operating-system RNG as an infallible [`RngCore`].
///
/// A failing OS RNG is not recoverable; like `rand::rng()`, this panics inside `rand` in that
/// case rather than handing out predictable identifiers or nonces.
pub(crate) fn os_rng() -> rand::rand_core::UnwrapErr<OsRng> {
    OsRng.unwrap_err()
}

/// Fills `buf` from the operating-system RNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
    os_rng().fill_bytes(buf);
}

fn random_base32<R: RngCore + ?Sized>(rng: &mut R, out: &mut String, n: usize) {
    // One RNG call per 32 characters (with the OS RNG, each call is a system call).
    let mut buf = [0u8; 32];
    let mut left = n;
    while left > 0 {
        let take = left.min(buf.len());
        let chunk = &mut buf[..take];
        rng.fill_bytes(chunk);
        for b in chunk.iter() {
            // 32 symbols: masking 5 bits of a uniform byte is uniform.
            out.push(char::from(BASE32_ALPHABET[usize::from(*b & 31)]));
        }
        left -= take;
    }
}

/// New access key id: `prefix` followed by 16 random characters from `A-Z2-7`
/// (20 characters for the usual 4-character prefixes `AKIA` / `ASIA`).
pub fn new_access_key_id(prefix: &str) -> String {
    new_access_key_id_with(&mut os_rng(), prefix)
}

/// [`new_access_key_id`] with an injected RNG.
pub fn new_access_key_id_with<R: RngCore + ?Sized>(rng: &mut R, prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    random_base32(rng, &mut s, 16);
    s
}

/// New access key id that names its account, as AWS key ids do: `prefix`, then 8 characters
/// of `A-Z2-7` encoding the 12-digit account number (40 bits, big-endian), then 8 random
/// characters (40 bits). [`account_from_access_key_id`] reads the account back, so
/// GetAccessKeyInfo needs no lookup. `account_id` must be 12 digits; anything else is encoded
/// as account 0 (callers validate account ids first).
pub fn new_access_key_id_for_account(prefix: &str, account_id: &str) -> String {
    new_access_key_id_for_account_with(&mut os_rng(), prefix, account_id)
}

/// [`new_access_key_id_for_account`] with an injected RNG.
pub fn new_access_key_id_for_account_with<R: RngCore + ?Sized>(
    rng: &mut R,
    prefix: &str,
    account_id: &str,
) -> String {
    let account: u64 = if is_valid_account_id(account_id) {
        account_id.parse().unwrap_or(0)
    } else {
        0
    };
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    for i in (0..8).rev() {
        let idx = usize::try_from((account >> (i * 5)) & 0x1f).unwrap_or(0);
        s.push(char::from(BASE32_ALPHABET[idx]));
    }
    random_base32(rng, &mut s, 8);
    s
}

/// The account encoded in an access key id made by [`new_access_key_id_for_account`]
/// (any 4-character prefix), or `None` if the id cannot carry one.
pub fn account_from_access_key_id(access_key_id: &str) -> Option<String> {
    let b = access_key_id.as_bytes();
    if b.len() < 12 || !is_valid_access_key_id(access_key_id) {
        return None;
    }
    let mut n: u64 = 0;
    for &c in &b[4..12] {
        let v = BASE32_ALPHABET.iter().position(|&a| a == c)?;
        n = (n << 5) | u64::try_from(v).ok()?;
    }
    if n > 999_999_999_999 {
        return None;
    }
    Some(format!("{n:012}"))
}

/// New secret access key: 40 characters of the standard base64 alphabet (`A-Za-z0-9+/`),
/// i.e. 240 random bits.
pub fn new_secret_access_key() -> String {
    new_secret_access_key_with(&mut os_rng())
}

/// [`new_secret_access_key`] with an injected RNG.
pub fn new_secret_access_key_with<R: RngCore + ?Sized>(rng: &mut R) -> String {
    let mut bytes = zeroize::Zeroizing::new([0u8; 30]);
    rng.fill_bytes(bytes.as_mut());
    base64::engine::general_purpose::STANDARD.encode(bytes.as_ref())
}

/// New unique id: `prefix` (`AIDA`, `AROA`, `AGPA`, `ANPA`, `ANVA`, …) followed by 17 random
/// characters from `A-Z2-7` (uppercase alphanumerics, as AWS uses), 21 characters in all.
pub fn new_unique_id(prefix: &str) -> String {
    new_unique_id_with(&mut os_rng(), prefix)
}

/// [`new_unique_id`] with an injected RNG.
pub fn new_unique_id_with<R: RngCore + ?Sized>(rng: &mut R, prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    random_base32(rng, &mut s, 17);
    s
}

/// New 12-digit account id without a leading zero.
pub fn new_account_id() -> String {
    new_account_id_with(&mut os_rng())
}

/// [`new_account_id`] with an injected RNG.
pub fn new_account_id_with<R: RngCore + ?Sized>(rng: &mut R) -> String {
    let n: u64 = rng.random_range(100_000_000_000..=999_999_999_999);
    n.to_string()
}

/// Whether `s` is a syntactically valid account id: exactly 12 ASCII digits. A leading zero is
/// accepted (real AWS account ids can start with 0); [`new_account_id`] never produces one.
pub fn is_valid_account_id(s: &str) -> bool {
    s.len() == ACCOUNT_ID_LEN && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` looks like an access key id: 16..=128 ASCII alphanumerics (the AWS model's
/// bound; ids minted here are 20 uppercase characters).
pub fn is_valid_access_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` is a temporary (STS, `ASIA…`) access key id.
pub fn is_temporary_access_key_id(s: &str) -> bool {
    s.starts_with(TEMPORARY_ACCESS_KEY_PREFIX) && is_valid_access_key_id(s)
}

#[cfg(test)]
mod tests {

    /// The random part comes from the OS RNG in one call per id: ids are distinct and use every
    /// symbol of the alphabet in the random positions.
    #[test]
    fn os_random_ids_are_distinct_and_spread() {
        let mut seen = std::collections::HashSet::new();
        let mut symbols = std::collections::HashSet::new();
        for _ in 0..2000 {
            let id = new_access_key_id_for_account("ASIA", "123456789012");
            assert_eq!(id.len(), 20);
            symbols.extend(id[12..].chars());
            assert!(seen.insert(id));
        }
        assert_eq!(symbols.len(), 32);
        let a = new_access_key_id("AKIA");
        let b = new_access_key_id("AKIA");
        assert_ne!(a, b);
    }

    use super::*;

    #[test]
    fn access_key_ids_carry_their_account() {
        for acct in [
            "123456789012",
            "000000000001",
            "999999999999",
            "481516234200",
        ] {
            let id = new_access_key_id_for_account("ASIA", acct);
            assert_eq!(id.len(), ACCESS_KEY_ID_LEN);
            assert!(id.starts_with("ASIA"));
            assert!(is_valid_access_key_id(&id));
            assert_eq!(account_from_access_key_id(&id).as_deref(), Some(acct));
        }
        assert_eq!(account_from_access_key_id("AKIA99999999"), None);
        assert_eq!(account_from_access_key_id("short"), None);
    }
    use rand::SeedableRng;

    fn is_b32(s: &str) -> bool {
        s.bytes().all(|b| BASE32_ALPHABET.contains(&b))
    }

    #[test]
    fn access_key_ids() {
        for prefix in ["AKIA", "ASIA"] {
            let id = new_access_key_id(prefix);
            assert_eq!(id.len(), ACCESS_KEY_ID_LEN);
            assert!(id.starts_with(prefix));
            assert!(is_b32(&id[4..]));
            assert!(is_valid_access_key_id(&id));
        }
        assert!(is_temporary_access_key_id(&new_access_key_id("ASIA")));
        assert!(!is_temporary_access_key_id(&new_access_key_id("AKIA")));
        assert_ne!(new_access_key_id("AKIA"), new_access_key_id("AKIA"));
    }

    #[test]
    fn secret_access_keys() {
        let mut seen_special = false;
        for _ in 0..200 {
            let k = new_secret_access_key();
            assert_eq!(k.len(), SECRET_ACCESS_KEY_LEN);
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            );
            seen_special |= k.contains('+') || k.contains('/');
        }
        assert!(seen_special);
    }

    #[test]
    fn unique_ids() {
        for prefix in ["AIDA", "AROA", "AGPA", "ANPA", "ANVA"] {
            let id = new_unique_id(prefix);
            assert_eq!(id.len(), UNIQUE_ID_LEN);
            assert!(id.starts_with(prefix));
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
        }
    }

    #[test]
    fn account_ids() {
        for _ in 0..1000 {
            let a = new_account_id();
            assert!(is_valid_account_id(&a), "{a}");
            assert!(!a.starts_with('0'));
        }
        assert!(is_valid_account_id("012345678901"));
        assert!(!is_valid_account_id("12345678901"));
        assert!(!is_valid_account_id("1234567890123"));
        assert!(!is_valid_account_id("12345678901a"));
        assert!(!is_valid_account_id("１２３４５６７８９０１２"));
        assert!(!is_valid_account_id(""));
    }

    #[test]
    fn injected_rng_is_deterministic() {
        let mut a = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = rand::rngs::StdRng::seed_from_u64(7);
        assert_eq!(
            new_access_key_id_with(&mut a, "AKIA"),
            new_access_key_id_with(&mut b, "AKIA")
        );
        assert_eq!(
            new_secret_access_key_with(&mut a),
            new_secret_access_key_with(&mut b)
        );
        assert_eq!(
            new_unique_id_with(&mut a, "AROA"),
            new_unique_id_with(&mut b, "AROA")
        );
        assert_eq!(new_account_id_with(&mut a), new_account_id_with(&mut b));
    }
}
