//! Bounds on the code a component asks the host to compile. Compiling is the
//! one step no deadline can interrupt, and its time grows with a function's
//! size (about 4 s for a 256 KiB function here, while a whole bundled adapter,
//! 1,800 functions and 1 MB of code, takes 1.2 s): a component over these
//! bounds is refused before the compiler sees it.

use anyhow::{Result, bail};
use wasmparser::{Parser, Payload};

/// The largest function body (the bundled adapters' largest is 45 KB).
pub(crate) const MAX_FUNCTION_BYTES: usize = 256 * 1024;
/// All function bodies of all core modules together (theirs: about 1 MB).
pub(crate) const MAX_CODE_BYTES: usize = 8 * 1024 * 1024;
/// Functions with a body (theirs: about 1,800).
pub(crate) const MAX_FUNCTIONS: usize = 50_000;

/// Refuses a component whose code is over the bounds; a component wasmparser
/// cannot read is left to the compiler, which says why.
pub(crate) fn check(wasm: &[u8]) -> Result<()> {
    let (mut functions, mut code) = (0usize, 0usize);
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else { continue };
        let size = body.range().len();
        functions += 1;
        code += size;
        if size > MAX_FUNCTION_BYTES {
            bail!("function {functions} has a body of {size} bytes, over the limit of {MAX_FUNCTION_BYTES} bytes");
        }
        if code > MAX_CODE_BYTES {
            bail!("its functions hold more than {MAX_CODE_BYTES} bytes of code, the limit");
        }
        if functions > MAX_FUNCTIONS {
            bail!("it has more than {MAX_FUNCTIONS} functions, the limit");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module with `bodies` functions of about `size` bytes each.
    fn module(bodies: usize, size: usize) -> Vec<u8> {
        use wasm_encoder::{CodeSection, Function, FunctionSection, Instruction, Module, TypeSection};
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut functions = FunctionSection::new();
        let mut code = CodeSection::new();
        for _ in 0..bodies {
            functions.function(0);
            let mut f = Function::new([]);
            for _ in 0..size {
                f.instruction(&Instruction::Nop);
            }
            f.instruction(&Instruction::End);
            code.function(&f);
        }
        let mut m = Module::new();
        m.section(&types).section(&functions).section(&code);
        m.finish()
    }

    #[test]
    fn ordinary_code_passes() {
        check(&module(100, 1000)).unwrap();
    }

    #[test]
    fn a_function_over_the_limit_is_refused_and_named() {
        let e = check(&module(3, MAX_FUNCTION_BYTES + 1)).unwrap_err().to_string();
        assert!(e.contains("function 1 has a body of") && e.contains("262144 bytes"), "{e}");
    }

    #[test]
    fn too_much_code_in_all_is_refused() {
        let e = check(&module(40, MAX_FUNCTION_BYTES - 10)).unwrap_err().to_string();
        assert!(e.contains("8388608 bytes of code"), "{e}");
    }
}
