//! `frame_decode`: [`gossip_core::protocol::codec::decode`] on arbitrary
//! bytes. Never panics; what decodes re-encodes to a frame that decodes to
//! the same message, of the length `encoded_len` announces.

use gossip_core::protocol::codec;

/// The frame limit the target decodes with (the TCP transport's default).
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// The harness.
pub fn run(data: &[u8]) {
    let Ok(message) = codec::decode(data, MAX_FRAME_LEN) else {
        return;
    };
    let frame = codec::encode(&message);
    assert_eq!(
        frame.len(),
        codec::encoded_len(&message),
        "encoded_len lies"
    );
    let again = match codec::decode(&frame, usize::MAX) {
        Ok(again) => again,
        Err(error) => panic!("re-encoded {message:?} does not decode: {error}"),
    };
    assert_eq!(again, message, "decode(encode(m)) != m");
    assert_eq!(codec::encode(&again), frame, "encoding is not stable");
    if !data.is_empty() {
        assert!(
            codec::decode(data, data.len() - 1).is_err(),
            "a frame over the limit decoded"
        );
    }
}
