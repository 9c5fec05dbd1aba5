//! Fixture loading shared by the integration tests (fixtures made by tests/fixtures/gen.py).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opensts_oidc::{Jwks, ProviderConfig};
use serde_json::Value;

pub const JWKS_V1: &str = include_str!("../fixtures/jwks.json");
pub const JWKS_V2: &str = include_str!("../fixtures/jwks_rotated.json");
const TOKENS: &str = include_str!("../fixtures/tokens.json");

pub struct Case {
    pub name: String,
    pub provider: ProviderConfig,
    pub token: String,
    pub expect: String,
    pub audience: Option<String>,
    pub raw: Value,
}

pub struct Fixtures {
    pub now: i64,
    pub cases: Vec<Case>,
    pub providers: serde_json::Map<String, Value>,
}

pub fn provider_from(v: &Value) -> ProviderConfig {
    ProviderConfig::new(
        v["url"].as_str().unwrap(),
        v["client_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect(),
    )
}

pub fn fixtures() -> Fixtures {
    let doc: Value = serde_json::from_str(TOKENS).unwrap();
    let providers = doc["providers"].as_object().unwrap().clone();
    let cases = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            provider: provider_from(&providers[c["provider"].as_str().unwrap()]),
            token: c["token"].as_str().unwrap().to_string(),
            expect: c["expect"].as_str().unwrap().to_string(),
            audience: c
                .get("audience")
                .and_then(Value::as_str)
                .map(str::to_string),
            raw: c.clone(),
        })
        .collect();
    Fixtures {
        now: doc["now"].as_i64().unwrap(),
        cases,
        providers,
    }
}

impl Fixtures {
    pub fn case(&self, name: &str) -> &Case {
        self.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no fixture case {name}"))
    }

    pub fn provider(&self, name: &str) -> ProviderConfig {
        provider_from(&self.providers[name])
    }
}

pub fn jwks_v1() -> Jwks {
    Jwks::from_json(JWKS_V1.as_bytes()).unwrap()
}

pub fn jwks_v2() -> Jwks {
    Jwks::from_json(JWKS_V2.as_bytes()).unwrap()
}
