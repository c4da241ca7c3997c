//! Hostile components that a Rust adapter cannot express, built from WAT:
//! one that declares many linear memories, and one with a huge function.
//!
//! Each is a real component of the `adapter` world (WIT 0.2.0): its core
//! module is `wit-component`'s dummy for the world (every export traps), with
//! the hostile part added to its text, then encoded as a component. The host
//! type-checks and compiles it like any adapter, so the limits under test are
//! the ones a real attacker meets.

use anyhow::{Context, Result};
use std::path::Path;
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{ManglingAndAbi, Resolve};

/// The WIT version the components are built against.
pub const WIT_VERSION: &str = "0.2.0";

/// A component that instantiates `count` more core modules, each with one
/// memory of `pages` 64 KiB pages, beside its own (a core module may hold
/// one memory: more come from more instances).
pub fn many_memories(wit_root: &Path, count: usize, pages: u32) -> Result<Vec<u8>> {
    let extra: String = (0..count)
        .map(|i| format!("(core module $extra{i} (memory {pages}))\n(core instance (instantiate $extra{i}))\n"))
        .collect();
    add_to_component(&component(wit_root, "")?, &extra)
}

/// A component with one function of about `instructions` instructions
/// (compiling it takes the compiler a while; it is never called).
pub fn huge_function(wit_root: &Path, instructions: usize) -> Result<Vec<u8>> {
    let mut body = String::with_capacity(instructions * 24 + 64);
    body.push_str("(func $huge (param i32) (result i32)\n");
    body.push_str("local.get 0\n");
    for i in 0..instructions / 2 {
        body.push_str(&format!("i32.const {i}\ni32.add\n"));
    }
    body.push_str(")\n(export \"huge\" (func $huge))\n");
    component(wit_root, &body)
}

/// A manifest for one of these components under `platform` (api-key auth,
/// an allow-list it never uses).
pub fn manifest(platform: &str) -> String {
    format!(
        "platform = {platform:?}\ndisplay_name = \"WAT fixture ({platform})\"\nversion = \"0.1.0\"\n\
         wit_version = {WIT_VERSION:?}\nallowed_hosts = [\"https://api.testcrm.example\"]\n\n\
         [auth]\nkind = \"api-key\"\nheader = \"x-api-key\"\nvalue = \"{{api_key}}\"\n"
    )
}

/// `component` with `extra` WAT fields added at its top level.
fn add_to_component(component: &[u8], extra: &str) -> Result<Vec<u8>> {
    let text = wasmprinter::print_bytes(component)?;
    wat::parse_str(insert_before_end(&text, extra)?).context("the hostile component's text")
}

fn insert_before_end(text: &str, extra: &str) -> Result<String> {
    let end = text.rfind(')').context("a module's text ends with `)`")?;
    Ok(format!("{}{extra}{}", &text[..end], &text[end..]))
}

/// The world's dummy core module with `extra` WAT fields added, as a component.
fn component(wit_root: &Path, extra: &str) -> Result<Vec<u8>> {
    let mut resolve = Resolve::default();
    let wit_dir = wit_root.join(format!("since_v{WIT_VERSION}"));
    let (package, _) = resolve.push_dir(&wit_dir).with_context(|| format!("reading {}", wit_dir.display()))?;
    let world = resolve.select_world(&[package], Some("adapter"))?;
    let dummy = wit_component::dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    let text = wasmprinter::print_bytes(&dummy)?;
    let mut module = wat::parse_str(insert_before_end(&text, extra)?).context("the hostile module's text")?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)?;
    ComponentEncoder::default().validate(true).module(&module)?.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit_root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")
    }

    #[test]
    fn the_components_are_valid_and_declare_what_they_say() {
        let memories = many_memories(&wit_root(), 9, 1).unwrap();
        let declared = wasmprinter::print_bytes(&memories).unwrap().matches("(memory ").count();
        assert!(declared >= 10, "nine extra memories beside the ABI's: {declared}");
        let huge = huge_function(&wit_root(), 10_000).unwrap();
        assert!(huge.len() > 20_000, "{} bytes", huge.len());
    }
}
