//! JWKS parsing into ready-to-use verification keys.
//!
//! The parser is lenient about the set and strict about each key: a key that is not a
//! signature key we can use is skipped (encryption keys, `oct` secrets, unknown `kty`, curves
//! other than P-256/P-384/Ed25519, RSA moduli outside 2048..=8192 bits, bad base64url, …), so
//! one odd entry published by an IdP does not take the whole set down. `oct` keys are never
//! turned into verification keys: HMAC is not an accepted token algorithm at all.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::OidcError;
use crate::jose::parse_alg;

/// At most this many keys are kept from one JWKS (the rest are ignored).
pub const MAX_JWKS_KEYS: usize = 100;

/// JWKS documents larger than this are refused before parsing.
pub const MAX_JWKS_BYTES: usize = 512 * 1024;

const MIN_RSA_MODULUS_BYTES: usize = 256; // 2048 bits
const MAX_RSA_MODULUS_BYTES: usize = 1024; // 8192 bits
const MAX_RSA_EXPONENT_BYTES: usize = 8;

/// The kind of public key, which fixes the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `kty: RSA`: RS256/384/512, PS256/384/512.
    Rsa,
    /// `kty: EC`, `crv: P-256`: ES256 only.
    EcP256,
    /// `kty: EC`, `crv: P-384`: ES384 only.
    EcP384,
    /// `kty: OKP`, `crv: Ed25519`: EdDSA only.
    Ed25519,
}

impl KeyKind {
    /// True if a token signed with `alg` may be verified by a key of this kind.
    pub fn allows(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::EcP256 => alg == ES256,
            KeyKind::EcP384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }
}

/// One usable signature-verification key.
#[derive(Clone)]
pub struct VerificationKey {
    /// `kid`, if the JWK had one.
    pub kid: Option<String>,
    /// Key type / curve.
    pub kind: KeyKind,
    /// The JWK's own `alg`, if it named one we support. When set, only that algorithm is
    /// accepted with this key.
    pub alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl VerificationKey {
    /// True if this key may verify a token with `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.kind.allows(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A parsed key set: the usable keys of one JWKS document.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<VerificationKey>,
    skipped: usize,
}

impl Jwks {
    /// Parses a JWKS document (`{"keys": [...]}`). Fails only if the document itself is not a
    /// JWKS; unusable keys are skipped and counted in [`Self::skipped`].
    pub fn from_json(bytes: &[u8]) -> Result<Jwks, OidcError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(OidcError::KeyRetrieval(format!(
                "JWKS larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|_| OidcError::KeyRetrieval("JWKS is not valid JSON".into()))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| OidcError::KeyRetrieval("JWKS has no \"keys\" array".into()))?;
        let mut out = Jwks::default();
        for jwk in keys {
            if out.keys.len() >= MAX_JWKS_KEYS {
                out.skipped += 1;
                continue;
            }
            match parse_jwk(jwk) {
                Some(k) => out.keys.push(k),
                None => out.skipped += 1,
            }
        }
        Ok(out)
    }

    /// Builds a set from already-made keys (tests, static configuration).
    pub fn from_keys(keys: Vec<VerificationKey>) -> Jwks {
        Jwks { keys, skipped: 0 }
    }

    /// The usable keys.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many JWK entries were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// True if some usable key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The `kid`s of the usable keys (sorted, deduplicated).
    pub fn kids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.keys.iter().filter_map(|k| k.kid.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Base64url for JWK members: the URL alphabet, padding tolerated (some IdPs pad).
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn member_bytes(jwk: &Value, name: &str) -> Option<Vec<u8>> {
    let s = jwk.get(name)?.as_str()?;
    if s.len() > 4 * MAX_RSA_MODULUS_BYTES {
        return None;
    }
    JWK_B64.decode(s).ok()
}

fn parse_jwk(jwk: &Value) -> Option<VerificationKey> {
    let obj = jwk.as_object()?;
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return None,
    };
    if let Some(u) = obj.get("use")
        && u.as_str() != Some("sig")
    {
        return None;
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array()?;
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return None;
        }
    }
    let alg = match obj.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(parse_alg(a).ok()?),
        Some(_) => return None,
    };
    let (kind, key) = match obj.get("kty")?.as_str()? {
        "RSA" => {
            let n = member_bytes(jwk, "n")?;
            let e = member_bytes(jwk, "e")?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if !(MIN_RSA_MODULUS_BYTES..=MAX_RSA_MODULUS_BYTES).contains(&n.len())
                || e.is_empty()
                || e.len() > MAX_RSA_EXPONENT_BYTES
            {
                return None;
            }
            (KeyKind::Rsa, DecodingKey::from_rsa_raw_components(n, e))
        }
        "EC" => {
            let (kind, size) = match obj.get("crv")?.as_str()? {
                "P-256" => (KeyKind::EcP256, 32),
                "P-384" => (KeyKind::EcP384, 48),
                _ => return None,
            };
            let x = member_bytes(jwk, "x")?;
            let y = member_bytes(jwk, "y")?;
            if x.len() != size || y.len() != size {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (kind, DecodingKey::from_ec_der(&point))
        }
        "OKP" => {
            if obj.get("crv")?.as_str()? != "Ed25519" {
                return None;
            }
            let x = member_bytes(jwk, "x")?;
            if x.len() != 32 {
                return None;
            }
            (KeyKind::Ed25519, DecodingKey::from_ed_der(&x))
        }
        // "oct" (HMAC secrets) and anything else: never a verification key here.
        _ => return None,
    };
    if let Some(a) = alg
        && !kind.allows(a)
    {
        return None;
    }
    Some(VerificationKey {
        kid,
        kind,
        alg,
        key,
    })
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_jwks() {
        assert!(Jwks::from_json(b"[]").is_err());
        assert!(Jwks::from_json(b"{}").is_err());
        assert!(Jwks::from_json(b"{\"keys\":{}}").is_err());
        assert!(Jwks::from_json(b"nope").is_err());
        let j = Jwks::from_json(b"{\"keys\":[]}");
        assert!(j.is_ok_and(|j| j.is_empty()));
    }

    #[test]
    fn oct_keys_are_never_used() {
        let j = Jwks::from_json(br#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#);
        assert!(j.is_ok_and(|j| j.is_empty() && j.skipped() == 1));
    }

    #[test]
    fn ec_key_lengths_are_checked() {
        let x = JWK_B64.encode([1u8; 32]);
        let short = JWK_B64.encode([1u8; 31]);
        let ok =
            format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"a","x":"{x}","y":"{x}"}}]}}"#);
        let bad = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"a","x":"{x}","y":"{short}"}}]}}"#
        );
        let wrong_alg = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","alg":"ES384","x":"{x}","y":"{x}"}}]}}"#
        );
        assert_eq!(Jwks::from_json(ok.as_bytes()).map(|j| j.len()), Ok(1));
        assert_eq!(Jwks::from_json(bad.as_bytes()).map(|j| j.len()), Ok(0));
        assert_eq!(
            Jwks::from_json(wrong_alg.as_bytes()).map(|j| j.len()),
            Ok(0)
        );
    }

    #[test]
    fn small_rsa_keys_are_skipped() {
        let n = JWK_B64.encode([0xC1u8; 128]); // 1024-bit
        let doc = format!(r#"{{"keys":[{{"kty":"RSA","n":"{n}","e":"AQAB"}}]}}"#);
        assert_eq!(Jwks::from_json(doc.as_bytes()).map(|j| j.len()), Ok(0));
    }
}
