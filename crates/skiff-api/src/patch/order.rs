//! List ordering for strategic merge patch: how merged lists are ordered (patch order, then live order)
//! and `$setElementOrder/<list>` (upstream `normalizeElementOrder`, `mergeSortedSlice`,
//! `mergePatchIntoOriginal`).

use super::*;

/// Split `merged` into items present in `by` (by merge key, or by value for primitives) and the rest.
pub(super) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let (mut in_patch, mut server_only) = (Vec::new(), Vec::new());
    for v in merged {
        let present = if merge_key.is_empty() {
            by.contains(&v)
        } else {
            let Value::Object(m) = &v else {
                return Err(err_bad_arg_type("map[string]interface {}", &v));
            };
            let Some(value) = m.get(merge_key) else {
                return Err(err_no_merge_key(m, merge_key));
            };
            find_map_by_key(by, merge_key, value)?.is_some()
        };
        if present {
            in_patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((in_patch, server_only))
}

static NULL: Value = Value::Null;

/// What `index()` compares: the merge key's value for maps, the item itself otherwise.
fn order_key<'a>(v: &'a Value, merge_key: &str, is_map: bool) -> &'a Value {
    if is_map {
        v.get(merge_key).unwrap_or(&NULL)
    } else {
        v
    }
}

fn index_of(list: &[Value], v: &Value, merge_key: &str, is_map: bool) -> Option<usize> {
    let key = order_key(v, merge_key, is_map);
    list.iter().position(|item| order_key(item, merge_key, is_map) == key)
}

/// Sort the patch items by `patch_order` and the server-only items by `server_order`, then interleave them
/// keeping both relative orders (`normalizeElementOrder`).
pub(super) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = normalize_slice_order(patch_items, patch_order, merge_key, is_map)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, is_map)?;
    Ok(merge_sorted_slice(server_only, patch_items, server_order, merge_key, is_map))
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let (mut keep, mut to_delete) = (Vec::with_capacity(to_sort.len()), Vec::new());
    if is_map {
        for v in to_sort.iter().chain(order) {
            let Value::Object(m) = v else {
                return Err(err_bad_arg_type("map[string]interface {}", v));
            };
            if !m.contains_key(merge_key) {
                return Err(err_no_merge_key(m, merge_key));
            }
        }
        for v in to_sort {
            if v.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
                to_delete.push(v);
            } else {
                keep.push(v);
            }
        }
    } else {
        keep = to_sort;
    }
    // Items missing from `order` sort last (upstream's comparator is inconsistent there; it never happens
    // for the lists the callers build).
    keep.sort_by_key(|v| index_of(order, v, merge_key, is_map).unwrap_or(usize::MAX));
    keep.extend(to_delete);
    Ok(keep)
}

/// `mergeSortedSlice`: insert each `left` item before the first `right` item it precedes in `server_order`.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    is_map: bool,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (index_of(server_order, l, merge_key, is_map), index_of(server_order, r, merge_key, is_map)) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// `mergePatchIntoOriginal`: merge each list named by `$setElementOrder/<list>` and order it as the
/// directive says (directive order > patch order > live order).
pub(super) fn merge_set_element_order(
    original: &mut JsonMap,
    patch: &mut JsonMap,
    schema: Schema,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX)).cloned().collect();
    for key in keys {
        let Some(order_v) = patch.shift_remove(&key) else {
            continue;
        };
        let Value::Array(order) = order_v else {
            return Err(err_bad_arg_type("[]interface {}", &order_v));
        };
        let list_key = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?.to_string();
        let original_list = match original.get(&list_key) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(err_bad_arg_type("[]interface {}", other)),
            None => None,
        };
        let patch_list = match patch.get(&list_key) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(err_bad_arg_type("[]interface {}", other)),
            None => None,
        };
        let (sub, meta) = schema.for_slice(&list_key);
        validate_patch_with_set_order_list(patch_list.as_deref().unwrap_or(&[]), &order, meta.merge_key)?;

        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => match remove_directives(Value::Array(p.clone())) {
                Some(Value::Array(a)) => a,
                _ => continue,
            },
            (Some(o), Some(p)) => merge_slice_handler(o.clone(), p.clone(), sub, meta, false)?,
            (None, None) => continue,
        };
        let patch_list = patch_list.unwrap_or_default();
        let original_list = match original_list {
            Some(o) if meta.strategy == Strategy::Merge && !meta.merge_key.is_empty() && !patch_list.is_empty() => {
                aliased_original(o, &patch_list, meta.merge_key)
            }
            Some(o) => o,
            None => Vec::new(),
        };
        let (patch_items, server_only) = partition(merged, &order, meta.merge_key)?;
        let is_map = slice_element_kind(&original_list, &patch_list)? == KIND_OBJECT;
        let both = normalize_element_order(patch_items, server_only, &order, &original_list, meta.merge_key, is_map)?;
        original.insert(list_key.clone(), Value::Array(both));
        patch.shift_remove(&list_key);
    }
    Ok(())
}

/// The live list as upstream sees it after merging a patch list into it, for ordering by
/// `$setElementOrder`. Upstream merges in place: `$patch: delete` shifts later items left within the same
/// Go backing array and new items are appended into the freed slots, so its view of the original list
/// (same array, original length) has changed. Upstream's own test expectations depend on this.
fn aliased_original(mut backing: Vec<Value>, patch: &[Value], merge_key: &str) -> Vec<Value> {
    let n = backing.len();
    let mut len = n;
    let position = |backing: &[Value], len: usize, value: &Value| {
        backing[..len].iter().position(|item| item.get(merge_key) == Some(value))
    };
    for item in patch {
        match item.get(DIRECTIVE_MARKER).and_then(Value::as_str) {
            Some(DELETE_DIRECTIVE) => {
                let Some(value) = item.get(merge_key) else {
                    continue;
                };
                while let Some(i) = position(&backing, len, value) {
                    for j in i..len - 1 {
                        backing[j] = backing[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            // The merged list is then a new slice: appends no longer touch the original array.
            Some(REPLACE_DIRECTIVE) => return backing,
            _ => {}
        }
    }
    // Appends past the original length land outside upstream's view; track their keys for lookups only.
    let mut appended: Vec<&Value> = Vec::new();
    for item in patch.iter().filter(|item| item.get(DIRECTIVE_MARKER).is_none()) {
        let Some(value) = item.get(merge_key) else {
            continue;
        };
        if position(&backing, len.min(n), value).is_some() || appended.contains(&value) {
            continue;
        }
        if len < n {
            backing[len] = item.clone();
        } else {
            appended.push(value);
        }
        len += 1;
    }
    backing
}

/// The non-deleted patch items must appear in the `$setElementOrder` list, in the same relative order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut non_delete: Vec<&Value> = Vec::with_capacity(patch_list.len());
    for v in patch_list {
        if !merge_key.is_empty() {
            let Value::Object(m) = v else {
                return Err(err_bad_arg_type("map[string]interface {}", v));
            };
            if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
                continue;
            }
        }
        non_delete.push(v);
    }
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if non_delete[pi].get(DIRECTIVE_MARKER).is_some() {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}\n",
            gofmt::v_list(patch_list),
            gofmt::v_list(order)
        )));
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(err_bad_arg_type("map[string]interface {}", left));
    };
    let Value::Object(r) = right else {
        return Err(err_bad_arg_type("map[string]interface {}", right));
    };
    let Some(lv) = l.get(merge_key) else {
        return Err(err_no_merge_key(l, merge_key));
    };
    let Some(rv) = r.get(merge_key) else {
        return Err(err_no_merge_key(r, merge_key));
    };
    Ok(lv == rv)
}
