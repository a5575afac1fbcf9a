//! The domain: a session file parsed into spans, its rules, and lossless edits on it.
//! Nothing in here prints or reaches into the command layer.

pub mod document;
pub mod edit;
pub mod fix;
pub mod name;
pub mod rules;
pub mod template;
pub mod yaml;

pub use document::Document;
