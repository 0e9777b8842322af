//! The map wire format (SDK `serialize_map`, cpp-host `pairs_util.cc`): `u32 N`, N × (`u32 key_len`,
//! `u32 value_len`), then N × (key, NUL, value, NUL); all integers little-endian.

/// cpp-host's limits (`limits.h`): larger or malformed input is treated as an empty map.
const MAX_PAIRS_BYTES: usize = 1 << 20;
const MAX_PAIRS: usize = 1024;

pub(crate) fn serialize<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Vec<u8> {
    let pairs: Vec<(K, V)> = pairs.into_iter().collect();
    let mut out = vec![0; serialized_len(pairs.iter().map(|(k, v)| (k, v)))];
    serialize_into(pairs.iter().map(|(k, v)| (k, v)), &mut out);
    out
}

/// The length of `pairs` serialized.
pub(crate) fn serialized_len<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl ExactSizeIterator<Item = (K, V)>,
) -> usize {
    4 + pairs
        .map(|(k, v)| 8 + k.as_ref().len() + 1 + v.as_ref().len() + 1)
        .sum::<usize>()
}

/// Serializes `pairs` into `out`, which is [`serialized_len`] long: straight into guest memory, with no buffer
/// between.
pub(crate) fn serialize_into<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl ExactSizeIterator<Item = (K, V)> + Clone,
    out: &mut [u8],
) {
    let (sizes, data) = out.split_at_mut(4 + 8 * pairs.len());
    sizes[..4].copy_from_slice(&(pairs.len() as u32).to_le_bytes());
    for ((k, v), size) in pairs.clone().zip(sizes[4..].as_chunks_mut::<8>().0) {
        size[..4].copy_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        size[4..].copy_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    let mut at = 0;
    for (k, v) in pairs {
        for part in [k.as_ref(), v.as_ref()] {
            data[at..at + part.len()].copy_from_slice(part);
            data[at + part.len()] = 0;
            at += part.len() + 1;
        }
    }
}

/// Parses a serialized map; anything malformed (trailing bytes included) or over the limits yields an empty map,
/// like cpp-host.
pub(crate) fn deserialize(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    parse(bytes).unwrap_or_default()
}

fn parse(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if bytes.is_empty() || bytes.len() > MAX_PAIRS_BYTES {
        return None;
    }
    let word = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let count = word(0)?;
    if count > MAX_PAIRS {
        return None;
    }
    let mut data = 4 + count * 8;
    let mut pairs = Vec::with_capacity(count);
    for i in 0..count {
        let key_len = word(4 + i * 8)?;
        let value_len = word(8 + i * 8)?;
        let key = bytes.get(data..data + key_len)?.to_vec();
        data += key_len;
        if *bytes.get(data)? != 0 {
            return None;
        }
        data += 1;
        let value = bytes.get(data..data + value_len)?.to_vec();
        data += value_len;
        if *bytes.get(data)? != 0 {
            return None;
        }
        data += 1;
        pairs.push((key, value));
    }
    // `PairsUtil::toPairs`: bytes after the last pair make the whole map invalid.
    (data == bytes.len()).then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_sdk_layout() {
        let bytes = serialize([(":method", "GET"), ("x", "")]);
        assert_eq!(&bytes[..12], &[2, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(&bytes[20..], b":method\0GET\0x\0\0");
        assert_eq!(
            deserialize(&bytes),
            vec![
                (b":method".to_vec(), b"GET".to_vec()),
                (b"x".to_vec(), Vec::new())
            ]
        );
    }

    #[test]
    fn malformed_input_is_an_empty_map() {
        assert!(deserialize(&[0]).is_empty());
        let mut bytes = serialize([("k", "v")]);
        bytes[13] = b'x'; // the NUL after the key
        assert!(deserialize(&bytes).is_empty());
        assert!(deserialize(&[1, 0, 0, 0, 9, 0, 0, 0]).is_empty());
        let mut trailing = serialize([("k", "v")]);
        trailing.push(0);
        assert!(
            deserialize(&trailing).is_empty(),
            "PairsUtil::toPairs: pos != end"
        );
    }
}
