//! awsQuery decoding (form bodies and query strings) and the list accessors: never panic;
//! anything accepted round-trips through the accessors without error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensts_server::protocol::Params;

fuzz_target!(|data: &[u8]| {
    let (a, b) = data.split_at(data.len() / 2);
    if let Ok(p) = Params::decode(&[a, b]) {
        let names: Vec<String> = p.names().map(str::to_string).collect();
        for n in names.iter().take(16) {
            let prefix = n.split('.').next().unwrap_or_default();
            let _ = p.list(prefix);
            let _ = p.struct_list(prefix);
        }
        assert!(p.len() <= opensts_server::protocol::query::MAX_PARAMS);
    }
});
