//! The shape of the generated tables (`tables.rs`): for each protobuf message of the served API, how its fields map
//! to JSON.

/// A field's protobuf value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `string`
    S,
    /// `bool`
    B,
    /// `int32`
    I32,
    /// `int64`
    I64,
    /// `double`
    F64,
    /// `bytes` (`[]byte` in Go, a base64 string in JSON)
    Y,
    /// A message: index into `MSGS`.
    M(u16),
}

/// `repeated`: a JSON array.
pub(crate) const REP: u8 = 1;
/// `map<string, T>` (entries `{1 key, 2 value}`): a JSON object.
pub(crate) const MAP: u8 = 2;
/// The Go field is a pointer: emitted whenever it is on the wire, even when zero.
pub(crate) const PTR: u8 = 4;
/// The json tag has no `omitempty`: emitted even when zero (and when absent, as Go would).
pub(crate) const NOOMIT: u8 = 8;
/// The json tag is `,inline`: the sub-message's fields go into this object.
pub(crate) const INLINE: u8 = 16;

/// One field: (proto tag, JSON name, type, flags). Fields of a message are sorted by tag.
#[derive(Debug)]
pub(crate) struct Field(pub u32, pub &'static str, pub Ty, pub u8);

/// Messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    /// An object of its fields.
    None,
    /// `meta.v1.Time` {1 seconds, 2 nanos}: RFC 3339 seconds string, `null` when zero.
    Time,
    /// `meta.v1.MicroTime` {1 seconds, 2 nanos}: RFC 3339 with microseconds, `null` when zero.
    MicroTime,
    /// `meta.v1.Duration` {1 duration ns}: Go's duration string. (No 1.32 API type has one yet.)
    #[allow(dead_code)]
    Duration,
    /// `resource.Quantity` {1 string}: the string.
    Quantity,
    /// `intstr.IntOrString` {1 type, 2 intVal, 3 strVal}: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`, `meta.v1.FieldsV1`, `apiextensions.v1.JSON` {1 raw}: the embedded JSON.
    RawJson,
    /// `meta.v1.Verbs`, `ExtraValue` {1 repeated string items}: a JSON array.
    Items,
    /// `JSONSchemaPropsOrArray` {1 schema, 2 jSONSchemas}.
    OrArray,
    /// `JSONSchemaPropsOrBool` {1 allows, 2 schema}.
    OrBool,
    /// `JSONSchemaPropsOrStringArray` {1 schema, 2 property}.
    OrStringArray,
}

/// One message: its OpenAPI definition name, how it shows in JSON, and its fields.
#[derive(Debug)]
pub(crate) struct Msg {
    pub name: &'static str,
    pub special: Special,
    pub fields: &'static [Field],
}

impl Msg {
    pub(crate) fn field(&self, tag: u32) -> Option<&'static Field> {
        self.fields.binary_search_by_key(&tag, |f| f.0).ok().map(|i| &self.fields[i])
    }
}
