//! Checks of scalar wire formats that upstream enforces while decoding into Go types (so they answer 400
//! BadRequest, before validation): quantities must parse.

use super::{index, Type, TypeRef};
use serde_json::Value;

/// The first quantity in `obj` that does not parse, as upstream's decoding error text.
pub fn first_bad_quantity(group: &str, version: &str, kind: &str, obj: &Value) -> Option<String> {
    let def = index().kind(group, version, kind)?;
    walk_object(def, obj)
}

fn walk_object(def: TypeRef<'_>, v: &Value) -> Option<String> {
    let Value::Object(map) = v else { return None };
    map.iter().find_map(|(k, v)| def.field(k).and_then(|f| walk(f.ty, v)))
}

fn walk(ty: Type, v: &Value) -> Option<String> {
    match (ty, v) {
        (Type::Quantity, Value::String(s)) => crate::validation::parse_quantity(s).err().map(|e| e.to_string()),
        (Type::Object(_), _) => ty.object().and_then(|d| walk_object(d, v)),
        (Type::Array(t), Value::Array(items)) => items.iter().find_map(|i| walk(*t, i)),
        (Type::Map(t), Value::Object(m)) => m.values().find_map(|i| walk(*t, i)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unparseable_limits_are_reported() {
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "12 gigs"}}}]}});
        let msg = first_bad_quantity("", "v1", "Pod", &pod).unwrap();
        assert!(msg.starts_with("quantities must match the regular expression"), "{msg}");
        let ok = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "512Mi", "cpu": "500m"}}}]}});
        assert_eq!(first_bad_quantity("", "v1", "Pod", &ok), None);
    }
}
