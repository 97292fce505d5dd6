#![no_main]
//! See `gossip_fuzz::merge`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_fuzz::merge::run(data));
