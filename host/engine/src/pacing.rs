//! Pacing and retries: every operation of a provider waits its turn at the provider's rate
//! limit (shared by all concurrent work for that provider); transient failures are retried —
//! rate-limited after the vendor's Retry-After, unavailable with exponential backoff and full
//! jitter, bounded in attempts and in time.

use crate::ledger::{Ledger, Window};
use roster_runtime::types::ProviderError;
use roster_runtime::CallError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Keeps a provider's operations within its rate limit, spending the budget exactly: the
/// vendor counts operations in any window of `per`, so the first `operations` go at once and
/// each later one goes when a turn has counted for a whole (padded) window since it finished —
/// every window full, none over (`Window::take`, the rule; `crate::ledger` says why a turn
/// counts to its finish, not from its send). A back-off (after "too many requests") holds every
/// turn until it ends. The window is kept in this process, or in a `Ledger` file every
/// process reaching the same tenant shares (`Pacer::shared`).
pub struct Pacer {
    /// Operations per padded window; `None` does not pace.
    limit: Option<(u32, Duration)>,
    window: Backing,
    /// The next turn's id.
    ids: AtomicU64,
}

enum Backing {
    /// In this process: times in milliseconds since `epoch` (tokio's clock, so tests can pause it).
    Memory {
        window: Mutex<Window>,
        epoch: Instant,
    },
    /// In the tenant's ledger file.
    Shared(Ledger),
}

/// A turn given by [`Pacer::wait`]: it counts against the window until a window after it is
/// dropped, so hold it until the operation's answer is in (or the operation is abandoned).
#[must_use = "a turn counts until it is dropped: hold it across the operation"]
struct Turn<'a> {
    pacer: &'a Pacer,
    id: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        match &self.pacer.window {
            Backing::Memory { window, epoch } => window.lock().unwrap().finish(
                epoch.elapsed().as_millis() as u64,
                std::process::id(),
                self.id,
            ),
            // A ledger that cannot be written now leaves the turn in flight: it keeps its place
            // (slower, never over) until this process ends (`Window::end_orphans`).
            Backing::Shared(ledger) => {
                let _ = ledger.finish(self.id);
            }
        }
    }
}

/// The window a pacer keeps to: the vendor's, widened by a margin so that the clocks' skew
/// never makes a window of the vendor's hold one operation too many: 1 % of the window, and at
/// least 30 ms (which matters only for short windows: a minute gets 0.6 s).
fn padded_window(per: Duration) -> Duration {
    per + per.mul_f64(0.01).max(Duration::from_millis(30))
}

impl Pacer {
    /// A pacer for `operations` per `per`, kept in this process; `None` does not pace.
    pub(crate) fn new(rate: Option<(u32, Duration)>) -> Pacer {
        let limit = rate
            .filter(|(ops, _)| *ops > 0)
            .map(|(ops, per)| (ops, padded_window(per)));
        Pacer {
            limit,
            window: Backing::Memory {
                window: Mutex::new(Window::default()),
                epoch: Instant::now(),
            },
            ids: AtomicU64::new(0),
        }
    }

    /// A pacer for `operations` per `per` whose window is the ledger at `path`, shared with every
    /// process that opens it (see [`crate::ledger`]).
    fn shared(operations: u32, per: Duration, path: &std::path::Path) -> std::io::Result<Pacer> {
        let limit = (operations.max(1), padded_window(per));
        Ok(Pacer {
            limit: Some(limit),
            window: Backing::Shared(Ledger::open(path, limit.0, limit.1)?),
            ids: AtomicU64::new(0),
        })
    }
    /// The pacer for `rate` of the tenant a component named `component` reaches at `hosts`:
    /// shared through the tenant's ledger under the machine's component cache (`pacing/`), so
    /// every `roster` command and Terraform provider process reaching it keeps one window; kept
    /// in this process when there is no cache directory (no `ROSTER_CACHE_DIR`, `XDG_CACHE_HOME`
    /// or `HOME`) or no rate. Returns the ledger's path with an error opening it.
    pub fn for_tenant(
        rate: Option<(u32, Duration)>,
        component: &str,
        hosts: &[String],
    ) -> Result<Pacer, (std::path::PathBuf, std::io::Error)> {
        match (rate, roster_runtime::ComponentCache::default_dir()) {
            (Some((ops, per)), Some(cache)) if ops > 0 => {
                // One tenant: the same component name and the same hosts.
                let key = format!("{component}\n{}", hosts.join("\n"));
                let path = Ledger::path_for(&cache.join("pacing"), &key);
                Pacer::shared(ops, per, &path).map_err(|e| (path, e))
            }
            _ => Ok(Pacer::new(rate)),
        }
    }

    /// The average spacing of operations at the limit (zero when not paced): what a
    /// "too many requests" without Retry-After waits, at least.
    fn interval(&self) -> Duration {
        self.limit
            .map(|(ops, window)| window / ops)
            .unwrap_or_default()
    }

    /// How long `n` operations take at the limit, from the first to the last one's start:
    /// `(ceil(n / operations) - 1)` padded windows.
    pub(crate) fn duration_of(&self, n: usize) -> Duration {
        match self.limit {
            Some((ops, window)) if n > 0 => window * (n.div_ceil(ops as usize) - 1) as u32,
            _ => Duration::ZERO,
        }
    }

    /// Waits for this operation's turn (and out any back-off, paced or not); the turn counts
    /// until it is dropped. A ledger that cannot be read or written is an error: no turn given.
    async fn wait(&self) -> std::io::Result<Turn<'_>> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        match &self.window {
            Backing::Shared(ledger) => ledger.turn(id).await?,
            Backing::Memory { window, epoch } => {
                let (limit, window_ms) = self
                    .limit
                    .map_or((u32::MAX, 0), |(ops, w)| (ops, w.as_millis() as u64));
                loop {
                    let wait = {
                        let now = epoch.elapsed().as_millis() as u64;
                        match window.lock().unwrap().take(
                            now,
                            limit,
                            window_ms,
                            std::process::id(),
                            id,
                        ) {
                            Ok(()) => break,
                            Err(ms) => ms,
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        Ok(Turn { pacer: self, id })
    }

    /// Holds every turn back until `delay` from now (after the vendor said "too many requests").
    fn back_off(&self, delay: Duration) -> std::io::Result<()> {
        match &self.window {
            Backing::Shared(ledger) => ledger.back_off(delay),
            Backing::Memory { window, epoch } => {
                let until = (epoch.elapsed() + delay).as_millis() as u64;
                let mut w = window.lock().unwrap();
                w.not_before = w.not_before.max(until);
                Ok(())
            }
        }
    }
}

/// Bounds on retrying transient errors.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts for an unavailable vendor, the first included.
    pub(crate) max_attempts: u32,
    /// First backoff ceiling.
    pub(crate) base: Duration,
    /// Largest backoff ceiling.
    pub(crate) cap: Duration,
    /// Total time after which no new attempt starts.
    pub(crate) max_elapsed: Duration,
    /// Rate-limited answers tolerated for one operation.
    pub(crate) max_rate_limited: u32,
    /// The longest single wait a vendor may ask for; a longer Retry-After fails the operation.
    pub(crate) max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(300),
            max_rate_limited: 30,
            max_wait: Duration::from_secs(120),
        }
    }
}

/// Whether an error may go away by itself.
pub(crate) fn is_transient(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Provider(ProviderError::Unavailable(_) | ProviderError::RateLimited(_))
            | CallError::Deadline(_)
    )
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
pub async fn with_retry<T, F, Fut, B, BFut>(
    pacer: &Pacer,
    policy: &RetryPolicy,
    on_wait: OnWait<'_>,
    mut op: F,
    mut before_retry: B,
) -> (Result<T, CallError>, Retries)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
    B: FnMut() -> BFut,
    BFut: Future<Output = Result<Option<T>, CallError>>,
{
    let started = Instant::now();
    let mut retries = Retries::default();
    let mut attempt = 0u32;
    let ledger =
        |e: std::io::Error| CallError::Host(anyhow::anyhow!("the shared pacing ledger: {e}"));
    loop {
        let turn = match pacer.wait().await {
            Ok(turn) => turn,
            Err(e) => return (Err(ledger(e)), retries),
        };
        let answer = op().await;
        drop(turn);
        let error = match answer {
            Ok(v) => return (Ok(v), retries),
            Err(e) => e,
        };
        let elapsed = started.elapsed();
        match &error {
            CallError::Provider(ProviderError::RateLimited(r))
                if retries.rate_limited < policy.max_rate_limited =>
            {
                let delay = r
                    .retry_after_ms
                    .map(Duration::from_millis)
                    .unwrap_or(pacer.interval().max(Duration::from_secs(1)));
                if let Some(refusal) = wait_refusal(delay, elapsed, policy) {
                    let message = format!("{refusal} ({})", r.message);
                    return (
                        Err(CallError::Provider(ProviderError::RateLimited(
                            roster_runtime::types::RateLimitedError {
                                retry_after_ms: r.retry_after_ms,
                                message,
                            },
                        ))),
                        retries,
                    );
                }
                retries.rate_limited += 1;
                on_wait(delay, "rate limited: waiting the vendor's Retry-After");
                if let Err(e) = pacer.back_off(delay) {
                    return (Err(ledger(e)), retries);
                }
            }
            e if is_transient(e)
                && attempt + 1 < policy.max_attempts
                && elapsed < policy.max_elapsed =>
            {
                attempt += 1;
                retries.unavailable += 1;
                let ceiling = policy
                    .base
                    .saturating_mul(1 << attempt.min(16))
                    .min(policy.cap);
                let delay = ceiling.mul_f64(jitter());
                on_wait(delay, "unavailable: backing off before a retry");
                tokio::time::sleep(delay).await;
                // The read `before_retry` makes takes a turn of its own.
                let turn = match pacer.wait().await {
                    Ok(turn) => turn,
                    Err(e) => return (Err(ledger(e)), retries),
                };
                let read = before_retry().await;
                drop(turn);
                match read {
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
fn wait_refusal(delay: Duration, elapsed: Duration, policy: &RetryPolicy) -> Option<String> {
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
pub(crate) fn no_wait_report(_: Duration, _: &str) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_window_is_padded_for_jitter() {
        assert_eq!(
            padded_window(Duration::from_secs(60)),
            Duration::from_millis(60_600),
            "1 % of a minute"
        );
        assert_eq!(
            padded_window(Duration::from_millis(600)),
            Duration::from_millis(630),
            "at least 30 ms"
        );
        assert_eq!(
            Pacer::new(Some((60, Duration::from_secs(60)))).interval(),
            Duration::from_millis(1010)
        );
        assert_eq!(
            Pacer::new(Some((60, Duration::from_millis(600)))).interval(),
            Duration::from_micros(10_500)
        );
        assert_eq!(Pacer::new(None).interval(), Duration::ZERO);
    }

    /// Start times of `n` turns taken one after another (virtual time).
    async fn turns(p: &Pacer, n: usize) -> Vec<Duration> {
        let t = Instant::now();
        let mut out = Vec::new();
        for _ in 0..n {
            drop(p.wait().await.unwrap());
            out.push(t.elapsed());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_window_goes_at_once_and_every_window_stays_full_never_over() {
        let p = Pacer::new(Some((60, Duration::from_secs(60))));
        let window = padded_window(Duration::from_secs(60));
        let at = turns(&p, 150).await;
        assert!(
            at[..60].iter().all(|t| *t < Duration::from_millis(1)),
            "the first window's allowance at once"
        );
        assert_eq!(
            (at[60], at[119], at[120], at[149]),
            (window, window, window * 2, window * 2)
        );
        // The vendor's rule, over every window that starts at a turn: at most 60 in it.
        for (i, start) in at.iter().enumerate() {
            let within = at[i..].iter().take_while(|t| **t < *start + window).count();
            assert!(within <= 60, "{within} turns in the window from {start:?}");
        }
        assert_eq!(
            p.duration_of(150),
            window * 2,
            "150 operations take two windows after the first"
        );
        assert_eq!(
            (p.duration_of(60), p.duration_of(61), p.duration_of(0)),
            (Duration::ZERO, window, Duration::ZERO)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_back_off_holds_every_turn_and_the_window_still_counts() {
        let p = Pacer::new(Some((3, Duration::from_secs(10))));
        let window = padded_window(Duration::from_secs(10));
        turns(&p, 3).await;
        p.back_off(Duration::from_secs(20)).unwrap();
        let at = turns(&p, 4).await;
        assert_eq!(
            at[0],
            Duration::from_secs(20),
            "held until the back-off ends"
        );
        assert_eq!(
            at[3],
            Duration::from_secs(20) + window,
            "the fourth after a back-off still waits for its window"
        );
        let unpaced = Pacer::new(None);
        assert!(turns(&unpaced, 100).await.iter().all(|t| t.is_zero()));
    }

    /// The fix for the 429 a loaded CI machine met: a turn counts until a window after its
    /// answer, not after its send, so however long an operation takes to reach the vendor it is
    /// still counted when the next one goes.
    #[tokio::test(start_paused = true)]
    async fn a_turn_counts_until_a_window_after_its_answer() {
        let p = Pacer::new(Some((2, Duration::from_secs(10))));
        let window = padded_window(Duration::from_secs(10));
        let t = Instant::now();
        let a = p.wait().await.unwrap();
        let b = p.wait().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(a);
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(b);
        let _c = p.wait().await.unwrap();
        assert_eq!(
            t.elapsed(),
            Duration::from_secs(5) + window,
            "a window after the first answer, not after its send"
        );
        drop(_c);
        let _d = p.wait().await.unwrap();
        assert_eq!(
            t.elapsed(),
            Duration::from_secs(8) + window,
            "then a window after the second"
        );
    }

    #[tokio::test]
    async fn retries_unavailable_then_gives_up() {
        let p = Pacer::new(None);
        let policy = RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        let calls = AtomicU32::new(0);
        let (r, retries) = with_retry(
            &p,
            &policy,
            &no_wait_report,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(CallError::Provider(ProviderError::Unavailable(
                    "down".into(),
                )))
            },
            || async { Ok(None) },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(retries.unavailable, 4);
        let (r, _) = with_retry(
            &p,
            &policy,
            &no_wait_report,
            || async { Err::<(), _>(CallError::Provider(ProviderError::Forbidden("no".into()))) },
            || async { Ok(None) },
        )
        .await;
        assert!(
            matches!(r, Err(CallError::Provider(ProviderError::Forbidden(_)))),
            "permanent errors are not retried"
        );
    }

    #[tokio::test]
    async fn a_read_before_retry_can_end_it() {
        let p = Pacer::new(None);
        let policy = RetryPolicy {
            base: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let (r, _) = with_retry(
            &p,
            &policy,
            &no_wait_report,
            || async {
                Err::<u8, _>(CallError::Provider(ProviderError::Unavailable(
                    "timeout".into(),
                )))
            },
            || async { Ok(Some(7)) },
        )
        .await;
        assert_eq!(r.unwrap(), 7);
    }

    fn limited(ms: u64) -> CallError {
        CallError::Provider(ProviderError::RateLimited(
            roster_runtime::types::RateLimitedError {
                retry_after_ms: Some(ms),
                message: "slow down".into(),
            },
        ))
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
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "two refusals, then the answer: no hammering"
        );
        assert_eq!(retries.rate_limited, 2);
        assert!(
            t.elapsed() >= Duration::from_secs(4),
            "waited both Retry-Afters: {:?}",
            t.elapsed()
        );
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
        assert!(
            e.contains("asked to wait 86400 s") && e.contains("max_retry_wait_secs"),
            "{e}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "no wait at all: {:?}",
            t.elapsed()
        );
    }

    /// Waits count against the operation's total budget.
    #[test]
    fn waits_are_bounded_by_the_budget() {
        let policy = RetryPolicy::default();
        assert_eq!(
            wait_refusal(Duration::from_secs(30), Duration::ZERO, &policy),
            None
        );
        assert!(
            wait_refusal(Duration::from_secs(121), Duration::ZERO, &policy)
                .unwrap()
                .contains("longest wait allowed")
        );
        assert!(
            wait_refusal(Duration::from_secs(100), Duration::from_secs(250), &policy)
                .unwrap()
                .contains("retry budget of 300 s")
        );
        assert_eq!(
            wait_refusal(Duration::ZERO, Duration::from_secs(10), &policy),
            None,
            "a date in the past (0) is now"
        );
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
                Err::<u8, _>(CallError::Provider(ProviderError::Unavailable(
                    "timeout".into(),
                )))
            },
            || async {
                Err(CallError::Provider(ProviderError::Unavailable(
                    "read failed".into(),
                )))
            },
        )
        .await;
        assert!(r.unwrap_err().to_string().contains("read failed"));
        assert_eq!(
            sends.load(Ordering::SeqCst),
            1,
            "sent once, never again without a successful read"
        );
    }
}
