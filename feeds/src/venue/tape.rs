//! Allocation-free JSON decoding for venue adapters: simd-json's tape plus a small serde
//! `Deserializer` over it.
//!
//! `simd_json::serde::from_slice_with_buffers` builds a fresh tape `Vec` for every call,
//! which is one heap allocation per frame. Here the tape `Vec` is kept across frames
//! ([`JsonScratch`]) and filled with `simd_json::fill_tape`; message structs are then
//! derived with serde and deserialized straight off the tape by [`TapeDe`]. simd-json does
//! all the JSON work (validation, UTF-8, unescaping, numbers); this module only walks the
//! finished tape.
//!
//! Field values are read as [`Val`], which accepts any JSON type, so a field of the wrong
//! type is reported by the adapter as a precise reject reason instead of a serde error.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use simd_json::{Buffers, Node, StaticNode, Tape};

/// Reused buffers for parsing one frame at a time without allocating.
///
/// The input copy (simd-json rewrites its input in place), simd-json's internal buffers
/// and the tape all keep their capacity between frames, so after the first few frames of
/// the largest size seen, parsing allocates nothing.
pub(crate) struct JsonScratch {
    input: Vec<u8>,
    buffers: Buffers,
    /// Always empty between calls; `'static` because it holds no node then.
    tape: Vec<Node<'static>>,
}

impl JsonScratch {
    /// Scratch space sized for frames of about `frame_len` bytes (it grows on demand).
    pub(crate) fn new(frame_len: usize) -> Self {
        JsonScratch {
            input: Vec::with_capacity(frame_len),
            buffers: Buffers::new(frame_len),
            tape: Vec::with_capacity(frame_len / 4),
        }
    }

    /// Parses `frame` into a tape and calls `f` with its nodes, or with `None` when the
    /// frame is not valid JSON (syntax, UTF-8, numbers, trailing bytes, empty input).
    pub(crate) fn with_tape<R>(
        &mut self,
        frame: &[u8],
        f: impl FnOnce(Option<&[Node<'_>]>) -> R,
    ) -> R {
        self.input.clear();
        self.input.extend_from_slice(frame);
        let mut tape = Tape(std::mem::take(&mut self.tape)).reset();
        let ok = simd_json::fill_tape(&mut self.input, &mut self.buffers, &mut tape).is_ok();
        // A failed parse can leave a partial tape behind; never look at it.
        let result = f(if ok && !tape.0.is_empty() {
            Some(&tape.0[..])
        } else {
            None
        });
        self.tape = tape.reset().0;
        result
    }
}

/// Number of tape nodes the value starting at `nodes[0]` spans (1 for a scalar).
pub(crate) fn value_len(nodes: &[Node<'_>]) -> usize {
    match nodes.first() {
        Some(Node::Object { count, .. } | Node::Array { count, .. }) => count + 1,
        Some(_) => 1,
        None => 0,
    }
}

/// The key/value pairs of the object starting at `nodes[0]`, each value as its own node
/// slice; empty when `nodes` does not start with an object.
pub(crate) fn object_entries<'t, 'de>(
    nodes: &'t [Node<'de>],
) -> impl Iterator<Item = (&'de str, &'t [Node<'de>])> + 't {
    let (mut remaining, mut idx) = match nodes.first() {
        Some(Node::Object { len, .. }) => (*len, 1usize),
        _ => (0, 0),
    };
    std::iter::from_fn(move || {
        if remaining == 0 {
            return None;
        }
        remaining -= 1;
        let key = match nodes.get(idx)? {
            Node::String(s) => *s,
            _ => return None,
        };
        let rest = nodes.get(idx + 1..)?;
        let len = value_len(rest);
        let value = rest.get(..len)?;
        idx += 1 + len;
        Some((key, value))
    })
}

/// Deserializes a `T` from the value at the start of `nodes`.
pub(crate) fn from_nodes<'t, 'de, T: Deserialize<'de>>(
    nodes: &'t [Node<'de>],
) -> Result<T, DeError> {
    T::deserialize(&mut TapeDe { nodes, idx: 0 })
}

/// Why deserializing off a tape failed. With [`Val`] fields the only realistic cause is a
/// duplicate key; the variants exist so that nothing here ever panics or allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeError {
    /// The tape ended early (cannot happen on a tape simd-json accepted).
    Eof,
    /// The same known key twice in one object.
    DuplicateField(&'static str),
    /// Any other serde error (message dropped to stay allocation-free).
    Other,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::Eof => f.write_str("unexpected end of tape"),
            DeError::DuplicateField(name) => write!(f, "duplicate field {name}"),
            DeError::Other => f.write_str("deserialization error"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        DeError::Other
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::DuplicateField(field)
    }
}

/// A serde `Deserializer` reading simd-json tape nodes. Strings are borrowed from the
/// parsed input; nested values that nobody asks for are skipped in O(1).
pub(crate) struct TapeDe<'t, 'de> {
    nodes: &'t [Node<'de>],
    idx: usize,
}

impl<'t, 'de> TapeDe<'t, 'de> {
    fn next(&mut self) -> Result<Node<'de>, DeError> {
        let node = *self.nodes.get(self.idx).ok_or(DeError::Eof)?;
        self.idx += 1;
        Ok(node)
    }

    fn peek(&self) -> Result<Node<'de>, DeError> {
        self.nodes.get(self.idx).copied().ok_or(DeError::Eof)
    }
}

impl<'de> de::Deserializer<'de> for &mut TapeDe<'_, 'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.next()? {
            Node::String(s) => visitor.visit_borrowed_str(s),
            Node::Static(StaticNode::Null) => visitor.visit_unit(),
            Node::Static(StaticNode::Bool(b)) => visitor.visit_bool(b),
            Node::Static(StaticNode::I64(n)) => visitor.visit_i64(n),
            Node::Static(StaticNode::U64(n)) => visitor.visit_u64(n),
            #[allow(clippy::useless_conversion)]
            Node::Static(StaticNode::F64(n)) => visitor.visit_f64(n.into()),
            Node::Array { len, count } => {
                // Whatever the visitor consumes, continue after the whole array.
                let end = self.idx + count;
                let value = visitor.visit_seq(Elements {
                    de: &mut *self,
                    remaining: len,
                })?;
                self.idx = end;
                Ok(value)
            }
            Node::Object { len, count } => {
                let end = self.idx + count;
                let value = visitor.visit_map(Entries {
                    de: &mut *self,
                    remaining: len,
                })?;
                self.idx = end;
                Ok(value)
            }
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let len = value_len(&self.nodes[self.idx.min(self.nodes.len())..]);
        if len == 0 {
            return Err(DeError::Eof);
        }
        self.idx += len;
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.peek()? == Node::Static(StaticNode::Null) {
            self.idx += 1;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum identifier
    }
}

struct Elements<'a, 't, 'de> {
    de: &'a mut TapeDe<'t, 'de>,
    remaining: usize,
}

impl<'de> SeqAccess<'de> for Elements<'_, '_, 'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

struct Entries<'a, 't, 'de> {
    de: &'a mut TapeDe<'t, 'de>,
    remaining: usize,
}

impl<'de> MapAccess<'de> for Entries<'_, '_, 'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        match self.de.next()? {
            Node::String(key) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(key))
                .map(Some),
            _ => Err(DeError::Other),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// Any JSON value, with strings borrowed and containers reduced to their kind.
///
/// Missing fields are [`Val::Absent`] (the `Default`), so message structs derive with
/// `#[serde(default)]` and never fail on a missing or mistyped field: the adapter decides.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) enum Val<'a> {
    /// The key was not in the object.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A number with a fraction or an exponent (its value is never used: no floats).
    Float,
    /// A string, unescaped, borrowed from the parsed input.
    Str(&'a str),
    /// An array (skipped).
    Array,
    /// An object (skipped).
    Object,
}

impl Val<'_> {
    /// Whether the key was present at all (even as `null`).
    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, Val::Absent)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValVisitor;

        impl<'de> Visitor<'de> for ValVisitor {
            type Value = Val<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_unit<E>(self) -> Result<Val<'de>, E> {
                Ok(Val::Null)
            }

            fn visit_none<E>(self) -> Result<Val<'de>, E> {
                Ok(Val::Null)
            }

            fn visit_bool<E>(self, v: bool) -> Result<Val<'de>, E> {
                Ok(Val::Bool(v))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Val<'de>, E> {
                Ok(Val::U64(v))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Val<'de>, E> {
                Ok(if v >= 0 {
                    Val::U64(v as u64)
                } else {
                    Val::I64(v)
                })
            }

            fn visit_f64<E>(self, _v: f64) -> Result<Val<'de>, E> {
                Ok(Val::Float)
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'de>, E> {
                Ok(Val::Str(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Val::Array)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Val::Object)
            }
        }

        deserializer.deserialize_any(ValVisitor)
    }
}

/// A field that should hold an object of type `T`: what was found there.
#[derive(Debug, Default)]
pub(crate) enum Nested<T> {
    /// The key was not in the object.
    #[default]
    Absent,
    /// An object, deserialized.
    Object(T),
    /// Something else (an array or a scalar).
    NotObject,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nested<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NestedVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for NestedVisitor<T> {
            type Value = Nested<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Nested<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Nested::Object)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nested<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Nested::NotObject)
            }

            fn visit_unit<E>(self) -> Result<Nested<T>, E> {
                Ok(Nested::NotObject)
            }

            fn visit_bool<E>(self, _v: bool) -> Result<Nested<T>, E> {
                Ok(Nested::NotObject)
            }

            fn visit_u64<E>(self, _v: u64) -> Result<Nested<T>, E> {
                Ok(Nested::NotObject)
            }

            fn visit_i64<E>(self, _v: i64) -> Result<Nested<T>, E> {
                Ok(Nested::NotObject)
            }

            fn visit_f64<E>(self, _v: f64) -> Result<Nested<T>, E> {
                Ok(Nested::NotObject)
            }

            fn visit_str<E>(self, _v: &str) -> Result<Nested<T>, E> {
                Ok(Nested::NotObject)
            }
        }

        deserializer.deserialize_any(NestedVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Probe<'a> {
        #[serde(borrow)]
        a: Val<'a>,
        #[serde(borrow)]
        b: Val<'a>,
        #[serde(borrow)]
        inner: Nested<Inner<'a>>,
    }

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Inner<'a> {
        #[serde(borrow)]
        x: Val<'a>,
    }

    fn probe(json: &str, check: impl FnOnce(Result<Probe<'_>, DeError>)) {
        let mut scratch = JsonScratch::new(64);
        scratch.with_tape(json.as_bytes(), |nodes| check(from_nodes(nodes.unwrap())));
    }

    #[test]
    fn reads_every_kind_of_value_and_skips_unknown_keys() {
        probe(
            r#"{"z":[1,{"a":2}],"a":"x\"y","q":{"b":1},"b":-3,"inner":{"x":true,"y":[]}}"#,
            |p| {
                let p = p.unwrap();
                assert_eq!(p.a, Val::Str("x\"y"));
                assert_eq!(p.b, Val::I64(-3));
                assert!(matches!(
                    p.inner,
                    Nested::Object(Inner { x: Val::Bool(true) })
                ));
            },
        );
        probe(r#"{"a":null,"b":1.5,"inner":[1]}"#, |p| {
            let p = p.unwrap();
            assert_eq!(p.a, Val::Null);
            assert_eq!(p.b, Val::Float);
            assert!(matches!(p.inner, Nested::NotObject));
        });
        probe(r#"{}"#, |p| {
            let p = p.unwrap();
            assert!(!p.a.is_present());
            assert!(matches!(p.inner, Nested::Absent));
        });
        probe(r#"{"a":1,"a":2}"#, |p| {
            assert_eq!(p.unwrap_err(), DeError::DuplicateField("a"))
        });
    }

    #[test]
    fn entries_iterate_top_level_keys_with_value_slices() {
        let mut scratch = JsonScratch::new(64);
        scratch.with_tape(br#"{"a":[1,[2]],"b":{"c":3},"d":4}"#, |nodes| {
            let nodes = nodes.unwrap();
            let keys: Vec<(&str, usize)> =
                object_entries(nodes).map(|(k, v)| (k, v.len())).collect();
            assert_eq!(keys, vec![("a", 4), ("b", 3), ("d", 1)]);
        });
        scratch.with_tape(b"{\"a\":", |nodes| assert!(nodes.is_none()));
        scratch.with_tape(b"", |nodes| assert!(nodes.is_none()));
    }
}
