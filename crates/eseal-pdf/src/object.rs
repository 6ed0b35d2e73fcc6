//! The PDF object model: the values of ISO 32000 section 7.3, as read from and written to a file.
//!
//! Dictionaries keep their keys in file order so that an object rewritten in an update differs
//! from the original only where the update changed it, and so that output is deterministic.

use std::fmt;

/// An indirect object's identity: object number and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// Object number (1 or more for real objects).
    pub number: u32,
    /// Generation number.
    pub generation: u16,
}

impl ObjectId {
    /// An object id with the given number and generation.
    pub const fn new(number: u32, generation: u16) -> Self {
        Self { number, generation }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} R", self.number, self.generation)
    }
}

/// How a string was written in the file; kept so that a rewritten object keeps its look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringFormat {
    /// `( ... )`
    Literal,
    /// `< ... >`
    Hex,
}

/// A PDF value.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// `null`
    Null,
    /// `true` / `false`
    Boolean(bool),
    /// An integer number.
    Integer(i64),
    /// A real number.
    Real(f64),
    /// A name, without the leading slash and with `#xx` escapes decoded.
    Name(Vec<u8>),
    /// A string's bytes (decrypted when read from an encrypted file).
    String(Vec<u8>, StringFormat),
    /// An array.
    Array(Vec<Object>),
    /// A dictionary.
    Dictionary(Dictionary),
    /// A stream (only ever the value of an indirect object).
    Stream(Stream),
    /// A reference to an indirect object.
    Reference(ObjectId),
}

impl Object {
    /// A name object from text.
    pub fn name(name: &str) -> Object {
        Object::Name(name.as_bytes().to_vec())
    }

    /// A literal string object from bytes.
    pub fn string(bytes: impl Into<Vec<u8>>) -> Object {
        Object::String(bytes.into(), StringFormat::Literal)
    }

    /// The integer value, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Object::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The numeric value, if this is an integer or a real.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Object::Integer(i) => Some(*i as f64),
            Object::Real(r) => Some(*r),
            _ => None,
        }
    }

    /// The name's bytes, if this is a name.
    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            Object::Name(n) => Some(n),
            _ => None,
        }
    }

    /// The referenced id, if this is a reference.
    pub fn as_reference(&self) -> Option<ObjectId> {
        match self {
            Object::Reference(id) => Some(*id),
            _ => None,
        }
    }

    /// The dictionary, if this is a dictionary or a stream (its dictionary).
    pub fn as_dict(&self) -> Option<&Dictionary> {
        match self {
            Object::Dictionary(d) => Some(d),
            Object::Stream(s) => Some(&s.dict),
            _ => None,
        }
    }

    /// The array, if this is an array.
    pub fn as_array(&self) -> Option<&[Object]> {
        match self {
            Object::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Null => "null",
            Object::Boolean(_) => "boolean",
            Object::Integer(_) => "integer",
            Object::Real(_) => "real",
            Object::Name(_) => "name",
            Object::String(..) => "string",
            Object::Array(_) => "array",
            Object::Dictionary(_) => "dictionary",
            Object::Stream(_) => "stream",
            Object::Reference(_) => "reference",
        }
    }
}

/// A dictionary that keeps its keys in insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dictionary {
    entries: Vec<(Vec<u8>, Object)>,
}

impl Dictionary {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`, keeping the key's position when it was already present.
    pub fn set(&mut self, key: impl Into<Vec<u8>>, value: Object) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Object> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// Whether the value of `/Type` is `name`.
    pub fn has_type(&self, name: &[u8]) -> bool {
        self.get(b"Type").and_then(Object::as_name) == Some(name)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Object)> {
        self.entries.iter().map(|(k, v)| (k.as_slice(), v))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(Vec<u8>, Object)> for Dictionary {
    fn from_iter<T: IntoIterator<Item = (Vec<u8>, Object)>>(iter: T) -> Self {
        let mut dict = Dictionary::new();
        for (k, v) in iter {
            dict.set(k, v);
        }
        dict
    }
}

/// A stream: its dictionary and its (raw, still filtered) data.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// The stream dictionary.
    pub dict: Dictionary,
    /// The raw bytes between `stream` and `endstream`, decrypted but not decoded.
    pub data: Vec<u8>,
}

/// Whether `dict` is a signature dictionary, whose /Contents are stored in clear in an
/// encrypted file (ISO 32000-1 section 7.6.1).
pub fn is_signature_dict(dict: &Dictionary) -> bool {
    dict.has_type(b"Sig") || dict.has_type(b"DocTimeStamp") || dict.get(b"ByteRange").is_some()
}
