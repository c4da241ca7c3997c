//! `switchboard:crm@0.2.0` (`wit/since_v0.2.0`), the newest world. Its types
//! are the host's internal model: the API and the host's imports
//! ([`super::super::host_state`]) speak them, and older worlds are adapted to
//! them ([`super::v0_1_0`]).

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "adapter",
    imports: { default: async },
    exports: { default: async },
});
