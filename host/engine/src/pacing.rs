//! Pacing and retries: every operation of a provider waits its turn at the provider's rate
//! limit (shared by all concurrent work for that provider); transient failures are retried —
//! rate-limited after the vendor's Retry-After, unavailable with exponential backoff and full
//! jitter, bounded in attempts and in time.

use roster_runtime::types::ProviderError;
use roster_runtime::CallError;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Spaces operations evenly at a rate limit.
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

/// The window a pacer keeps to: the vendor's, widened by a margin so that the delays between
/// our send and the vendor's count — clock skew, network and scheduling jitter, larger on a
/// loaded machine — never make a window of the vendor's hold one operation too many: 1 % of the
/// window, and at least 30 ms (which matters only for short windows: a minute gets 0.6 s).
pub fn padded_window(per: Duration) -> Duration {
    per + per.mul_f64(0.01).max(Duration::from_millis(30))
}

impl Pacer {
    /// A pacer for `operations` per `per`; `None` does not pace.
    pub fn new(rate: Option<(u32, Duration)>) -> Pacer {
        let interval = match rate {
            Some((ops, per)) if ops > 0 => padded_window(per) / ops,
            _ => Duration::ZERO,
        };
        Pacer { interval, next: Mutex::new(Instant::now()) }
    }

    /// The spacing between operations.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this operation's turn (and out any back-off, paced or not).
    pub async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().unwrap();
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        // A turn that is already due goes at once: a timer, even an expired one, costs a tick
        // of the timer wheel (about a millisecond) per operation.
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Pushes the next turn back by `delay` (after the vendor said "too many requests").
    pub fn back_off(&self, delay: Duration) {
        let mut next = self.next.lock().unwrap();
        *next = (*next).max(Instant::now() + delay);
    }
}

/// Bounds on retrying transient errors.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts for an unavailable vendor, the first included.
    pub max_attempts: u32,
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub cap: Duration,
    /// Total time after which no new attempt starts.
    pub max_elapsed: Duration,
    /// Rate-limited answers tolerated for one operation.
    pub max_rate_limited: u32,
    /// The longest single wait a vendor may ask for; a longer Retry-After fails the operation.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, base: Duration::from_millis(200), cap: Duration::from_secs(10), max_elapsed: Duration::from_secs(300), max_rate_limited: 30, max_wait: Duration::from_secs(120) }
    }
}

/// Whether an error may go away by itself.
pub fn is_transient(e: &CallError) -> bool {
    matches!(e, CallError::Provider(ProviderError::Unavailable(_) | ProviderError::RateLimited(_)) | CallError::Deadline(_))
}

/// A number in [0, 1) for jitter.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What happened while retrying.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retries {
    /// Rate-limited answers absorbed.
    pub rate_limited: u32,
    /// Transient failures retried.
    pub unavailable: u32,
}

/// Told about a wait before it starts (the progress line shows it).
pub type OnWait<'a> = &'a (dyn Fn(Duration, &str) + Send + Sync);

/// Runs `op` under `pacer`, retrying transient errors within `policy`. `before_retry` runs
/// before each retry of an unavailable error (a create reads first): a value ends the retries
/// with it, `None` lets the retry go ahead, and an error ends them with that error — nothing is
/// sent again unless `before_retry` said so. Every wait is bounded: a Retry-After longer than
/// `policy.max_wait`, or one that would pass `policy.max_elapsed`, fails at once, saying what
/// the vendor asked for.
pub async fn with_retry<T, F, Fut, B, BFut>(pacer: &Pacer, policy: &RetryPolicy, on_wait: OnWait<'_>, mut op: F, mut before_retry: B) -> (Result<T, CallError>, Retries)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
    B: FnMut() -> BFut,
    BFut: Future<Output = Result<Option<T>, CallError>>,
{
    let started = Instant::now();
    let mut retries = Retries::default();
    let mut attempt = 0u32;
    loop {
        pacer.wait().await;
        let error = match op().await {
            Ok(v) => return (Ok(v), retries),
            Err(e) => e,
        };
        let elapsed = started.elapsed();
        match &error {
            CallError::Provider(ProviderError::RateLimited(r)) if retries.rate_limited < policy.max_rate_limited => {
                let delay = r.retry_after_ms.map(Duration::from_millis).unwrap_or(pacer.interval().max(Duration::from_secs(1)));
                if let Some(refusal) = wait_refusal(delay, elapsed, policy) {
                    let message = format!("{refusal} ({})", r.message);
                    return (Err(CallError::Provider(ProviderError::RateLimited(roster_runtime::types::RateLimitedError { retry_after_ms: r.retry_after_ms, message }))), retries);
                }
                retries.rate_limited += 1;
                on_wait(delay, "rate limited: waiting the vendor's Retry-After");
                pacer.back_off(delay);
            }
            e if is_transient(e) && attempt + 1 < policy.max_attempts && elapsed < policy.max_elapsed => {
                attempt += 1;
                retries.unavailable += 1;
                let ceiling = policy.base.saturating_mul(1 << attempt.min(16)).min(policy.cap);
                let delay = ceiling.mul_f64(jitter());
                on_wait(delay, "unavailable: backing off before a retry");
                tokio::time::sleep(delay).await;
                pacer.wait().await;
                match before_retry().await {
                    Ok(Some(v)) => return (Ok(v), retries),
                    Ok(None) => {}
                    Err(e) => return (Err(e), retries),
                }
            }
            _ => return (Err(error), retries),
        }
    }
}

/// Why a requested wait is refused (too long by itself, or past the operation's budget).
pub fn wait_refusal(delay: Duration, elapsed: Duration, policy: &RetryPolicy) -> Option<String> {
    if delay > policy.max_wait {
        return Some(format!(
            "the vendor asked to wait {} s, longer than the longest wait allowed ({} s, settings.max_retry_wait_secs); the operation was not retried",
            delay.as_secs(),
            policy.max_wait.as_secs()
        ));
    }
    if elapsed + delay > policy.max_elapsed {
        return Some(format!(
            "the vendor asked to wait {} s, which would pass this operation's retry budget of {} s (already {} s spent); the operation was not retried",
            delay.as_secs(),
            policy.max_elapsed.as_secs(),
            elapsed.as_secs()
        ));
    }
    None
}

/// Ignores waits.
pub fn no_wait_report(_: Duration, _: &str) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_window_is_padded_for_jitter() {
        assert_eq!(padded_window(Duration::from_secs(60)), Duration::from_millis(60_600), "1 % of a minute");
        assert_eq!(padded_window(Duration::from_millis(600)), Duration::from_millis(630), "at least 30 ms");
        assert_eq!(Pacer::new(Some((60, Duration::from_secs(60)))).interval(), Duration::from_millis(1010));
        assert_eq!(Pacer::new(Some((60, Duration::from_millis(600)))).interval(), Duration::from_micros(10_500));
        assert_eq!(Pacer::new(None).interval(), Duration::ZERO);
    }

    #[tokio::test]
    async fn pacer_spaces_operations() {
        let p = Pacer::new(Some((10, Duration::from_secs(1))));
        let t = Instant::now();
        for _ in 0..4 {
            p.wait().await;
        }
        assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    }

    #[tokio::test]
    async fn retries_unavailable_then_gives_up() {
        let p = Pacer::new(None);
        let policy = RetryPolicy { base: Duration::from_millis(1), cap: Duration::from_millis(5), ..RetryPolicy::default() };
        let calls = AtomicU32::new(0);
        let (r, retries) = with_retry(
            &p,
            &policy,
            &no_wait_report,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(CallError::Provider(ProviderError::Unavailable("down".into())))
            },
            || async { Ok(None) },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(retries.unavailable, 4);
        let (r, _) = with_retry(&p, &policy, &no_wait_report, || async { Err::<(), _>(CallError::Provider(ProviderError::Forbidden("no".into()))) }, || async { Ok(None) }).await;
        assert!(matches!(r, Err(CallError::Provider(ProviderError::Forbidden(_)))), "permanent errors are not retried");
    }

    #[tokio::test]
    async fn a_read_before_retry_can_end_it() {
        let p = Pacer::new(None);
        let policy = RetryPolicy { base: Duration::from_millis(1), ..RetryPolicy::default() };
        let (r, _) = with_retry(&p, &policy, &no_wait_report, || async { Err::<u8, _>(CallError::Provider(ProviderError::Unavailable("timeout".into()))) }, || async { Ok(Some(7)) }).await;
        assert_eq!(r.unwrap(), 7);
    }

    fn limited(ms: u64) -> CallError {
        CallError::Provider(ProviderError::RateLimited(roster_runtime::types::RateLimitedError { retry_after_ms: Some(ms), message: "slow down".into() }))
    }

    /// Regression (issue 11): an unpaced provider ignored Retry-After and hammered the vendor.
    #[tokio::test(start_paused = true)]
    async fn an_unpaced_provider_obeys_retry_after() {
        let p = Pacer::new(None);
        let calls = AtomicU32::new(0);
        let waits = std::sync::Mutex::new(Vec::new());
        let t = tokio::time::Instant::now();
        let (r, retries) = with_retry(
            &p,
            &RetryPolicy::default(),
            &|d, why| waits.lock().unwrap().push((d, why.to_string())),
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(limited(2000))
                } else {
                    Ok(1)
                }
            },
            || async { Ok(None) },
        )
        .await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 3, "two refusals, then the answer: no hammering");
        assert_eq!(retries.rate_limited, 2);
        assert!(t.elapsed() >= Duration::from_secs(4), "waited both Retry-Afters: {:?}", t.elapsed());
        assert_eq!(waits.lock().unwrap().len(), 2, "each wait is reported");
    }

    /// Regression (issue 11): `Retry-After: 86400` held the state lock for a day.
    #[tokio::test(start_paused = true)]
    async fn a_retry_after_past_the_cap_fails_at_once() {
        let p = Pacer::new(Some((60, Duration::from_secs(60))));
        let calls = AtomicU32::new(0);
        let t = tokio::time::Instant::now();
        let (r, _) = with_retry(
            &p,
            &RetryPolicy::default(),
            &no_wait_report,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(limited(86_400_000))
            },
            || async { Ok(None) },
        )
        .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("asked to wait 86400 s") && e.contains("max_retry_wait_secs"), "{e}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(t.elapsed() < Duration::from_secs(2), "no wait at all: {:?}", t.elapsed());
    }

    /// Waits count against the operation's total budget.
    #[test]
    fn waits_are_bounded_by_the_budget() {
        let policy = RetryPolicy::default();
        assert_eq!(wait_refusal(Duration::from_secs(30), Duration::ZERO, &policy), None);
        assert!(wait_refusal(Duration::from_secs(121), Duration::ZERO, &policy).unwrap().contains("longest wait allowed"));
        assert!(wait_refusal(Duration::from_secs(100), Duration::from_secs(250), &policy).unwrap().contains("retry budget of 300 s"));
        assert_eq!(wait_refusal(Duration::ZERO, Duration::from_secs(10), &policy), None, "a date in the past (0) is now");
    }

    /// A failed read before a retry ends the retries: nothing is re-sent unconfirmed.
    #[tokio::test(start_paused = true)]
    async fn a_failed_read_before_retry_stops_the_resend() {
        let p = Pacer::new(None);
        let sends = AtomicU32::new(0);
        let (r, _) = with_retry(
            &p,
            &RetryPolicy::default(),
            &no_wait_report,
            || async {
                sends.fetch_add(1, Ordering::SeqCst);
                Err::<u8, _>(CallError::Provider(ProviderError::Unavailable("timeout".into())))
            },
            || async { Err(CallError::Provider(ProviderError::Unavailable("read failed".into()))) },
        )
        .await;
        assert!(r.unwrap_err().to_string().contains("read failed"));
        assert_eq!(sends.load(Ordering::SeqCst), 1, "sent once, never again without a successful read");
    }
}
