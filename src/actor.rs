//! Who a Session Log line is by when the command does not say: the default actor.

/// `$SESSIONS_ACTOR`, else `$USER`, else `user`.
pub fn default_actor() -> String {
    ["SESSIONS_ACTOR", "USER"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "user".into())
}
