//! `application/x-www-form-urlencoded` bodies as a JSON object, so that the same pointer
//! conditions apply: field `to` is `/to`. A field sent once is a string; a field sent
//! several times is an array of strings (so `/to/*` checks each, and a one-value condition
//! on `/to` fails closed against a repeated field).

use serde_json::{Map, Value};

use super::BodyError;
use crate::policy::normalize::percent_decode_strict;

/// Parses form data; malformed escapes or non-UTF-8 text are errors.
pub fn parse_form(bytes: &[u8]) -> Result<Value, BodyError> {
    let mut fields = Map::new();
    for pair in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let key = decode_component(key)?;
        let value = Value::String(decode_component(value)?);
        match fields.get_mut(&key) {
            None => {
                fields.insert(key, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    Ok(Value::Object(fields))
}

/// Decodes one form component: `+` is a space, `%XX` an escaped byte.
pub(crate) fn decode_component(raw: &[u8]) -> Result<String, BodyError> {
    let plus_decoded: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes = percent_decode_strict(&plus_decoded).ok_or_else(|| {
        BodyError::NotForm(format!(
            "malformed percent escape in `{}`",
            String::from_utf8_lossy(raw)
        ))
    })?;
    String::from_utf8(bytes).map_err(|_| BodyError::NotForm("not UTF-8 once decoded".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_become_an_object() {
        let v = parse_form(b"to=a%40x.com&subject=hi+there&flag").unwrap();
        assert_eq!(
            v,
            json!({"to": "a@x.com", "subject": "hi there", "flag": ""})
        );
    }

    #[test]
    fn repeated_fields_become_arrays() {
        let v = parse_form(b"to=a&to=b&to=c").unwrap();
        assert_eq!(v, json!({"to": ["a", "b", "c"]}));
    }

    #[test]
    fn malformed_forms_are_errors() {
        assert!(matches!(parse_form(b"a=%zz"), Err(BodyError::NotForm(_))));
        assert!(matches!(parse_form(b"a=%ff"), Err(BodyError::NotForm(_))));
        assert_eq!(parse_form(b"").unwrap(), json!({}));
    }
}
