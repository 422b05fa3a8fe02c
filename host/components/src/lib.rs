//! The provider components built from `guest/` for wasm32-wasip2 (by this crate's build
//! script): the built-in vendor components, embedded, and the test programs, by path.
#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// A provider component that ships inside the `roster` binary.
pub struct Builtin {
    /// The name a roster file uses for it (`nimbus`, `symbee`).
    pub name: &'static str,
    /// Where the build left it.
    pub path: &'static str,
    /// The component.
    pub wasm: &'static [u8],
}

/// The built-in component called `name`.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|b| b.name == name).map(|b| b.wasm)
}
