#![no_main]
//! See `gossip_fuzz::frame_decode`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_fuzz::frame_decode::run(data));
