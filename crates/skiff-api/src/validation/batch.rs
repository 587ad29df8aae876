//! batch/v1 Job and CronJob (`pkg/apis/batch/validation`, Kubernetes 1.32), covering the spec fields,
//! the pod template rules and the main immutability rules on update.

use super::meta::{
    self, go_map_repr, label_selector_repr, metadata, selector_matches, validate_label_selector, validate_object_meta,
    validate_object_meta_update,
};
use super::names::*;
use super::pod::validate_pod_template_spec;
use super::{child, get, get_at, int, nonnegative, semantic_eq, str_at, str_of, string_map};
use crate::field::{go_repr, FieldError};
use serde_json::Value;

/// `validateJobSpec`: the parts shared by Job and CronJob's job template.
fn validate_job_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for k in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        if let Some(v) = int(spec, k) {
            errs.extend(nonnegative(v, &child(path, k)));
        }
    }
    if let Some(cm) = get(spec, "completionMode").and_then(Value::as_str) {
        if !matches!(cm, "NonIndexed" | "Indexed") {
            errs.push(FieldError::not_supported(child(path, "completionMode"), cm, &["NonIndexed", "Indexed"]));
        }
        if cm == "Indexed" {
            if get(spec, "completions").is_none() {
                errs.push(FieldError::required(child(path, "completions"), "when completion mode is Indexed"));
            }
            if let Some(p) = int(spec, "parallelism") {
                if p > 100_000 {
                    errs.push(FieldError::invalid(
                        child(path, "parallelism"),
                        p,
                        "must be less than or equal to 100000 when completion mode is Indexed",
                    ));
                }
            }
        }
    }
    if let Some(prp) = get(spec, "podReplacementPolicy").and_then(Value::as_str) {
        if !matches!(prp, "TerminatingOrFailed" | "Failed") {
            errs.push(FieldError::not_supported(
                child(path, "podReplacementPolicy"),
                prp,
                &["Failed", "TerminatingOrFailed"],
            ));
        } else if get(spec, "podFailurePolicy").is_some() && prp != "Failed" {
            errs.push(FieldError::not_supported(child(path, "podReplacementPolicy"), prp, &["Failed"]));
        }
    }
    let tpath = child(path, "template");
    errs.extend(validate_pod_template_spec(get(spec, "template"), &tpath));
    let rp = str_at(spec, &["template", "spec", "restartPolicy"]);
    if !matches!(rp, "OnFailure" | "Never") {
        errs.push(FieldError::not_supported(child(&tpath, "spec.restartPolicy"), rp, &["OnFailure", "Never"]));
    }
    errs
}

/// Job create/update.
pub fn validate_job(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let empty = Value::Object(Default::default());
    let spec = get(obj, "spec").unwrap_or(&empty);
    let mut errs = match old {
        Some(o) => validate_object_meta_update(metadata(obj), metadata(o), "metadata"),
        None => validate_object_meta(metadata(obj), true, name_is_dns_subdomain, "metadata"),
    };
    errs.extend(validate_job_spec(spec, "spec"));
    let sel = get(spec, "selector");
    match sel {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(s) => errs.extend(validate_label_selector(Some(s), "spec.selector")),
    }
    let labels = get_at(spec, &["template", "metadata"]).map(|m| string_map(m, "labels")).unwrap_or_default();
    if let Ok(false) = selector_matches(sel, &labels) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            go_repr(go_map_repr(get_at(spec, &["template", "metadata", "labels"]))),
            "`selector` does not match template `labels`",
        ));
    }
    if let Some(old) = old {
        let os = get(old, "spec").unwrap_or(&empty);
        if !semantic_eq(get(spec, "selector"), get(os, "selector")) {
            let repr = get(spec, "selector").map(label_selector_repr).unwrap_or_else(|| "null".into());
            errs.push(FieldError::invalid("spec.selector", go_repr(repr), meta::FIELD_IMMUTABLE_ERROR_MSG));
        }
        // The template may change only while the job is suspended (simplified: scheduling fields are not
        // distinguished from the rest).
        let suspended = get(os, "suspend").and_then(Value::as_bool).unwrap_or(false);
        if !suspended && !semantic_eq(get(spec, "template"), get(os, "template")) {
            errs.push(FieldError::invalid(
                "spec.template",
                go_repr("core.PodTemplateSpec{...}"),
                meta::FIELD_IMMUTABLE_ERROR_MSG,
            ));
        }
        for k in ["completions", "completionMode", "podFailurePolicy", "backoffLimitPerIndex"] {
            if !semantic_eq(get(spec, k), get(os, k)) {
                let v = get(spec, k).cloned().unwrap_or(Value::Null);
                errs.push(FieldError::invalid(child("spec", k), v, meta::FIELD_IMMUTABLE_ERROR_MSG));
            }
        }
    }
    errs
}

/// A small stand-in for robfig/cron's standard parser: descriptors and the five-field form.
fn validate_schedule(schedule: &str, path: &str) -> Vec<FieldError> {
    if schedule.contains("TZ") {
        return vec![FieldError::invalid(
            path,
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        )];
    }
    if let Some(d) = schedule.strip_prefix('@') {
        let ok = matches!(d, "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly")
            || d.starts_with("every ");
        if !ok {
            return vec![FieldError::invalid(path, schedule, format!("unrecognized descriptor: {schedule}"))];
        }
        return Vec::new();
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return vec![FieldError::invalid(
            path,
            schedule,
            format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")),
        )];
    }
    let bounds = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    let names: [&[&str]; 5] = [
        &[],
        &[],
        &[],
        &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ];
    for (i, f) in fields.iter().enumerate() {
        for part in f.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            if let Some(s) = step {
                if s.parse::<u32>().is_err() {
                    return vec![FieldError::invalid(
                        path,
                        schedule,
                        format!("failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": invalid syntax"),
                    )];
                }
            }
            if range == "*" || range == "?" {
                continue;
            }
            for v in range.split('-') {
                let lower = v.to_lowercase();
                let n = match v.parse::<i64>() {
                    Ok(n) => n,
                    Err(_) => match names[i].iter().position(|x| *x == lower) {
                        Some(p) => p as i64 + bounds[i].0,
                        None => {
                            return vec![FieldError::invalid(
                                path,
                                schedule,
                                format!("failed to parse int from {v}: strconv.Atoi: parsing \"{v}\": invalid syntax"),
                            )]
                        }
                    },
                };
                let (lo, hi) = bounds[i];
                if n < lo {
                    return vec![FieldError::invalid(
                        path,
                        schedule,
                        format!("beginning of range ({n}) below minimum ({lo}): {part}"),
                    )];
                }
                if n > hi {
                    return vec![FieldError::invalid(
                        path,
                        schedule,
                        format!("end of range ({n}) above maximum ({hi}): {part}"),
                    )];
                }
            }
        }
    }
    Vec::new()
}

/// CronJob create/update.
pub fn validate_cron_job(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let empty = Value::Object(Default::default());
    let spec = get(obj, "spec").unwrap_or(&empty);
    let md = metadata(obj);
    let mut errs = match old {
        Some(o) => validate_object_meta_update(md, metadata(o), "metadata"),
        None => {
            let mut e = validate_object_meta(md, true, name_is_dns_subdomain, "metadata");
            let name = str_of(md, "name");
            if name.len() > 52 {
                e.push(FieldError::invalid("metadata.name", name, "must be no more than 52 characters"));
            }
            e
        }
    };
    let schedule = str_of(spec, "schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        errs.extend(validate_schedule(schedule, "spec.schedule"));
    }
    if let Some(v) = int(spec, "startingDeadlineSeconds") {
        errs.extend(nonnegative(v, "spec.startingDeadlineSeconds"));
    }
    match str_of(spec, "concurrencyPolicy") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported("spec.concurrencyPolicy", other, &["Allow", "Forbid", "Replace"])),
    }
    let jt = get(spec, "jobTemplate").unwrap_or(&empty);
    let jts = get(jt, "spec").unwrap_or(&empty);
    errs.extend(validate_job_spec(jts, "spec.jobTemplate.spec"));
    if let Some(s) = get(jts, "selector") {
        errs.push(FieldError::invalid(
            "spec.jobTemplate.spec.selector",
            go_repr(label_selector_repr(s)),
            "`selector` will be auto-generated",
        ));
    }
    if get(jts, "manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported("spec.jobTemplate.spec.manualSelector", true, &["nil", "false"]));
    }
    for k in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        if let Some(v) = int(spec, k) {
            errs.extend(nonnegative(v, &child("spec", k)));
        }
    }
    if let Some(tz) = get(spec, "timeZone").and_then(Value::as_str) {
        if tz.is_empty() || tz.contains(' ') || tz.starts_with('/') || tz.contains("..") {
            errs.push(FieldError::invalid("spec.timeZone", tz, format!("unknown time zone {tz}")));
        }
    }
    errs
}
