//! The fuzz target: random bytes and mutated session files through the parser, every rule,
//! `validate --fix`'s repairs and every edit op, at library level. Nothing may panic, and
//! every edit that succeeds must leave a file Markdown reads as intended: no code fence or
//! comment left open that was not open before, no `##` section lost, no frontmatter broken
//! that parsed before, and an idempotent op applied twice changes nothing the second time.
//!
//! `SESSIONS_FUZZ_CASES` sets the number of cases per target (default 256 from a fixed seed,
//! a few seconds); `SESSIONS_FUZZ_SEED` replays a seed. See `docs/fuzzing.md`.

use crate::edit_support;

use chrono::{DateTime, Utc};
use edit_support::{session_file, tricky_string};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sessions::session::document::unclosed_at;
use sessions::session::edit::{Op, Scalar, Seg, apply, key_path};
use sessions::session::{Document, fix, rules};

/// The short run (no `SESSIONS_FUZZ_CASES`) uses a fixed seed, so `cargo test` is
/// deterministic; a long run explores from a random seed (or `SESSIONS_FUZZ_SEED`), printed on
/// failure by proptest.
fn config() -> ProptestConfig {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = env("SESSIONS_FUZZ_CASES");
    let rng_seed = match (env("SESSIONS_FUZZ_SEED"), cases) {
        (Some(seed), _) => RngSeed::Fixed(seed),
        (None, Some(_)) => RngSeed::Random,
        (None, None) => RngSeed::Fixed(0x5e55_1015),
    };
    ProptestConfig {
        cases: cases.map_or(256, |c| c as u32),
        rng_seed,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn now() -> DateTime<Utc> {
    "2026-01-02T03:04:05Z".parse().unwrap()
}

const SECTIONS: [&str; 7] = [
    "Context",
    "Current State",
    "Next Steps",
    "Session Log",
    "Notes",
    "Files Modified",
    "current state",
];

fn section_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(SECTIONS.to_vec()).prop_map(String::from),
        1 => "[A-Za-z ]{1,12}",
    ]
}

/// Text for sections and log entries: tricky strings, plus lines that open or close
/// structure (fences, comments, headings, conflict markers).
fn body_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        3 => tricky_string(),
        1 => prop::sample::select(vec![
            "```", "~~~", "```sh", "<!--", "-->", "## Heading", "# Top", "### sub", "##\u{a0}",
            "- [ ] item", "- [x] done", "<<<<<<< HEAD", "=======", ">>>>>>> b", "<div>", "",
            "    ```", "> quote", "\t## tab",
        ])
        .prop_map(String::from),
    ];
    prop::collection::vec(line, 0..5).prop_map(|l| l.join("\n"))
}

fn op() -> impl Strategy<Value = Op> {
    let path = prop::sample::select(vec![
        vec!["session", "title"],
        vec!["session", "status"],
        vec!["session", "linear_issue"],
        vec!["session", "last_updated"],
        vec!["orchestration", "current_task"],
        vec!["x-new", "key"],
    ]);
    prop_oneof![
        (path, tricky_string()).prop_map(|(p, v)| Op::Set {
            path: key_path(&p),
            value: Scalar::str(v),
        }),
        (0..3usize, tricky_string()).prop_map(|(i, v)| Op::Set {
            path: vec![
                Seg::Key("orchestration".into()),
                Seg::Key("spawned_agents".into()),
                Seg::Index(i),
                Seg::Key("status".into()),
            ],
            value: Scalar::Plain(if v.is_empty() {
                "x".into()
            } else {
                "completed".into()
            }),
        }),
        (section_name(), body_text()).prop_map(|(name, text)| Op::SetSection { name, text }),
        (section_name(), body_text()).prop_map(|(name, text)| Op::AppendSection { name, text }),
        section_name().prop_map(|name| Op::EnsureSection { name }),
        section_name().prop_map(|name| Op::PromoteHeading { name }),
        (tricky_string(), any::<bool>()).prop_map(|(item, checked)| Op::Check { item, checked }),
        (tricky_string(), body_text()).prop_map(|(actor, message)| Op::Log {
            at: now(),
            actor: if actor.trim().is_empty() {
                "a".into()
            } else {
                actor.replace(['\n', '\r'], " ")
            },
            message,
        }),
        (tricky_string(), tricky_string()).prop_map(|(agent, task)| Op::Push {
            path: key_path(&["orchestration", "spawned_agents"]),
            entry: vec![
                ("agent".into(), Scalar::str(agent)),
                ("task".into(), Scalar::str(task)),
            ],
        }),
        Just(Op::RenameKey {
            path: vec![
                Seg::Key("orchestration".into()),
                Seg::Key("spawned_agents".into()),
                Seg::Index(0),
            ],
            from: "type".into(),
            to: "agent".into(),
        }),
    ]
}

/// Byte-level damage to a valid file: delete, duplicate or insert a span, or cut it short.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, usize),
    Insert(prop::sample::Index, String),
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1..40usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<prop::sample::Index>(), 1..80usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        (any::<prop::sample::Index>(), body_text()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(mut s: String, muts: &[Mutation]) -> String {
    for m in muts {
        if s.is_empty() {
            break;
        }
        match m {
            Mutation::Delete(i, n) => {
                let a = floor(&s, i.index(s.len()));
                let b = floor(&s, a + n);
                s.replace_range(a..b, "");
            }
            Mutation::Duplicate(i, n) => {
                let a = floor(&s, i.index(s.len()));
                let b = floor(&s, a + n);
                let dup = s[a..b].to_string();
                s.insert_str(b, &dup);
            }
            Mutation::Insert(i, text) => {
                let a = floor(&s, i.index(s.len()));
                s.insert_str(a, text);
            }
            Mutation::Truncate(i) => {
                let a = floor(&s, i.index(s.len()));
                s.truncate(a);
            }
        }
    }
    s
}

fn sections(doc: &Document) -> Vec<String> {
    doc.sections
        .iter()
        .map(|s| doc.text(&s.heading.text).to_string())
        .collect()
}

/// Parse, check, fix and apply every op to `src`; check what each successful edit promises.
fn exercise(src: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let doc = Document::parse(src);
    let _ = rules::check(&doc, Some("20251204-143000-fuzz.md"), now());
    let _ = rules::check(&doc, Some("not a name.md"), now());
    let fixes: Vec<Op> = fix::fixes(&doc, now()).into_iter().map(|f| f.op).collect();
    let _ = apply(src, &fixes, now());
    let open_before = unclosed_at(src, doc.body_start).is_some();
    let yaml_before = doc.yaml().is_some();
    let before = sections(&doc);
    for op in ops {
        let Ok(Some(out)) = apply(src, std::slice::from_ref(op), now()) else {
            continue;
        };
        let after_doc = Document::parse(&out);
        let _ = rules::check(&after_doc, None, now());
        if !open_before {
            prop_assert!(
                unclosed_at(&out, after_doc.body_start).is_none(),
                "{op:?} left a block open:\n{src}\n---\n{out}"
            );
        }
        if yaml_before {
            prop_assert!(
                after_doc.yaml().is_some(),
                "{op:?} broke the frontmatter:\n{out}"
            );
        }
        let after = sections(&after_doc);
        // (Case-insensitively: `PromoteHeading` may change a heading's case, by design.)
        for name in &before {
            prop_assert!(
                after.iter().any(|a| a.eq_ignore_ascii_case(name)),
                "{op:?} lost `## {name}`:\n{src}\n---\n{out}"
            );
        }
        // (Setting `last_updated` is not: every change bumps it to now.)
        let idempotent = match op {
            Op::Set { path, .. } => !path.contains(&Seg::Key("last_updated".into())),
            Op::SetSection { .. } | Op::EnsureSection { .. } | Op::Check { .. } => true,
            _ => false,
        };
        if idempotent && let Ok(again) = apply(&out, std::slice::from_ref(op), now()) {
            prop_assert!(again.is_none(), "{op:?} is not idempotent:\n{out}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1500), ops in prop::collection::vec(op(), 1..4)) {
        exercise(&String::from_utf8_lossy(&bytes), &ops)?;
    }

    #[test]
    fn damaged_session_files(g in session_file(), muts in prop::collection::vec(mutation(), 0..4), ops in prop::collection::vec(op(), 1..6)) {
        exercise(&mutate(g.text, &muts), &ops)?;
    }

    #[test]
    fn well_formed_session_files(g in session_file(), ops in prop::collection::vec(op(), 1..8)) {
        exercise(&g.text, &ops)?;
    }
}
