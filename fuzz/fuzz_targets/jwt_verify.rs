//! Fuzz the web identity token path: JWS parsing + verification, JWKS parsing, and the
//! caching-header parsers. Nothing may panic; a token may only verify if its `alg` is on the
//! allow list and its `iss` is the provider URL.
//!
//! Seed corpus (scripts/fuzz-seeds.py): the "token" strings of
//! crates/opensts-oidc/tests/fixtures/tokens.json prefixed with byte 0, the JWKS fixtures
//! prefixed with byte 1, caching-header triples prefixed with byte 2.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensts_oidc::{
    ALLOWED_ALGORITHMS, Jwks, ProviderConfig, http::cache_lifetime, http::parse_http_date,
    parse_unverified, peek_issuer, verify_token,
};

const JWKS: &str = include_str!("../../crates/opensts-oidc/tests/fixtures/jwks.json");
const TOKENS: &str = include_str!("../../crates/opensts-oidc/tests/fixtures/tokens.json");
const NOW: i64 = 1_750_000_000;

fn provider() -> ProviderConfig {
    ProviderConfig::new(
        "https://idp.example.com",
        vec!["client-a".to_string(), "client-b".to_string()],
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        // arbitrary token against the fixture key set
        0 => {
            let Ok(token) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = parse_unverified(token);
            let _ = peek_issuer(token);
            let Ok(keys) = Jwks::from_json(JWKS.as_bytes()) else {
                return;
            };
            let p = provider();
            if let Ok(v) = verify_token(token, &p, &keys, NOW) {
                assert_eq!(v.issuer, p.url);
                assert!(p.client_ids.contains(&v.audience));
                assert!(v.expires_at > NOW);
                let alg = format!("{:?}", v.algorithm);
                assert!(ALLOWED_ALGORITHMS.contains(&alg.as_str()));
                let _ = v.condition_keys();
                let _ = v.session_tags();
                let _ = v.source_identity();
            }
        }
        // arbitrary JWKS, then every fixture token against it
        1 => {
            let Ok(keys) = Jwks::from_json(rest) else {
                return;
            };
            let _ = keys.kids();
            let Ok(doc) = serde_json::from_str::<serde_json::Value>(TOKENS) else {
                return;
            };
            let p = provider();
            for case in doc["cases"].as_array().into_iter().flatten().take(8) {
                if let Some(t) = case["token"].as_str() {
                    let _ = verify_token(t, &p, &keys, NOW);
                }
            }
        }
        // caching headers from the IdP
        _ => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let mut parts = s.splitn(3, '\n');
            let cc = parts.next();
            let exp = parts.next();
            let date = parts.next();
            let _ = parse_http_date(s);
            let _ = cache_lifetime(cc, exp, date, NOW);
        }
    }
});
