#![no_main]
//! See `gossip_fuzz::middleware`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_fuzz::middleware::run(data));
