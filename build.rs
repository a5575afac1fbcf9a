//! Build script: links the `sessions` binary at a fixed address (not as a position-independent
//! executable) on Linux with glibc.
//!
//! Every command, and every hook on an agent's critical path, starts this binary afresh. As a
//! PIE, the dynamic loader first applies its ~16,000 relative relocations, touching every page
//! of `.data.rel.ro`: about 0.4 ms of a 1.3 ms `sessions --version` here (see
//! benches/README.md). A fixed-address executable has them resolved at link time. What is given
//! up is the randomised load address of the binary itself (shared libraries, stack and heap stay
//! randomised); `sessions` parses untrusted text in safe Rust only. Only binaries are linked so
//! (`rustc-link-arg-bins`): proc-macro and test crates are untouched.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
