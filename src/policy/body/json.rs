//! JSON bodies parsed with every duplicated object key recorded: servers disagree on which
//! of two values wins (first, last, or an error), so a rule must not decide on either.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::BodyError;

/// A parsed JSON body: the value (the last of duplicated keys, as serde_json keeps it) and
/// the pointer segments of every key that appeared more than once in its object.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedJson {
    /// The document.
    pub value: Value,
    /// `["a", "b"]` for a second `b` inside `/a`, in document order.
    pub duplicates: Vec<Vec<String>>,
}

/// Parses a decoded body as JSON, recording duplicated keys.
pub fn parse(bytes: &[u8]) -> Result<ParsedJson, BodyError> {
    let mut duplicates = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Node {
        at: &mut Vec::new(),
        duplicates: &mut duplicates,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| BodyError::NotJson(e.to_string()))?;
    Ok(ParsedJson { value, duplicates })
}

/// One value being read, where it is, and where duplicates are written down.
struct Node<'p> {
    at: &'p mut Vec<String>,
    duplicates: &'p mut Vec<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.at.push(items.len().to_string());
            let item = seq.next_element_seed(Node {
                at: &mut *self.at,
                duplicates: &mut *self.duplicates,
            });
            self.at.pop();
            match item? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.at.push(key);
            let value = map.next_value_seed(Node {
                at: &mut *self.at,
                duplicates: &mut *self.duplicates,
            });
            let key = self.at.pop().unwrap_or_default();
            let value = value?;
            if object.contains_key(&key) {
                let mut pointer = self.at.clone();
                pointer.push(key.clone());
                self.duplicates.push(pointer);
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_those_serde_json_reads() {
        let text = br#"{"a":[1,-2,3.5,true,null,"x"],"b":{"c":{}},"big":18446744073709551615}"#;
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.value, serde_json::from_slice::<Value>(text).unwrap());
        assert!(parsed.duplicates.is_empty());
        assert!(parse(b"{\"a\":1} x").is_err());
        assert!(parse(b"{\"a\":").is_err());
    }

    #[test]
    fn duplicated_keys_are_recorded_where_they_are() {
        let parsed =
            parse(br#"{"t":1,"l":[{"n":"a","n":"b"}],"t":2,"o":{"x~/":1,"x~/":2}}"#).unwrap();
        assert_eq!(parsed.value["t"], json!(2), "the last value is kept");
        assert_eq!(
            parsed.duplicates,
            vec![
                vec!["l".to_owned(), "0".to_owned(), "n".to_owned()],
                vec!["t".to_owned()],
                vec!["o".to_owned(), "x~/".to_owned()],
            ]
        );
    }
}
