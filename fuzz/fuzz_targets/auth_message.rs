//! Encoded authorization messages (DecodeAuthorizationMessage input): never panic, never open
//! a message this ring did not seal.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use opensts_core::authmsg::open_message;
use opensts_core::crypto::DataKey;
use opensts_core::keyring::KeyRing;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::single(1, DataKey::generate()))
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    assert!(open_message(ring(), "111122223333", &s, 0).is_err());
});
