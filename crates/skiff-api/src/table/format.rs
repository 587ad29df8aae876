//! Cell formatting helpers shared by several printers, each named after the upstream function it mirrors.

use serde_json::Value;

use super::json;

/// `labels.FormatLabels`: `k=v` pairs sorted as whole strings, or `<none>`.
pub(super) fn format_labels(pairs: &[(&str, &str)]) -> String {
    let joined = labels_string(pairs);
    if joined.is_empty() {
        "<none>".to_string()
    } else {
        joined
    }
}

/// `labels.Set.String`: like [`format_labels`] but empty for an empty set.
pub(super) fn labels_string(pairs: &[(&str, &str)]) -> String {
    let mut items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    items.sort();
    items.join(",")
}

/// The result of `metav1.LabelSelectorAsSelector(...).String()`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Selector {
    /// Rendered selector; empty for a nil selector (matches nothing) or an empty one (matches everything).
    Text(String),
    /// The selector could not be converted (unknown operator, wrong number of values).
    Invalid,
}

/// `metav1.LabelSelectorAsSelector` followed by `String()`: requirements sorted by key, values sorted.
pub(super) fn label_selector(sel: Option<&Value>) -> Selector {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return Selector::Text(String::new());
    };
    // (key, rendered requirement); sorted by key only, stably, as Go sorts requirements ByKey.
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in json::string_map(sel, &["matchLabels"]) {
        reqs.push((k.to_string(), format!("{k}={v}")));
    }
    for expr in json::arr(sel, &["matchExpressions"]) {
        let key = json::str(expr, &["key"]);
        let mut values: Vec<&str> = json::arr(expr, &["values"]).iter().filter_map(Value::as_str).collect();
        values.sort_unstable();
        let text = match json::str(expr, &["operator"]) {
            "In" | "NotIn" if values.is_empty() => return Selector::Invalid,
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" | "DoesNotExist" if !values.is_empty() => return Selector::Invalid,
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Selector::Invalid,
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Selector::Text(reqs.into_iter().map(|(_, text)| text).collect::<Vec<_>>().join(","))
}

/// `metav1.FormatLabelSelector`: the selector, `<none>` when it renders empty, `<error>` when invalid.
pub(super) fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector(sel) {
        Selector::Text(t) if t.is_empty() => "<none>".to_string(),
        Selector::Text(t) => t,
        Selector::Invalid => "<error>".to_string(),
    }
}

/// `layoutContainerCells`: container names and images, each comma-joined.
pub(super) fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| json::str(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| json::str(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// `helper.GetAccessModesAsString`: short names in a fixed order, duplicates dropped.
pub(super) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(long, _)| has(long))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

/// `listWithMoreString`: at most `max` items, then ` + N more...`; `<unset>` when empty.
pub(super) fn list_with_more(list: &[String], total: usize, max: usize) -> String {
    let shown = list.iter().take(max).cloned().collect::<Vec<_>>().join(",");
    if total > max {
        return format!("{shown} + {} more...", total - max);
    }
    if shown.is_empty() {
        "<unset>".to_string()
    } else {
        shown
    }
}

/// `printBoolPtr`: `True`, `False` or `<unset>`.
pub(super) fn bool_ptr(v: Option<bool>) -> String {
    match v {
        Some(true) => "True".to_string(),
        Some(false) => "False".to_string(),
        None => "<unset>".to_string(),
    }
}

/// `status.loadBalancer.ingress` addresses (IP, else hostname), sorted and deduplicated, as upstream's
/// `loadBalancerStatusStringer` lists them.
pub(super) fn load_balancer_ingress(obj: &serde_json::Value) -> Vec<&str> {
    let mut out: Vec<&str> = super::json::arr(obj, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| match (super::json::str(i, &["ip"]), super::json::str(i, &["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_sort_by_key_and_values() {
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "nginx"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "DoesNotExist"},
                {"key": "beta", "operator": "Exists"}
            ]
        });
        assert_eq!(format_label_selector(Some(&sel)), "app=nginx,beta,env in (dev,prod),tier=web,!zone");
    }

    #[test]
    fn empty_and_missing_selectors_print_none_and_bad_ones_error() {
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
    }

    #[test]
    fn labels_print_sorted_or_none() {
        assert_eq!(format_labels(&[("b", "2"), ("a", "1")]), "a=1,b=2");
        assert_eq!(format_labels(&[]), "<none>");
    }

    #[test]
    fn access_modes_use_upstream_order() {
        let modes = [json!("ReadWriteMany"), json!("ReadWriteOnce"), json!("ReadWriteOnce")];
        assert_eq!(access_modes(&modes), "RWO,RWX");
    }

    #[test]
    fn long_lists_say_how_many_more() {
        let items: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(list_with_more(&items, 5, 3), "1,2,3 + 2 more...");
        assert_eq!(list_with_more(&[], 0, 3), "<unset>");
    }
}
