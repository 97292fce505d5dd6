#![no_main]
//! See `gossip_fuzz::handshake`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_fuzz::handshake::run(data));
