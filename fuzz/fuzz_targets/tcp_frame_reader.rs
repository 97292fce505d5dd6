#![no_main]
//! See `gossip_fuzz::tcp_frame_reader`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_fuzz::tcp_frame_reader::run(data));
