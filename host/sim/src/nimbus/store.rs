//! The sandbox's in-memory state ([`NimbusSim`]): tokens, rate windows, counters; its Rust API.

use super::NimbusSeed;
use crate::entra::SeenJtis;
use crate::rate::Window;
use crate::server::{expiry, serve, Running, ServerLimits};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Claims of an issued token.
#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tenant_id: Option<String>,
    pub(super) app_id: Option<String>,
    pub(super) roles: Vec<String>,
    pub(super) authenticated: bool,
    pub(super) expires: Instant,
}

/// A token with chosen claims, minted by `POST /_sandbox/tokens/mint` (to reach the 401s a
/// real Entra token cannot produce: no tenant id, no app id, no authenticated user).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MintToken {
    /// `tid` claim.
    pub tenant_id: Option<String>,
    /// `appid` claim.
    pub app_id: Option<String>,
    /// `roles` claim.
    pub roles: Vec<String>,
    /// Lifetime in seconds (default 3599).
    pub expires_in: Option<u64>,
    /// False mints a token with no authenticated subject.
    pub unauthenticated: bool,
}

/// Counters a test or demo can assert on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Token requests answered 200.
    pub tokens_issued: u64,
    /// Token requests refused.
    pub token_errors: u64,
    /// API operations admitted by the rate limit.
    pub operations: u64,
    /// The admitted operations by route: `get`, `create`, `copy`, `delete`, `license-usage`.
    pub by_route: std::collections::BTreeMap<String, u64>,
    /// API operations answered 429.
    pub rate_limited: u64,
    /// API operations held back by the delay mode.
    pub delayed: u64,
    /// Faults injected (errors and drops).
    pub faults_injected: u64,
    /// Client assertions accepted, by kind (`certificate PS256`, `certificate RS256`,
    /// `federated <subject>`).
    pub client_assertions: std::collections::BTreeMap<String, u64>,
}

/// The sandbox's live state.
pub(super) struct State {
    pub(super) seed: NimbusSeed,
    pub(super) tokens: HashMap<String, Token>,
    pub(super) windows: HashMap<String, Window>,
    pub(super) stats: Stats,
    pub(super) issued: u64,
    pub(super) jtis: SeenJtis,
}

/// A Nimbus sandbox: its state, servable over HTTP, inspectable from Rust.
#[derive(Clone)]
pub struct NimbusSim {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) base_url: Arc<Mutex<String>>,
}

impl NimbusSim {
    /// A sandbox holding `seed` (not yet serving).
    pub fn new(seed: NimbusSeed) -> NimbusSim {
        NimbusSim {
            state: Arc::new(Mutex::new(State {
                seed,
                tokens: HashMap::new(),
                windows: HashMap::new(),
                stats: Stats::default(),
                issued: 0,
                jtis: SeenJtis::default(),
            })),
            base_url: Arc::new(Mutex::new(String::new())),
        }
    }

    /// Serves on `addr` (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<Running> {
        self.serve_with(addr, ServerLimits::default()).await
    }

    /// Serves on `addr` under `limits`.
    pub async fn serve_with(
        &self,
        addr: SocketAddr,
        limits: ServerLimits,
    ) -> std::io::Result<Running> {
        let running = serve(Arc::new(self.clone()), addr, limits).await?;
        *self.base_url.lock().unwrap() = running.url();
        Ok(running)
    }

    /// Replaces the whole state (tokens are dropped).
    pub fn reseed(&self, seed: NimbusSeed) {
        let mut s = self.state.lock().unwrap();
        s.seed = seed;
        s.tokens.clear();
        s.windows.clear();
    }

    /// Changes the state in place (tests, demo).
    pub fn update<R>(&self, f: impl FnOnce(&mut NimbusSeed) -> R) -> R {
        f(&mut self.state.lock().unwrap().seed)
    }

    /// The state as `GET /_sandbox/state` shows it.
    pub fn snapshot(&self) -> Value {
        let s = self.state.lock().unwrap();
        let mut seed = serde_json::to_value(&s.seed).expect("serializable");
        if let Some(tenants) = seed["entra"].as_array_mut() {
            for app in tenants
                .iter_mut()
                .flat_map(|t| t["apps"].as_array_mut().into_iter().flatten())
            {
                app["client_secret"] = json!("<redacted>");
            }
        }
        seed["stats"] = serde_json::to_value(&s.stats).expect("serializable");
        seed
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }

    /// Invalidates every issued token (as if all had expired).
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// Gives an app a new client secret; the old one stops working.
    pub fn rotate_secret(&self, client_id: &str, secret: &str) -> bool {
        let mut s = self.state.lock().unwrap();
        let app = s
            .seed
            .entra
            .iter_mut()
            .flat_map(|t| t.apps.iter_mut())
            .find(|a| a.client_id == client_id);
        match app {
            Some(a) => {
                a.client_secret = secret.into();
                true
            }
            None => false,
        }
    }

    /// Mints a token with the given claims.
    pub fn mint(&self, m: MintToken) -> String {
        let mut s = self.state.lock().unwrap();
        let token = Token {
            tenant_id: m.tenant_id,
            app_id: m.app_id,
            roles: m.roles,
            authenticated: !m.unauthenticated,
            expires: expiry(m.expires_in.unwrap_or(3599)),
        };
        s.issued += 1;
        let value = format!("sbx-minted-{}-{:x}", s.issued, rand_u64(s.issued));
        s.tokens.insert(value.clone(), token);
        value
    }
}

/// A cheap, non-cryptographic mix for token suffixes (tokens are sandbox data).
pub(super) fn rand_u64(n: u64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (n ^ t).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// Serves a Nimbus sandbox with `seed` on a free loopback port.
pub async fn start(seed: NimbusSeed) -> std::io::Result<(NimbusSim, Running)> {
    let sandbox = NimbusSim::new(seed);
    let running = sandbox.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    Ok((sandbox, running))
}

impl std::fmt::Debug for NimbusSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NimbusSim")
    }
}
