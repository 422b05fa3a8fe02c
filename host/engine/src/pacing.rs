//! Pacing and retries: every operation of a provider waits its turn at the provider's rate
//! limit (shared by all concurrent work for that provider); transient failures are retried —
//! rate-limited after the vendor's Retry-After, unavailable with exponential backoff and full
//! jitter, bounded in attempts and in time.

use roster_runtime::types::ProviderError;
use roster_runtime::CallError;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces operations evenly at a rate limit.
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

/// Headroom below the documented limit, so clock skew and network jitter between our start
/// and the vendor's count never make a window hold one operation too many.
const HEADROOM: f64 = 1.01;

impl Pacer {
    /// A pacer for `operations` per `per`; `None` does not pace.
    pub fn new(rate: Option<(u32, Duration)>) -> Pacer {
        let interval = match rate {
            Some((ops, per)) if ops > 0 => per.mul_f64(HEADROOM / ops as f64),
            _ => Duration::ZERO,
        };
        Pacer { interval, next: Mutex::new(Instant::now()) }
    }

    /// The spacing between operations.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this operation's turn.
    pub async fn wait(&self) {
        if self.interval.is_zero() {
            return;
        }
        let at = {
            let mut next = self.next.lock().unwrap();
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(120),
            max_rate_limited: 30,
        }
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

/// Runs `op` under `pacer`, retrying transient errors within `policy`. `before_retry` runs
/// before each retry of an unavailable error (a create reads first); when it yields a value,
/// that value is the result.
pub async fn with_retry<T, F, Fut, B, BFut>(pacer: &Pacer, policy: &RetryPolicy, mut op: F, mut before_retry: B) -> (Result<T, CallError>, Retries)
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
        let out_of_time = started.elapsed() >= policy.max_elapsed;
        match &error {
            CallError::Provider(ProviderError::RateLimited(r)) if retries.rate_limited < policy.max_rate_limited && !out_of_time => {
                retries.rate_limited += 1;
                let delay = r.retry_after_ms.map(Duration::from_millis).unwrap_or(pacer.interval().max(Duration::from_secs(1)));
                pacer.back_off(delay);
            }
            e if is_transient(e) && attempt + 1 < policy.max_attempts && !out_of_time => {
                attempt += 1;
                retries.unavailable += 1;
                let ceiling = policy.base.saturating_mul(1 << attempt.min(16)).min(policy.cap);
                tokio::time::sleep(ceiling.mul_f64(jitter())).await;
                pacer.wait().await;
                match before_retry().await {
                    Ok(Some(v)) => return (Ok(v), retries),
                    Ok(None) => {}
                    Err(e) if is_transient(&e) => continue,
                    Err(e) => return (Err(e), retries),
                }
            }
            _ => return (Err(error), retries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

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
        let (r, _) = with_retry(&p, &policy, || async { Err::<(), _>(CallError::Provider(ProviderError::Forbidden("no".into()))) }, || async { Ok(None) }).await;
        assert!(matches!(r, Err(CallError::Provider(ProviderError::Forbidden(_)))), "permanent errors are not retried");
    }

    #[tokio::test]
    async fn a_read_before_retry_can_end_it() {
        let p = Pacer::new(None);
        let policy = RetryPolicy { base: Duration::from_millis(1), ..RetryPolicy::default() };
        let (r, _) = with_retry(&p, &policy, || async { Err::<u8, _>(CallError::Provider(ProviderError::Unavailable("timeout".into()))) }, || async { Ok(Some(7)) }).await;
        assert_eq!(r.unwrap(), 7);
    }
}
