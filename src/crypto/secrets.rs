//! Test-only: the secret byte strings inside a pickle, to check they appear nowhere at rest.

use base64::{
    Engine,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde::Serialize;
use serde_json::Value;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Every byte string of length `len` in `value`'s JSON form: arrays of numbers, and strings
/// that are base64 of that length.
pub(super) fn byte_strings_of_len(value: &impl Serialize, len: usize) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    if let Ok(json) = serde_json::to_value(value) {
        walk(&json, len, &mut found);
    }
    found
}

fn walk(value: &Value, len: usize, found: &mut Vec<Vec<u8>>) {
    match value {
        Value::Array(items) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            if items.len() == len && bytes.len() == len {
                found.push(bytes);
            } else {
                items.iter().for_each(|v| walk(v, len, found));
            }
        }
        Value::Object(fields) => fields.values().for_each(|v| walk(v, len, found)),
        Value::String(text) => {
            if let Ok(bytes) = LENIENT.decode(text) {
                if bytes.len() == len {
                    found.push(bytes);
                }
            }
        }
        _ => {}
    }
}
