//! Printers for batch/v1: jobs (STATUS, COMPLETIONS, DURATION as of 1.32) and cron jobs.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::format::{bool_ptr, container_cells, format_label_selector};
use super::human::{human_duration, since};
use super::{age_col, col, docs, json, name_col, wide, Column, CONTAINERS_DOC, IMAGES_DOC};

pub(super) fn job_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", "Status of the job."),
        col("Completions", "string", docs::JOB_STATUS_SUCCEEDED),
        col("Duration", "string", "Time required to complete the job."),
        age_col(),
        wide(col("Containers", "string", CONTAINERS_DOC)),
        wide(col("Images", "string", IMAGES_DOC)),
        wide(col("Selector", "string", docs::JOB_SPEC_SELECTOR)),
    ]
}

/// `hasJobCondition`: the status of the first condition of that type is True.
fn has_condition(job: &Value, kind: &str) -> bool {
    json::arr(job, &["status", "conditions"])
        .iter()
        .find(|c| json::str(c, &["type"]) == kind)
        .is_some_and(|c| json::str(c, &["status"]) == "True")
}

pub(super) fn job_row(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = json::int(job, &["status", "succeeded"]);
    let completions = match json::opt_int(job, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match json::opt_int(job, &["spec", "parallelism"]).unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (json::time(job, &["status", "startTime"]), json::time(job, &["status", "completionTime"])) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let status = if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if json::deleting(job) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(json::arr(job, &["spec", "template", "spec", "containers"]));
    vec![
        json::name(job).into(),
        status.into(),
        completions.into(),
        duration.into(),
        since(json::time(job, &["metadata", "creationTimestamp"]), now).into(),
        names.into(),
        images.into(),
        format_label_selector(json::get(job, &["spec", "selector"])).into(),
    ]
}

pub(super) fn cron_job_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Schedule", "string", docs::CRONJOB_SPEC_SCHEDULE),
        col("Timezone", "string", docs::CRONJOB_SPEC_TIME_ZONE),
        col("Suspend", "boolean", docs::CRONJOB_SPEC_SUSPEND),
        col("Active", "integer", docs::CRONJOB_STATUS_ACTIVE),
        col("Last Schedule", "string", docs::CRONJOB_STATUS_LAST_SCHEDULE),
        age_col(),
        wide(col("Containers", "string", CONTAINERS_DOC)),
        wide(col("Images", "string", IMAGES_DOC)),
        wide(col("Selector", "string", docs::JOB_SPEC_SELECTOR)),
    ]
}

pub(super) fn cron_job_row(cj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last_schedule = match json::time(cj, &["status", "lastScheduleTime"]) {
        Some(t) => since(Some(t), now),
        None => "<none>".to_string(),
    };
    let job_spec = json::get(cj, &["spec", "jobTemplate", "spec"]).unwrap_or(&Value::Null);
    let (names, images) = container_cells(json::arr(job_spec, &["template", "spec", "containers"]));
    vec![
        json::name(cj).into(),
        json::str(cj, &["spec", "schedule"]).into(),
        json::opt_str(cj, &["spec", "timeZone"]).unwrap_or("<none>").into(),
        // Declared boolean, but upstream prints the words (and <unset>), so the cell is a string.
        bool_ptr(json::opt_bool(cj, &["spec", "suspend"])).into(),
        (json::arr(cj, &["status", "active"]).len() as i64).into(),
        last_schedule.into(),
        since(json::time(cj, &["metadata", "creationTimestamp"]), now).into(),
        names.into(),
        images.into(),
        format_label_selector(json::get(job_spec, &["selector"])).into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{ago, now};
    use super::*;
    use serde_json::json;

    fn job(status: Value) -> Value {
        json!({
            "metadata": {"name": "pi", "creationTimestamp": ago(200)},
            "spec": {"completions": 1, "parallelism": 1,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
                "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}},
            "status": status
        })
    }

    #[test]
    fn running_job_shows_running_and_elapsed_duration() {
        let j = job(json!({"startTime": ago(75), "active": 1}));
        assert_eq!(
            job_row(&j, now()),
            vec![
                json!("pi"),
                json!("Running"),
                json!("0/1"),
                json!("75s"),
                json!("3m20s"),
                json!("pi"),
                json!("perl:5.34"),
                json!("batch.kubernetes.io/controller-uid=abc"),
            ]
        );
    }

    #[test]
    fn complete_job_shows_complete_and_its_run_time() {
        let j = job(json!({"startTime": ago(190), "completionTime": ago(150), "succeeded": 1,
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}));
        let cells = job_row(&j, now());
        assert_eq!(cells[1..4], [json!("Complete"), json!("1/1"), json!("40s")]);
    }

    #[test]
    fn job_status_follows_upstream_precedence() {
        let failed = job(json!({"conditions": [{"type": "FailureTarget", "status": "True"},
                                               {"type": "Failed", "status": "True"}]}));
        assert_eq!(job_row(&failed, now())[1], json!("Failed"));
        let target = job(json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}));
        assert_eq!(job_row(&target, now())[1], json!("FailureTarget"));
        let suspended = job(json!({"conditions": [{"type": "Suspended", "status": "True"}]}));
        assert_eq!(job_row(&suspended, now())[1], json!("Suspended"));
        let mut deleting = suspended.clone();
        deleting["metadata"]["deletionTimestamp"] = json!(ago(0));
        assert_eq!(job_row(&deleting, now())[1], json!("Terminating"));
        // A not-yet-started job has no duration.
        assert_eq!(job_row(&job(json!({})), now())[3], json!(""));
    }

    #[test]
    fn completions_without_a_target_mention_parallelism() {
        let mut j = job(json!({"succeeded": 2}));
        j["spec"].as_object_mut().unwrap().remove("completions");
        j["spec"]["parallelism"] = json!(3);
        assert_eq!(job_row(&j, now())[2], json!("2/1 of 3"));
        j["spec"]["parallelism"] = json!(1);
        assert_eq!(job_row(&j, now())[2], json!("2/1"));
    }

    #[test]
    fn cron_job_prints_schedule_suspend_words_and_active_count() {
        let cj = json!({
            "metadata": {"name": "hello", "creationTimestamp": ago(3600)},
            "spec": {"schedule": "*/1 * * * *", "suspend": false,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox:1.36"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(30)}
        });
        assert_eq!(
            cron_job_row(&cj, now()),
            vec![
                json!("hello"),
                json!("*/1 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("30s"),
                json!("60m"),
                json!("hello"),
                json!("busybox:1.36"),
                json!("<none>"),
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {"timeZone": "Etc/UTC"}});
        let cells = cron_job_row(&bare, now());
        assert_eq!(cells[2..6], [json!("Etc/UTC"), json!("<unset>"), json!(0), json!("<none>")]);
    }
}
