//! Go `fmt` renderings of decoded JSON (`%v` and `reflect.TypeOf`), so error texts that upstream builds with
//! `fmt.Errorf("... %v", m)` read the same here (clients show them verbatim).

use serde_json::{Number, Value};

/// `fmt.Sprintf("%v", v)` for a value decoded into `interface{}` (maps print with sorted keys).
pub(crate) fn v(value: &Value) -> String {
    let mut out = String::new();
    write_v(value, &mut out);
    out
}

/// `fmt.Sprint(slices)` / `%v` of a `[]interface{}`.
pub(crate) fn v_list(items: &[Value]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(item, &mut out);
    }
    out.push(']');
    out
}

fn write_v(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(s),
        Value::Number(n) => out.push_str(&number(n)),
        Value::Array(items) => out.push_str(&v_list(items)),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(child) = map.get(k.as_str()) {
                    write_v(child, out);
                }
            }
            out.push(']');
        }
    }
}

fn number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    n.as_f64().map(float_g).unwrap_or_else(|| n.to_string())
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form when exp < -4 or exp >= 6.
fn float_g(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's shortest formatting.
    let e = format!("{f:e}");
    let (mantissa, exp) = match e.split_once('e') {
        Some((m, x)) => (m.to_string(), x.parse::<i32>().unwrap_or(0)),
        None => return e,
    };
    // Go's %v on float64 is %g with the shortest precision, whose exponent threshold is 6 (`1e+06`).
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// `reflect.TypeOf(v)` as `%s` prints it, for `mergepatch.ErrBadArgType`.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_print_sorted_like_go() {
        assert_eq!(v(&json!({"b": [1, "x", null], "a": {"c": true}})), "map[a:map[c:true] b:[1 x <nil>]]");
    }

    #[test]
    fn floats_print_like_go_percent_v() {
        assert_eq!(v(&json!(1.5)), "1.5");
        assert_eq!(v(&json!(1e21)), "1e+21");
        assert_eq!(v(&json!(0.00001)), "1e-05");
        assert_eq!(v(&json!(123456.0)), "123456");
        assert_eq!(v(&json!(1000000.0)), "1e+06");
        assert_eq!(v(&json!(1234567.5)), "1.2345675e+06");
    }
}
