//! Host bindings for the `roster:provider` world (generated; private to this crate).
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "roster:provider/provider-core",
    imports: { default: async },
    additional_derives: [serde::Serialize, PartialEq],
    exports: { default: async },
});
