//! Label and field selectors, as in upstream's `labels.Parse` and `fields.ParseSelector`.

use crate::errors::{ApiError, ApiResult};
use serde_json::Value;
use skiff_api::registry::Resource;

#[derive(Debug, Clone, PartialEq)]
enum LabelOp {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<(String, LabelOp)>);

impl LabelSelector {
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(
                parse_requirement(part)
                    .map_err(|m| ApiError::BadRequest(format!("unable to parse requirement: {m}")))?,
            );
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|(k, op)| match op {
            LabelOp::Exists => get(k).is_some(),
            LabelOp::NotExists => get(k).is_none(),
            LabelOp::Eq(v) => get(k) == Some(v.as_str()),
            LabelOp::NotEq(v) => get(k) != Some(v.as_str()),
            LabelOp::In(vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelOp::NotIn(vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            LabelOp::Gt(n) => get(k).and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x > *n),
            LabelOp::Lt(n) => get(k).and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x < *n),
        })
    }
}

/// Splits on commas that are not inside `( )`.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> Result<(), String> {
    if k.is_empty() {
        return Err("found '', expected: identifier".into());
    }
    if let Some(e) = skiff_api::validation::is_qualified_name(k).into_iter().next() {
        return Err(format!("invalid label key \"{k}\": {e}"));
    }
    Ok(())
}

fn valid_value(v: &str) -> Result<String, String> {
    if let Some(e) = skiff_api::validation::is_valid_label_value(v).into_iter().next() {
        return Err(format!("invalid label value: \"{v}\": at key: {e}"));
    }
    Ok(v.to_string())
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{rest}', expected: '('"))?;
    inner.split(',').map(|v| valid_value(v.trim())).collect()
}

fn parse_requirement(p: &str) -> Result<(String, LabelOp), String> {
    if let Some(k) = p.strip_prefix('!') {
        let k = k.trim();
        valid_key(k)?;
        return Ok((k.into(), LabelOp::NotExists));
    }
    for (tok, ctor) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((k, v)) = p.split_once(tok) {
            let (k, v) = (k.trim(), v.trim());
            valid_key(k)?;
            let op = match ctor {
                0 => LabelOp::NotEq(valid_value(v)?),
                1 => LabelOp::Eq(valid_value(v)?),
                2 => LabelOp::Gt(
                    v.parse().map_err(|_| "for 'Gt', 'Lt' operators, the value must be an integer".to_string())?,
                ),
                _ => LabelOp::Lt(
                    v.parse().map_err(|_| "for 'Gt', 'Lt' operators, the value must be an integer".to_string())?,
                ),
            };
            return Ok((k.into(), op));
        }
    }
    let words: Vec<&str> = p.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let k = words[0];
        let rest = words[1].trim_start();
        if let Some(set) = rest.strip_prefix("notin") {
            valid_key(k)?;
            return Ok((k.into(), LabelOp::NotIn(parse_set(set)?)));
        }
        if let Some(set) = rest.strip_prefix("in") {
            valid_key(k)?;
            return Ok((k.into(), LabelOp::In(parse_set(set)?)));
        }
        return Err(format!("found '{rest}', expected: in, notin, =, ==, !=, gt, lt"));
    }
    valid_key(p)?;
    Ok((p.into(), LabelOp::Exists))
}

/// A parsed field selector, checked against the resource's supported field labels.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(&'static str, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str, resource: &Resource) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for part in split_unescaped(s, ',') {
            if part.is_empty() {
                continue;
            }
            let (label, negate, value) = if let Some((l, v)) = split_op(&part, "!=") {
                (l, true, v)
            } else if let Some((l, v)) = split_op(&part, "==") {
                (l, false, v)
            } else if let Some((l, v)) = split_op(&part, "=") {
                (l, false, v)
            } else {
                return Err(ApiError::BadRequest(format!("invalid selector: '{s}'; can't understand '{part}'")));
            };
            let path = resource
                .field_path(label.trim())
                .ok_or_else(|| ApiError::BadRequest(format!("field label not supported: {}", label.trim())))?;
            reqs.push((path, negate, unescape(value)));
        }
        Ok(FieldSelector(reqs))
    }

    /// `metadata.name=x` pins the selector to one name, which lets a list read a single key.
    pub fn exact_name(&self) -> Option<&str> {
        self.0.iter().find(|(p, neg, _)| *p == "metadata.name" && !neg).map(|(_, _, v)| v.as_str())
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, negate, want)| (field_value(obj, path) == *want) != *negate)
    }
}

fn split_op<'a>(s: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    s.split_once(op)
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            if let Some(last) = out.last_mut() {
                last.push('\\');
                last.push(c);
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The string form upstream's field label conversion gives a field: missing fields are "", booleans and
/// numbers print as Go formats them.
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(json!({"app": "nginx", "tier": "web"}));
        for (sel, want) in [
            ("app=nginx", true),
            ("app==nginx,tier=web", true),
            ("app!=nginx", false),
            ("app in (nginx, redis)", true),
            ("tier notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("missing notin (x)", true),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(Some(&l)), want, "{sel}");
        }
        assert!(LabelSelector::parse("app in nginx").is_err());
    }

    #[test]
    fn field_selector_on_pods() {
        let pods = skiff_api::registry::find("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(FieldSelector::parse("metadata.name=x,spec.nodeName=n1", pods).unwrap().matches(&pod));
        assert!(!FieldSelector::parse("status.phase!=Running", pods).unwrap().matches(&pod));
        assert!(FieldSelector::parse("spec.nodeName=", pods).unwrap().matches(&json!({"metadata": {}})));
        let err = FieldSelector::parse("spec.bogus=1", pods).unwrap_err();
        assert_eq!(err.to_string(), "field label not supported: spec.bogus");
    }
}
