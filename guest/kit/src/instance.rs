//! Per-instance state. A component instance is single-threaded and lives as long as the host
//! keeps it; what a vendor keeps between calls (its parsed config, a cached token or key) lives
//! here, one value per type, created with `Default` on first use:
//!
//! ```text
//! #[derive(Default)]
//! struct Nimbus { config: Option<Config>, oauth: Option<oauth::Client> }
//! instance::with(|s: &mut Nimbus| s.config.take());
//! ```

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    static STATES: RefCell<HashMap<TypeId, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

/// Runs `f` with this instance's `T` (made with `Default` the first time). Calls do not nest
/// for one `T`.
pub fn with<T: Default + 'static, R>(f: impl FnOnce(&mut T) -> R) -> R {
    // Taken out while `f` runs, so `f` may use the state of other types.
    let mut state: Box<dyn Any> = STATES
        .with(|s| s.borrow_mut().remove(&TypeId::of::<T>()))
        .unwrap_or_else(|| Box::new(T::default()));
    let result = f(state.downcast_mut::<T>().expect("keyed by its type"));
    STATES.with(|s| s.borrow_mut().insert(TypeId::of::<T>(), state));
    result
}

#[cfg(test)]
mod tests {
    #[derive(Default)]
    struct Counter(u32);

    #[test]
    fn state_persists_per_type() {
        super::with(|c: &mut Counter| c.0 += 1);
        assert_eq!(super::with(|c: &mut Counter| c.0), 1);
        assert_eq!(super::with(|s: &mut String| s.len()), 0);
    }
}
