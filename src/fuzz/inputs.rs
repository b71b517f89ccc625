//! The inputs every target draws from: random bytes and text, and mutations of valid
//! encodings (bits flipped, truncated, extended, spliced, chunks copied, a protobuf length
//! field set huge), plus JSON trees for the JSON decoders.

use proptest::{
    collection::vec,
    prelude::{Just, any, prop_oneof},
    sample::{Index, select},
    strategy::{BoxedStrategy, Strategy},
};
use serde_json::Value;

/// One change to an encoding.
#[derive(Debug, Clone)]
pub(super) enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Cut the input at a point.
    Truncate(Index),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Replace up to `len` bytes from a point with others.
    Splice(Index, usize, Vec<u8>),
    /// Copy a chunk from one point to another (a field repeated, a message nested in itself).
    Copy(Index, usize, Index),
    /// Rewrite a protobuf length field (or, where none is found, the bytes at a point) to a
    /// huge value, as a varint.
    HugeLength(Index, u64),
}

/// Lengths a hostile encoder claims: 2^31, 4 GiB, the largest varint, and others.
fn huge_length() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1 << 31),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        (1u64 << 20)..(1u64 << 40),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        2 => (any::<Index>(), 0..16usize, vec(any::<u8>(), 0..16))
            .prop_map(|(at, len, with)| Mutation::Splice(at, len, with)),
        1 => (any::<Index>(), 1..64usize, any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Copy(from, len, to)),
        2 => (any::<Index>(), huge_length()).prop_map(|(at, len)| Mutation::HugeLength(at, len)),
    ]
}

/// `bytes` with `mutation` applied.
pub(super) fn mutate(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    let at = |index: &Index, len: usize| if len == 0 { 0 } else { index.index(len) };
    match mutation {
        Mutation::Flip(index, mask) => {
            let i = at(index, bytes.len());
            if let Some(byte) = bytes.get_mut(i) {
                *byte ^= mask;
            }
        }
        Mutation::Truncate(index) => bytes.truncate(at(index, bytes.len())),
        Mutation::Extend(more) => bytes.extend_from_slice(more),
        Mutation::Splice(index, len, with) => {
            let start = at(index, bytes.len());
            let end = start.saturating_add(*len).min(bytes.len());
            bytes.splice(start..end, with.iter().copied());
        }
        Mutation::Copy(from, len, to) => {
            let start = at(from, bytes.len());
            let chunk = bytes[start..start.saturating_add(*len).min(bytes.len())].to_vec();
            let to = at(to, bytes.len());
            bytes.splice(to..to, chunk);
        }
        Mutation::HugeLength(index, claimed) => {
            let fields = length_fields(&bytes);
            let (start, end) = if fields.is_empty() {
                let start = at(index, bytes.len());
                (start, start.saturating_add(5).min(bytes.len()))
            } else {
                fields[index.index(fields.len())]
            };
            return with_length(bytes, (start, end), *claimed);
        }
    }
    bytes
}

/// `bytes` with its bytes `start..end` (a length varint) replaced by `claimed` as a varint.
fn with_length(mut bytes: Vec<u8>, (start, end): (usize, usize), claimed: u64) -> Vec<u8> {
    bytes.splice(start..end, varint(claimed));
    bytes
}

/// Random bytes, or a valid encoding from `valid` with one to four mutations, or unchanged
/// (so that round trips of valid inputs are checked too).
pub(super) fn bytes_from(valid: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let mutated = (select(valid.clone()), vec(mutation(), 1..=4))
        .prop_map(|(bytes, mutations)| mutations.iter().fold(bytes, mutate));
    prop_oneof![
        2 => vec(any::<u8>(), 0..512),
        1 => select(valid),
        8 => mutated,
    ]
    .boxed()
}

/// One of `valid`'s tagged encodings, with up to four mutations (so unchanged a fifth of the
/// time), keeping its tag: for decoders told what the bytes are (an Olm message's type).
pub(super) fn tagged_bytes_from<T>(valid: Vec<(T, Vec<u8>)>) -> BoxedStrategy<(T, Vec<u8>)>
where
    T: Clone + std::fmt::Debug + 'static,
{
    (select(valid), vec(mutation(), 0..=4))
        .prop_map(|((tag, bytes), mutations)| (tag, mutations.iter().fold(bytes, mutate)))
        .boxed()
}

/// Random text, or `valid` texts as [`bytes_from`] makes them, read back lossily as UTF-8.
pub(super) fn text_from(valid: Vec<String>) -> BoxedStrategy<String> {
    let bytes: Vec<Vec<u8>> = valid.into_iter().map(String::into_bytes).collect();
    prop_oneof![
        1 => any::<String>(),
        4 => bytes_from(bytes).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
    .boxed()
}

/// Random JSON of the shapes the decoders meet: objects keyed by `names` (and others),
/// strings that are names, digits or base64, numbers of every kind.
pub(super) fn json_tree(names: &'static [&'static str]) -> BoxedStrategy<Value> {
    json_leaf(names)
        .prop_recursive(4, 48, 8, move |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                vec((json_key(names), inner), 0..8)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
        .boxed()
}

fn json_key(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![4 => select(names).prop_map(str::to_owned), 1 => any::<String>()]
}

fn json_leaf(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(9_007_199_254_740_993.0_f64)),
        select(names).prop_map(Value::from),
        "[0-9]{0,24}".prop_map(Value::from),
        "[A-Za-z0-9+/_=-]{0,48}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

/// A valid JSON value from `valid`, with one to three of its nodes replaced by random JSON
/// or removed.
pub(super) fn json_from(valid: Vec<Value>, names: &'static [&'static str]) -> BoxedStrategy<Value> {
    let edit = (any::<Index>(), proptest::option::weighted(0.8, json_tree(names)));
    let edited = (select(valid.clone()), vec(edit, 1..=3)).prop_map(|(mut value, edits)| {
        for (at, with) in edits {
            let count = nodes(&value);
            replace_node(&mut value, at.index(count), with);
        }
        value
    });
    prop_oneof![1 => json_tree(names), 1 => select(valid), 4 => edited].boxed()
}

/// JSON text: a tree from [`json_from`] written out, or such text mutated as bytes.
pub(super) fn json_text_from(
    valid: Vec<Value>,
    names: &'static [&'static str],
) -> BoxedStrategy<Vec<u8>> {
    let texts: Vec<Vec<u8>> = valid.iter().map(|v| v.to_string().into_bytes()).collect();
    prop_oneof![
        2 => json_from(valid, names).prop_map(|v| v.to_string().into_bytes()),
        1 => bytes_from(texts),
    ]
    .boxed()
}

fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Object(fields) => fields.values().map(nodes).sum(),
        _ => 0,
    }
}

/// Replaces the `n`th node in pre-order (the root is 0) with `with`, or removes it from its
/// parent when `with` is `None` (the root is then made `null`).
fn replace_node(value: &mut Value, n: usize, with: Option<Value>) {
    if n == 0 {
        *value = with.unwrap_or(Value::Null);
    } else {
        edit_below(value, &mut { n }, &mut Some(with));
    }
}

/// Counts `n` down over the nodes below `value`; at 0, applies `with` (taking it).
fn edit_below(value: &mut Value, n: &mut usize, with: &mut Option<Option<Value>>) {
    let children: Vec<&mut Value> = match value {
        Value::Array(items) => items.iter_mut().collect(),
        Value::Object(fields) => fields.values_mut().collect(),
        _ => return,
    };
    let mut removed = None;
    for (i, child) in children.into_iter().enumerate() {
        if with.is_none() {
            return;
        }
        *n -= 1;
        if *n == 0 {
            match with.take() {
                Some(Some(new)) => *child = new,
                _ => removed = Some(i),
            }
            break;
        }
        edit_below(child, n, with);
    }
    match (value, removed) {
        (Value::Array(items), Some(i)) => {
            items.remove(i);
        }
        (Value::Object(fields), Some(i)) => {
            let key = fields.keys().nth(i).cloned();
            if let Some(key) = key {
                fields.remove(&key);
            }
        }
        _ => {}
    }
}

/// Where `bytes`, read as protobuf, has length fields at any depth: (start, end) of each
/// length varint. Bytes that stop parsing end the walk at that level.
pub(super) fn length_fields(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    walk(bytes, 0, &mut found, 0);
    found
}

fn walk(bytes: &[u8], offset: usize, found: &mut Vec<(usize, usize)>, depth: usize) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let Some((tag, after_tag)) = read_varint(bytes, i) else { return false };
        i = after_tag;
        let skip = match tag & 7 {
            0 => match read_varint(bytes, i) {
                Some((_, end)) => end - i,
                None => return false,
            },
            1 => 8,
            5 => 4,
            2 => {
                let Some((len, end)) = read_varint(bytes, i) else { return false };
                found.push((offset + i, offset + end));
                let Some(inner) =
                    usize::try_from(len).ok().and_then(|l| bytes.get(end..end.checked_add(l)?))
                else {
                    return false;
                };
                let before = found.len();
                if depth < 8 && !walk(inner, offset + end, found, depth + 1) {
                    // Not a message (a string or bytes): its insides are not fields.
                    found.truncate(before);
                }
                end + inner.len() - i
            }
            _ => return false,
        };
        i += skip;
    }
    i == bytes.len()
}

fn read_varint(bytes: &[u8], mut i: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(i)?;
        i += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, i));
        }
    }
    None
}

/// `value` as a protobuf varint.
pub(super) fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn length_fields_are_found_at_every_depth() {
        // Field 1: a message holding field 2, a 3-byte string; then field 3, a varint.
        let bytes = [0x0a, 0x05, 0x12, 0x03, b'a', b'b', b'c', 0x18, 0x01];
        assert_eq!(length_fields(&bytes), vec![(1, 2), (3, 4)]);
        // A claimed 4 GiB replaces the outer length varint.
        let huge = with_length(bytes.to_vec(), length_fields(&bytes)[0], 1 << 32);
        assert_eq!(&huge[..7], &[0x0a, 0x80, 0x80, 0x80, 0x80, 0x10, 0x12]);
        assert_eq!(varint(300), vec![0xac, 0x02]);
    }

    #[test]
    fn json_nodes_are_replaced_and_removed_in_pre_order() {
        let mut value = json!({"a": [1, 2], "b": 3});
        replace_node(&mut value, 2, Some(json!("x")));
        assert_eq!(value, json!({"a": ["x", 2], "b": 3}));
        replace_node(&mut value, 4, None);
        assert_eq!(value, json!({"a": ["x", 2]}));
        replace_node(&mut value, 0, None);
        assert_eq!(value, Value::Null);
    }
}
