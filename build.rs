//! Build script: links the `sessions` binary at a fixed address (not as a position-independent
//! executable) on Linux with glibc.
//!
//! Every command, and every hook on an agent's critical path, starts this binary afresh. As a
//! PIE, the dynamic loader first applies its ~16,000 relative relocations, touching every page
//! of `.data.rel.ro`: `sessions --version` took 1.79–1.85 ms as a PIE and 1.55–1.64 ms linked
//! so (`perf stat -r 300`, quiet machine; 1.76 → 1.29 ms on a loaded one). A fixed-address executable has them resolved at link time. What is given
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
