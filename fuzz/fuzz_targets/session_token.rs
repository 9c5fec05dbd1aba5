//! Session token decoding: arbitrary strings never panic and never open under a ring that did
//! not seal them; sealed tokens open only for their own access key id.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use opensts_core::crypto::DataKey;
use opensts_core::keyring::KeyRing;
use opensts_core::token::open_token;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::single(1, DataKey::generate()))
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let (akid, tok) = s.split_once('|').unwrap_or(("ASIAEXAMPLEEXAMPLE00", &s));
    // A random ring never sealed anything the fuzzer could produce.
    assert!(open_token(ring(), akid, tok).is_err());
});
