//! TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) for virtual MFA devices, and the
//! RFC 4648 base32 codec used for `Base32StringSeed`.

use aws_lc_rs::hmac;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::ids::fill_random;

/// Time step in seconds.
pub const TIME_STEP: i64 = 30;
/// Number of digits in a code.
pub const DIGITS: usize = 6;
/// Largest accepted `skew_steps` (larger values are clamped).
pub const MAX_SKEW_STEPS: u64 = 10;
/// Seed length of generated virtual MFA devices (40 bytes = 64 base32 characters, as AWS).
pub const SEED_LEN: usize = 40;

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new random TOTP seed of [`SEED_LEN`] bytes.
pub fn new_seed() -> Zeroizing<Vec<u8>> {
    let mut seed = Zeroizing::new(vec![0u8; SEED_LEN]);
    fill_random(&mut seed);
    seed
}

/// The time step containing `unix_time` (0 for times before the epoch).
pub fn time_step(unix_time: i64) -> u64 {
    u64::try_from(unix_time.div_euclid(TIME_STEP)).unwrap_or(0)
}

/// RFC 4226 HOTP value for `counter`, as a number below 10^6.
pub fn hotp(seed: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // SHA-1 output is 20 bytes; the dynamic offset is at most 15, so offset+3 <= 18.
    let offset = usize::from(mac.get(19).copied().unwrap_or(0) & 0x0f);
    let bytes = [
        mac.get(offset).copied().unwrap_or(0),
        mac.get(offset + 1).copied().unwrap_or(0),
        mac.get(offset + 2).copied().unwrap_or(0),
        mac.get(offset + 3).copied().unwrap_or(0),
    ];
    let bin = u32::from_be_bytes(bytes) & 0x7fff_ffff;
    bin % 1_000_000
}

fn format_code(n: u32) -> [u8; DIGITS] {
    let mut out = [b'0'; DIGITS];
    let mut n = n;
    for d in out.iter_mut().rev() {
        // n % 10 < 10, so the cast cannot truncate.
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}

/// The 6-digit code for the step containing `unix_time`.
pub fn totp_code(seed: &[u8], unix_time: i64) -> String {
    totp_code_at_step(seed, time_step(unix_time))
}

/// The 6-digit code for time step `step`.
pub fn totp_code_at_step(seed: &[u8], step: u64) -> String {
    format_code(hotp(seed, step))
        .iter()
        .map(|&b| char::from(b))
        .collect()
}

/// Checks `code` against the steps `now-skew ..= now+skew` and returns the matching step
/// (preferring the current step, then earlier, then later ones). `skew_steps` is clamped to
/// [`MAX_SKEW_STEPS`]. Every candidate is computed
/// and compared in constant time. `None` if `code` is not exactly 6 ASCII digits or matches
/// no step.
///
/// The caller must reject a step it has already accepted for the device (replay), e.g. with
/// the store's one-time state keyed by (device, step), or by requiring step > last used step.
pub fn verify_totp(seed: &[u8], code: &str, now: i64, skew_steps: u64) -> Option<u64> {
    let code = code.as_bytes();
    if code.len() != DIGITS || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let skew = skew_steps.min(MAX_SKEW_STEPS);
    let current = time_step(now);
    let mut found = Choice::from(0);
    let mut matched = 0u64;
    // Order: current, current-1, current+1, current-2, …
    let mut candidates = Vec::with_capacity(2 * MAX_SKEW_STEPS as usize + 1);
    candidates.push(Some(current));
    for d in 1..=skew {
        candidates.push(current.checked_sub(d));
        candidates.push(current.checked_add(d));
    }
    for step in candidates.into_iter().flatten() {
        let expected = format_code(hotp(seed, step));
        let hit = expected.ct_eq(code) & !found;
        if bool::from(hit) {
            matched = step;
        }
        found |= hit;
    }
    bool::from(found).then_some(matched)
}

/// For enabling/resyncing a device (IAM `EnableMFADevice`, `ResyncMFADevice`): two
/// consecutive codes. Finds a step `s` within `now ± skew_steps` such that `code1` is the code
/// of `s - 1` and `code2` the code of `s`; returns `s`.
pub fn verify_totp_pair(
    seed: &[u8],
    code1: &str,
    code2: &str,
    now: i64,
    skew_steps: u64,
) -> Option<u64> {
    let c1 = code1.as_bytes();
    let c2 = code2.as_bytes();
    if c1.len() != DIGITS || c2.len() != DIGITS || !c1.iter().chain(c2).all(u8::is_ascii_digit) {
        return None;
    }
    let skew = skew_steps.min(MAX_SKEW_STEPS);
    let current = time_step(now);
    let lo = current.saturating_sub(skew).max(1);
    let hi = current.saturating_add(skew);
    let mut result = None;
    for step in lo..=hi {
        let ok =
            format_code(hotp(seed, step - 1)).ct_eq(c1) & format_code(hotp(seed, step)).ct_eq(c2);
        if bool::from(ok) && result.is_none() {
            result = Some(step);
        }
    }
    result
}

/// RFC 4648 base32 (alphabet `A-Z2-7`) without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let idx = ((buffer >> bits) & 31) as usize;
            out.push(char::from(BASE32_ALPHABET[idx]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        let idx = ((buffer << (5 - bits)) & 31) as usize;
        out.push(char::from(BASE32_ALPHABET[idx]));
    }
    out
}

/// Why base32 text could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    #[error("invalid base32 character")]
    InvalidCharacter,
    #[error("invalid base32 length")]
    InvalidLength,
    #[error("non-canonical base32 (non-zero trailing bits)")]
    NonCanonical,
}

/// Decodes RFC 4648 base32, padded or not. Case-insensitive; spaces are ignored (seeds are
/// often shown in groups). Trailing `=` padding is accepted but not required; a length no
/// encoding can produce, or non-zero leftover bits, is an error.
pub fn base32_decode(text: &str) -> Result<Zeroizing<Vec<u8>>, Base32Error> {
    let trimmed = text.trim_end_matches(|c: char| c == '=' || c.is_ascii_whitespace());
    let mut out = Zeroizing::new(Vec::with_capacity(trimmed.len() * 5 / 8 + 1));
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    let mut count = 0usize;
    for c in trimmed.bytes() {
        if c == b' ' {
            continue;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return Err(Base32Error::InvalidCharacter),
        };
        count += 1;
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    if matches!(count % 8, 1 | 3 | 6) {
        return Err(Base32Error::InvalidLength);
    }
    if buffer != 0 {
        return Err(Base32Error::NonCanonical);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 column, last 6 of the 8 digits.
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, eight) in vectors {
            let six = &eight[2..];
            assert_eq!(totp_code(RFC_SEED, t), six, "t={t}");
            assert_eq!(verify_totp(RFC_SEED, six, t, 1), Some(time_step(t)));
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SEED, i as u64), *e);
        }
        assert_eq!(totp_code_at_step(RFC_SEED, 0), "755224");
    }

    #[test]
    fn skew_window() {
        let now = 1_700_000_000;
        let step = time_step(now);
        let prev = totp_code_at_step(RFC_SEED, step - 1);
        let next = totp_code_at_step(RFC_SEED, step + 1);
        let far = totp_code_at_step(RFC_SEED, step + 2);
        assert_eq!(verify_totp(RFC_SEED, &prev, now, 1), Some(step - 1));
        assert_eq!(verify_totp(RFC_SEED, &next, now, 1), Some(step + 1));
        assert_eq!(verify_totp(RFC_SEED, &prev, now, 0), None);
        if far != prev && far != next && far != totp_code(RFC_SEED, now) {
            assert_eq!(verify_totp(RFC_SEED, &far, now, 1), None);
        }
        assert_eq!(verify_totp(RFC_SEED, "12345", now, 1), None);
        assert_eq!(verify_totp(RFC_SEED, "1234567", now, 1), None);
        assert_eq!(verify_totp(RFC_SEED, "12a456", now, 1), None);
        assert_eq!(verify_totp(RFC_SEED, "", now, 1), None);
        // Before the epoch / at step 0 there is no step -1.
        assert_eq!(verify_totp(RFC_SEED, "755224", 0, 1), Some(0));
        assert_eq!(verify_totp(RFC_SEED, "755224", -100, 1), Some(0));
    }

    #[test]
    fn pairs() {
        let now = 1_700_000_000;
        let s = time_step(now);
        let c1 = totp_code_at_step(RFC_SEED, s - 1);
        let c2 = totp_code_at_step(RFC_SEED, s);
        assert_eq!(verify_totp_pair(RFC_SEED, &c1, &c2, now, 1), Some(s));
        assert_eq!(verify_totp_pair(RFC_SEED, &c2, &c1, now, 1), None);
        let c0 = totp_code_at_step(RFC_SEED, s - 2);
        assert_eq!(verify_totp_pair(RFC_SEED, &c0, &c1, now, 1), Some(s - 1));
        assert_eq!(verify_totp_pair(RFC_SEED, &c0, &c1, now, 0), None);
        assert_eq!(verify_totp_pair(RFC_SEED, "x", &c1, now, 1), None);
    }

    #[test]
    fn base32_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, enc) in cases {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap().as_slice(), plain.as_bytes());
            assert_eq!(
                base32_decode(&enc.to_lowercase()).unwrap().as_slice(),
                plain.as_bytes()
            );
        }
        assert_eq!(base32_decode("MZXW6YQ=").unwrap().as_slice(), b"foob");
        assert_eq!(base32_decode("MY======").unwrap().as_slice(), b"f");
        assert_eq!(base32_decode("MZXW 6YTB OI").unwrap().as_slice(), b"foobar");
        assert_eq!(base32_decode("M").unwrap_err(), Base32Error::InvalidLength);
        assert_eq!(
            base32_decode("MZX").unwrap_err(),
            Base32Error::InvalidLength
        );
        assert_eq!(
            base32_decode("MZ1W").unwrap_err(),
            Base32Error::InvalidCharacter
        );
        assert_eq!(base32_decode("MZ").unwrap_err(), Base32Error::NonCanonical); // leftover bits
        assert_eq!(base32_encode(RFC_SEED), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn seeds() {
        let s = new_seed();
        assert_eq!(s.len(), SEED_LEN);
        let enc = base32_encode(&s);
        assert_eq!(enc.len(), 64);
        assert_eq!(base32_decode(&enc).unwrap().as_slice(), s.as_slice());
    }

    proptest! {
        #[test]
        fn base32_round_trip(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let enc = base32_encode(&data);
            let dec = base32_decode(&enc).unwrap();
            prop_assert_eq!(dec.as_slice(), data.as_slice());
        }

        #[test]
        fn base32_decode_never_panics(s in "\\PC{0,100}") {
            let _ = base32_decode(&s);
        }

        #[test]
        fn code_is_six_digits(seed in proptest::collection::vec(any::<u8>(), 0..64), t in any::<i64>()) {
            let c = totp_code(&seed, t);
            prop_assert_eq!(c.len(), 6);
            prop_assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
