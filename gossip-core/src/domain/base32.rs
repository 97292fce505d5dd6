//! Lowercase base32hex (RFC 4648 §7, no padding) for the text forms of
//! keys: copyable by double-click, and order-preserving — texts of equal
//! length sort as the bytes they encode, so every store orders ids (by text)
//! exactly as [`NodeId`](super::NodeId) does (by bytes).

const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The digit of the low five bits of `value`.
fn digit(value: u16) -> char {
    let [_, low] = (value & 31).to_be_bytes();
    ALPHABET
        .get(usize::from(low))
        .map_or('?', |&byte| char::from(byte))
}

/// Digits needed for `bytes` bytes.
pub(crate) const fn encoded_len(bytes: usize) -> usize {
    (bytes * 8).div_ceil(5)
}

/// Encodes `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(encoded_len(bytes.len()));
    let (mut buffer, mut bits) = (0u16, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(digit(buffer >> bits));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        text.push(digit(buffer << (5 - bits)));
    }
    text
}

/// Decodes exactly `N` bytes from their canonical encoding: the right
/// number of digits, lowercase only, and unused trailing bits zero (so each
/// value has one text form).
pub(crate) fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != encoded_len(N) {
        return None;
    }
    let mut out = [0u8; N];
    decode_into(text, &mut out)?;
    Some(out)
}

/// Decodes a canonical encoding of any length (the byte count is the one
/// whose encoding has this many digits).
pub(crate) fn decode_vec(text: &str) -> Option<Vec<u8>> {
    let len = text.len() * 5 / 8;
    if encoded_len(len) != text.len() {
        return None;
    }
    let mut out = vec![0u8; len];
    decode_into(text, &mut out)?;
    Some(out)
}

/// Decodes `text` into exactly `out.len()` bytes.
fn decode_into(text: &str, out: &mut [u8]) -> Option<()> {
    let (mut buffer, mut bits, mut at) = (0u16, 0u32, 0usize);
    for digit in text.bytes() {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'v' => digit - b'a' + 10,
            _ => return None,
        };
        buffer = (buffer << 5) | u16::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(at)? = u8::try_from((buffer >> bits) & 0xff).ok()?;
            at += 1;
            buffer &= (1 << bits) - 1;
        }
    }
    (at == out.len() && buffer == 0).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_base32hex_vectors_in_lowercase() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "co"),
            (b"fo", "cpng"),
            (b"foo", "cpnmu"),
            (b"foob", "cpnmuog"),
            (b"fooba", "cpnmuoj1"),
            (b"foobar", "cpnmuoj1e8"),
        ] {
            assert_eq!(encode(bytes), text);
        }
        assert_eq!(decode::<3>("cpnmu"), Some(*b"foo"));
        assert_eq!(decode::<6>("cpnmuoj1e8"), Some(*b"foobar"));
        assert_eq!(decode_vec("cpnmuoj1e8").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(decode_vec(""), Some(Vec::new()));
        assert_eq!(decode_vec("cpnmuoj1e"), None, "no byte count has 9 digits");
        assert_eq!(decode_vec("cpnmuoj1e9"), None, "trailing bits set");
    }

    #[test]
    fn text_order_is_byte_order() {
        let values: Vec<[u8; 32]> = (0u8..=255)
            .step_by(17)
            .flat_map(|a| {
                [[a; 32], {
                    let mut v = [a; 32];
                    v[31] = 255 - a;
                    v
                }]
            })
            .collect();
        for x in &values {
            for y in &values {
                assert_eq!(x.cmp(y), encode(x).cmp(&encode(y)), "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn only_canonical_text_decodes() {
        assert_eq!(decode::<1>("co"), Some(*b"f"));
        assert_eq!(decode::<1>("cp"), None, "non-zero trailing bits");
        assert_eq!(decode::<1>("CO"), None, "upper case");
        assert_eq!(decode::<1>("c"), None, "too short");
        assert_eq!(decode::<1>("co0"), None, "too long");
        assert_eq!(decode::<1>("cw"), None, "not a digit");
        let bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 7).unwrap());
        assert_eq!(decode::<32>(&encode(&bytes)), Some(bytes));
    }
}
