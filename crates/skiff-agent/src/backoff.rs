//! The kubelet's crash-loop and image-pull back-off: 10 s, doubling per failure, capped at 5 min, and forgotten
//! after a quiet period of twice the cap.

use std::time::{Duration, Instant};

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Default)]
pub struct Backoff {
    /// The current delay; zero before the first failure.
    delay: Duration,
    /// When the last failure was recorded.
    last: Option<Instant>,
}

impl Backoff {
    /// Records a failure at `at`: the first sets the delay to 10 s, later ones double it (up to 5 min). A failure
    /// after a quiet period of 2 × the cap starts over.
    pub fn failed(&mut self, at: Instant) {
        let stale = self.last.is_some_and(|l| at.saturating_duration_since(l) > 2 * MAX);
        self.delay = if self.delay.is_zero() || stale { INITIAL } else { (self.delay * 2).min(MAX) };
        self.last = Some(at);
    }

    /// Whether `now` is still inside the back-off window of the last failure.
    pub fn waiting(&self, now: Instant) -> bool {
        self.remaining(now).is_some()
    }

    /// How long until the window ends, if it has not.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        let last = self.last?;
        let end = last + self.delay;
        (end > now).then(|| end - now)
    }

    /// The kubelet's `IsInBackOffSince(event)`: how long until `delay` has passed since `event` (a container's
    /// finish time), if it has not — the container waits in `CrashLoopBackOff` meanwhile.
    pub fn remaining_since(&self, event: Instant, now: Instant) -> Option<Duration> {
        if self.delay.is_zero() {
            return None;
        }
        let end = event + self.delay;
        (end > now).then(|| end - now)
    }

    pub fn delay(&self) -> Duration {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let t = Instant::now();
        let mut b = Backoff::default();
        assert!(!b.waiting(t));
        b.failed(t);
        assert_eq!(b.delay(), INITIAL);
        assert!(b.waiting(t + Duration::from_secs(9)));
        assert!(!b.waiting(t + Duration::from_secs(10)));
        for _ in 0..10 {
            b.failed(t);
        }
        assert_eq!(b.delay(), MAX);
        b.failed(t + Duration::from_secs(1000));
        assert_eq!(b.delay(), INITIAL);
    }
}
