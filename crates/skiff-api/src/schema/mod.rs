//! Compact schema index of the built-in Kubernetes 1.32 API types, and strict field validation.
//!
//! `build.rs` compiles the OpenAPI v2 document into static tables (see [`tables`]), so nothing is parsed or
//! allocated at runtime: a lookup is a binary search over read-only data. Each struct definition lists its
//! fields with their [`Type`] and the patch metadata strategic merge patch needs
//! (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, list/map types).
//!
//! Special definitions are folded into [`Type`] at build time: `IntOrString`, `Quantity` and `Time` are
//! scalars on the wire, and `RawExtension`, `JSON`, `FieldsV1`, `JSONSchemaPropsOr*` are arbitrary JSON.

mod scalars;
mod strict;

pub use scalars::first_bad_quantity;

pub use strict::{
    decode_json_checked, decode_strict, go_quote, prune_unknown_fields, strict_error_message, strict_errors_message,
    strict_warnings, unknown_fields, StrictError,
};

/// The wire type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Boolean,
    Integer,
    Number,
    /// Any string (including `byte` base64 strings).
    String,
    /// RFC 3339 timestamp string (`Time`, `MicroTime`).
    Time,
    /// `IntOrString`: a JSON integer or string.
    IntOrString,
    /// `Quantity`: a string (or number) like `100m`, `1Gi`.
    Quantity,
    /// Arbitrary JSON (`RawExtension`, `JSON`, `FieldsV1`, untyped `object`): never checked inside.
    Any,
    /// A struct definition, by index into the definition table.
    Object(u16),
    /// A JSON array of the element type.
    Array(&'static Type),
    /// A JSON object with arbitrary keys and values of the element type (`map[string]T`).
    Map(&'static Type),
}

impl Type {
    /// The struct definition this type refers to, if it is one.
    pub fn object(&self) -> Option<TypeRef<'static>> {
        match self {
            Type::Object(i) => tables::DEFS.get(usize::from(*i)).map(|def| TypeRef { def }),
            _ => None,
        }
    }
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Unspecified,
    Atomic,
    Set,
    Map,
}

/// `x-kubernetes-map-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    Unspecified,
    Atomic,
    Granular,
}

/// Bits of `x-kubernetes-patch-strategy` (it may combine e.g. `merge,retainKeys`).
pub mod strategy {
    pub const MERGE: u8 = 1;
    pub const REPLACE: u8 = 2;
    pub const RETAIN_KEYS: u8 = 4;
}

/// One field of a struct definition.
#[derive(Debug)]
pub struct Field {
    /// The JSON name (case-sensitive, as upstream decodes).
    pub name: &'static str,
    pub ty: Type,
    /// [`strategy`] bits from `x-kubernetes-patch-strategy`.
    pub strategy: u8,
    /// `x-kubernetes-patch-merge-key`, empty when absent.
    pub merge_key: &'static str,
    pub list_type: ListType,
    pub list_map_keys: &'static [&'static str],
    pub map_type: MapType,
}

impl Field {
    pub fn has_strategy(&self, bit: u8) -> bool {
        self.strategy & bit != 0
    }
}

/// One struct definition (fields sorted by name).
#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub map_type: MapType,
    pub fields: &'static [Field],
}

#[allow(clippy::all)]
mod tables {
    use super::{Def, Field, ListType, MapType, Type};
    include!(concat!(env!("OUT_DIR"), "/schema_tables.rs"));
}

/// A handle to a struct definition.
#[derive(Debug, Clone, Copy)]
pub struct TypeRef<'a> {
    def: &'a Def,
}

impl<'a> TypeRef<'a> {
    /// The OpenAPI definition name, e.g. `io.k8s.api.core.v1.Pod`.
    pub fn name(&self) -> &'a str {
        self.def.name
    }

    pub fn fields(&self) -> &'a [Field] {
        self.def.fields
    }

    /// The field with exactly this JSON name.
    pub fn field(&self, name: &str) -> Option<&'a Field> {
        self.def.fields.binary_search_by(|f| f.name.cmp(name)).ok().and_then(|i| self.def.fields.get(i))
    }

    /// `x-kubernetes-map-type` of the struct itself (`atomic` structs are replaced as a whole by apply).
    pub fn map_type(&self) -> MapType {
        self.def.map_type
    }
}

impl PartialEq for TypeRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.def, other.def)
    }
}

/// The schema index: every struct definition and the group/version/kind map.
#[derive(Debug)]
pub struct Index {
    _private: (),
}

static INDEX: Index = Index { _private: () };

/// The process-wide schema index (static data; free to call often).
pub fn index() -> &'static Index {
    &INDEX
}

impl Index {
    /// The definition of a top-level kind (`group` is `""` for the core group).
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<TypeRef<'_>> {
        let gvks = tables::GVKS;
        let i = gvks.binary_search_by(|(g, v, k, _)| (*g, *v, *k).cmp(&(group, version, kind))).ok()?;
        let (_, _, _, def) = gvks.get(i)?;
        tables::DEFS.get(usize::from(*def)).map(|def| TypeRef { def })
    }

    /// A definition by its OpenAPI name, e.g. `io.k8s.api.core.v1.Container`.
    pub fn definition(&self, name: &str) -> Option<TypeRef<'_>> {
        let i = tables::DEFS.binary_search_by(|d| d.name.cmp(name)).ok()?;
        tables::DEFS.get(i).map(|def| TypeRef { def })
    }

    /// Every (group, version, kind) that has a definition, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
        tables::GVKS.iter().map(|(g, v, k, _)| (*g, *v, *k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_kind_resolves_to_pod_definition() {
        let pod = index().kind("", "v1", "Pod").unwrap();
        assert_eq!(pod.name(), "io.k8s.api.core.v1.Pod");
        let dep = index().kind("apps", "v1", "Deployment").unwrap();
        assert_eq!(dep.name(), "io.k8s.api.apps.v1.Deployment");
        assert!(index().kind("apps", "v1", "Nope").is_none());
        assert!(index().kind("", "v1", "pod").is_none(), "kinds are case-sensitive");
    }

    #[test]
    fn containers_carry_merge_metadata() {
        let spec = index().definition("io.k8s.api.core.v1.PodSpec").unwrap();
        let containers = spec.field("containers").unwrap();
        assert_eq!(containers.merge_key, "name");
        assert!(containers.has_strategy(strategy::MERGE));
        assert_eq!(containers.list_type, ListType::Map);
        assert_eq!(containers.list_map_keys, &["name"]);
        let Type::Array(elem) = containers.ty else { panic!("containers is a list") };
        assert_eq!(elem.object().unwrap().name(), "io.k8s.api.core.v1.Container");
        let volumes = spec.field("volumes").unwrap();
        assert!(volumes.has_strategy(strategy::MERGE) && volumes.has_strategy(strategy::RETAIN_KEYS));
    }

    #[test]
    fn service_ports_merge_on_port_with_two_map_keys() {
        let spec = index().definition("io.k8s.api.core.v1.ServiceSpec").unwrap();
        let ports = spec.field("ports").unwrap();
        assert_eq!(ports.merge_key, "port");
        assert_eq!(ports.list_map_keys, &["port", "protocol"]);
    }

    #[test]
    fn special_definitions_fold_into_scalar_types() {
        let meta = index().definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap();
        assert_eq!(meta.field("labels").unwrap().ty, Type::Map(&Type::String));
        assert_eq!(meta.field("creationTimestamp").unwrap().ty, Type::Time);
        let port = index().definition("io.k8s.api.core.v1.HTTPGetAction").unwrap();
        assert_eq!(port.field("port").unwrap().ty, Type::IntOrString);
        let res = index().definition("io.k8s.api.core.v1.ResourceRequirements").unwrap();
        assert_eq!(res.field("limits").unwrap().ty, Type::Map(&Type::Quantity));
        let rev = index().kind("apps", "v1", "ControllerRevision").unwrap();
        assert_eq!(rev.field("data").unwrap().ty, Type::Any);
        let strategy_field =
            index().definition("io.k8s.api.apps.v1.DeploymentSpec").unwrap().field("strategy").unwrap();
        assert!(strategy_field.has_strategy(strategy::RETAIN_KEYS));
    }

    #[test]
    fn crd_schema_props_is_a_struct_with_recursive_maps() {
        let props =
            index().definition("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps").unwrap();
        let Type::Map(elem) = props.field("properties").unwrap().ty else { panic!("properties is a map") };
        assert_eq!(elem.object().unwrap(), props);
        assert_eq!(props.field("default").unwrap().ty, Type::Any);
        assert!(props.field("x-kubernetes-int-or-string").is_some());
    }
}
