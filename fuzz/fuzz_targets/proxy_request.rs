//! Fuzz target: `keyward_fuzz::checks::proxy_request` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_fuzz::checks::proxy_request(data));
