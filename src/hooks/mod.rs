//! Agent hook integration: the wire protocol spoken by `sessions hook …`
//! ([`protocol`]) and the merging of our hook entries into the agents'
//! settings files for `sessions hooks install` ([`install`]).
//!
//! Wire facts (field names, timeout units, event names) follow
//! `shared/HOOKS.md`; keep the two in step.

pub mod context;
pub mod install;
pub mod instructions;
pub mod memo;
pub mod protocol;
pub mod stdin;

pub use install::{
    DesiredHook, InstallError, Plan, desired_hooks, notes, plan_install, plan_uninstall,
    settings_path,
};
pub use protocol::{
    Agent, CONTEXT_CAP, HookEvent, HookInput, ParseAgentError, SessionStartOutput, StartSource,
    cap_context,
};
