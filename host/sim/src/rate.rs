//! A vendor rate limit: at most `operations` per sliding `window`; over it, either answer 429
//! with `Retry-After`, or delay the request until it fits (as the Nimbus doc describes).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What happens to a request over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateMode {
    /// Answer 429 with Retry-After.
    Reject,
    /// Hold the request until it fits.
    Delay,
}

/// The limit's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Operations allowed per window.
    pub operations: u32,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// Over the limit: reject or delay.
    pub mode: RateMode,
}

/// The timestamps of recent operations.
#[derive(Debug, Default)]
pub struct Window {
    stamps: VecDeque<Instant>,
}

impl Window {
    /// Admits an operation at `now`, or says how long until one would fit.
    pub fn admit(&mut self, limit: &RateLimit, now: Instant) -> Result<(), Duration> {
        let window = Duration::from_millis(limit.window_ms);
        while self
            .stamps
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.stamps.pop_front();
        }
        if (self.stamps.len() as u32) < limit.operations.max(1) {
            self.stamps.push_back(now);
            return Ok(());
        }
        let oldest = *self.stamps.front().expect("non-empty when full");
        Err(window - now.duration_since(oldest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let limit = RateLimit {
            operations: 2,
            window_ms: 1000,
            mode: RateMode::Reject,
        };
        let mut w = Window::default();
        let t0 = Instant::now();
        assert!(w.admit(&limit, t0).is_ok());
        assert!(w.admit(&limit, t0 + Duration::from_millis(100)).is_ok());
        assert_eq!(
            w.admit(&limit, t0 + Duration::from_millis(400)),
            Err(Duration::from_millis(600))
        );
        assert!(w.admit(&limit, t0 + Duration::from_millis(1000)).is_ok());
    }
}
