//! Images for containers, as the kubelet's image manager does it: the pull policy, `Pulling`/`Pulled`/`Failed`
//! events with upstream's text, and a per-pod, per-image back-off (10 s doubling to 5 min) during which the
//! container waits in `ImagePullBackOff`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use k8s_openapi::api::core::v1::Container;
use skiff_image::hosts::Credentials;
use skiff_image::store::ImageRecord;
use skiff_image::ImageService;

use crate::backoff::Backoff;
use crate::events::{Recorder, Subject};

/// Why a container cannot have its image now: the waiting reason and message for its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageWait {
    pub reason: &'static str,
    pub message: String,
}

pub struct Images {
    svc: Arc<ImageService>,
    backoff: Mutex<HashMap<(String, String), Backoff>>,
}

/// Go's `time.Duration` text of a duration truncated to milliseconds, as the kubelet prints pull times.
pub fn go_duration_ms(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    let mut secs = s.to_string();
    if frac > 0 {
        secs.push_str(format!(".{frac:03}").trim_end_matches('0'));
    }
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

impl Images {
    pub fn new(svc: Arc<ImageService>) -> Images {
        Images { svc, backoff: Mutex::new(HashMap::new()) }
    }

    pub fn service(&self) -> &ImageService {
        &self.svc
    }

    /// The container's image, pulled if the policy says so. `credentials` come from the pod's pull secrets.
    pub async fn ensure(
        &self,
        pod_uid: &str,
        c: &Container,
        credentials: &Credentials,
        recorder: &Recorder,
        subject: &Subject,
    ) -> Result<ImageRecord, ImageWait> {
        let image = c.image.clone().unwrap_or_default();
        let policy = c.image_pull_policy.as_deref().unwrap_or("IfNotPresent");
        let present = self.svc.get(&image).ok();
        match (policy, present) {
            ("Never", None) => {
                let message = format!("Container image \"{image}\" is not present with pull policy of Never");
                recorder.warning(subject, "ErrImageNeverPull", &message).await;
                return Err(ImageWait { reason: "ErrImageNeverPull", message });
            }
            ("Never", Some(rec)) | ("IfNotPresent", Some(rec)) => {
                recorder
                    .normal(subject, "Pulled", &format!("Container image \"{image}\" already present on machine"))
                    .await;
                return Ok(rec);
            }
            _ => {}
        }
        let key = (pod_uid.to_string(), image.clone());
        let in_backoff = {
            let b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
            b.get(&key).is_some_and(|b| b.waiting(Instant::now()))
        };
        if in_backoff {
            let message = format!("Back-off pulling image \"{image}\"");
            recorder.normal(subject, "BackOff", &message).await;
            recorder.warning(subject, "Failed", "Error: ImagePullBackOff").await;
            return Err(ImageWait { reason: "ImagePullBackOff", message });
        }
        recorder.normal(subject, "Pulling", &format!("Pulling image \"{image}\"")).await;
        let started = Instant::now();
        match self.svc.pull(&image, credentials, &skiff_image::pull::NoProgress).await {
            Ok(rec) => {
                self.backoff.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
                let took = go_duration_ms(started.elapsed());
                recorder
                    .normal(
                        subject,
                        "Pulled",
                        &format!(
                            "Successfully pulled image \"{image}\" in {took} ({took} including waiting). Image size: {} bytes.",
                            rec.size
                        ),
                    )
                    .await;
                Ok(rec)
            }
            Err(e) => {
                self.backoff.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().failed(Instant::now());
                let message = format!("Failed to pull image \"{image}\": {e}");
                recorder.warning(subject, "Failed", &message).await;
                recorder.warning(subject, "Failed", "Error: ErrImagePull").await;
                Err(ImageWait { reason: "ErrImagePull", message })
            }
        }
    }

    /// Forgets the back-off state of a pod that is gone.
    pub fn forget(&self, pod_uid: &str) {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| k.0 != pod_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms(Duration::from_micros(94_700)), "94ms");
        assert_eq!(go_duration_ms(Duration::from_millis(1_230)), "1.23s");
        assert_eq!(go_duration_ms(Duration::from_millis(2_000)), "2s");
        assert_eq!(go_duration_ms(Duration::from_millis(61_005)), "1m1.005s");
    }
}
