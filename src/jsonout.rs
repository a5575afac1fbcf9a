//! JSON as every command prints it, gh style: `--json` the whole view, `--json=FIELD,…` only
//! those fields (of the object, or of each object of an array; a wrong name is a usage error
//! that lists the valid ones), `--jq EXPR` the view filtered through jaq (a maintained jq
//! implementation; strings print raw, as `jq -r` and gh do). Pretty-printed on a terminal,
//! compact (one document per line) when piped. Commands build their serde view and hand it
//! here with the names of its fields; this module decides nothing about what a view holds,
//! and it is the only place that writes `--json` output.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::JsonArgs;
use crate::error::{Error, Result};

impl JsonArgs {
    /// Whether JSON is asked for (`--jq` implies it).
    pub fn on(&self) -> bool {
        self.json.is_some() || self.jq.is_some()
    }
}

/// Prints `view` as `args` ask: its `fields` (one list, or a view's and those it adds) are
/// the names `--json=…` may pick.
pub fn print<T: Serialize + ?Sized>(args: &JsonArgs, view: &T, fields: &[&[&str]]) -> Result<u8> {
    let fields: Vec<&str> = fields.concat();
    let value = serde_json::to_value(view)?;
    let value = match args
        .json
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        Some(list) => select(value, &parse_fields(list, &fields)?),
        None => value,
    };
    let out = match &args.jq {
        Some(expr) => jq(expr, &value)?,
        None => vec![Out::Json(value)],
    };
    let pretty = std::io::stdout().is_terminal();
    let mut text = String::new();
    for o in out {
        match o {
            Out::Raw(s) => text.push_str(&crate::terminal::json(s)),
            Out::Json(v) => text.push_str(&render(&v, pretty)?),
            Out::Text(s) => text.push_str(&crate::terminal::json(s)),
        }
        text.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::write(std::path::Path::new("<stdout>"), e))?;
    Ok(0)
}

/// The result of an action command (`new`, `spawn`, `send`, `wait`, `restart`) as `--json`
/// prints it: the whole value, in the same style as the views.
pub fn emit<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let whole = JsonArgs {
        json: Some(String::new()),
        jq: None,
    };
    print(&whole, value, &[]).map(drop)
}

/// One JSON document in the house style (pretty or compact), control characters escaped.
pub fn render(v: &Value, pretty: bool) -> Result<String> {
    let s = if pretty {
        serde_json::to_string_pretty(v)?
    } else {
        serde_json::to_string(v)?
    };
    Ok(crate::terminal::json(s))
}

/// The names of `--json=a,b`, each checked against the view's fields.
fn parse_fields<'a>(list: &'a str, fields: &[&str]) -> Result<Vec<&'a str>> {
    let mut picked = Vec::new();
    for f in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if !fields.contains(&f) {
            let hint = crate::suggest::one(f, fields)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "--json: unknown field `{f}`{hint}; the fields are: {}",
                fields.join(", ")
            )));
        }
        if !picked.contains(&f) {
            picked.push(f);
        }
    }
    Ok(picked)
}

/// Only `fields` of an object, or of each object of an array, in the order asked; a field a
/// value leaves out is `null`, so every item has the same shape.
fn select(v: Value, fields: &[&str]) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(|i| select(i, fields)).collect()),
        Value::Object(mut map) => {
            let mut out = Map::new();
            for f in fields {
                out.insert((*f).to_string(), map.remove(*f).unwrap_or(Value::Null));
            }
            Value::Object(out)
        }
        other => other,
    }
}

enum Out {
    /// A string result: printed without quotes.
    Raw(String),
    Json(Value),
    /// A value JSON cannot hold (jaq's byte strings, non-string keys), as jaq prints it.
    Text(String),
}

/// Runs `expr` on `input`; every problem (syntax, an unknown name, a runtime error) is a
/// usage error that names `--jq`.
fn jq(expr: &str, input: &Value) -> Result<Vec<Out>> {
    use jaq_core::load::{Arena, File, Loader};
    use jaq_core::{Compiler, Ctx, Vars, data};
    use jaq_json::Val;

    let bad = |what: String| Error::Usage(format!("--jq {what}"));
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: expr,
                path: (),
            },
        )
        .map_err(|errs| bad(load_error(expr, errs)))?;
    let filter = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let (name, what) = errs
                .into_iter()
                .flat_map(|(_, e)| e)
                .next()
                .map_or(("?", "name"), |(s, u)| (s, u.as_str()));
            bad(format!(
                "`{expr}`: undefined {what} `{name}` at column {}",
                column(expr, name)
            ))
        })?;
    let text = serde_json::to_string(input)?;
    let input = jaq_json::read::parse_single(text.as_bytes())
        .map_err(|e| Error::Usage(format!("--jq: the JSON could not be read back: {e}")))?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut out = Vec::new();
    for r in filter.id.run((ctx, input)) {
        let v = match r {
            Ok(v) => v,
            Err(exn) => match exn.get_err() {
                Ok(e) => {
                    // An error value that is a string reads better without its quotes.
                    let e = e.to_string();
                    let e = serde_json::from_str::<String>(&e).unwrap_or(e);
                    return Err(bad(format!("`{expr}`: {e}")));
                }
                // `halt`/`halt_error`: stop with what was printed so far.
                Err(_) => break,
            },
        };
        out.push(match &v {
            Val::TStr(_) => match serde_json::from_str::<Value>(&v.to_string()) {
                Ok(Value::String(s)) => Out::Raw(s),
                _ => Out::Text(v.to_string()),
            },
            _ => match serde_json::from_str::<Value>(&v.to_string()) {
                Ok(j) => Out::Json(j),
                Err(_) => Out::Text(v.to_string()),
            },
        });
    }
    Ok(out)
}

/// The first syntax error of a jq program, with its column.
fn load_error<P>(expr: &str, errs: jaq_core::load::Errors<&str, P>) -> String {
    use jaq_core::load::Error as E;
    let first = errs.into_iter().next().map(|(_, e)| e);
    let (expected, at) = match &first {
        Some(E::Lex(v)) => match v.first() {
            Some((exp, at)) => (exp.as_str().to_string(), *at),
            None => ("a valid expression".into(), ""),
        },
        Some(E::Parse(v)) => match v.first() {
            Some((exp, at)) => (exp.as_str().to_string(), *at),
            None => ("a valid expression".into(), ""),
        },
        Some(E::Io(v)) => match v.first() {
            Some((path, why)) => return format!("`{expr}`: cannot load `{path}`: {why}"),
            None => ("a valid expression".into(), ""),
        },
        None => ("a valid expression".into(), ""),
    };
    let found = if at.is_empty() {
        "the end".to_string()
    } else {
        format!("`{}`", at.chars().take(12).collect::<String>())
    };
    format!(
        "`{expr}`: expected {expected} at column {}, found {found}",
        column(expr, at)
    )
}

/// The 1-based column of `part`, a slice of `expr` (its end when `part` is not one).
fn column(expr: &str, part: &str) -> usize {
    let start = expr.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let offset = if (start..=start + expr.len()).contains(&at) {
        at - start
    } else {
        expr.len()
    };
    expr[..offset.min(expr.len())].chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn select_keeps_the_asked_order_and_fills_missing_fields() {
        let v = json!([{"a": 1, "b": 2, "c": 3}, {"a": 4}]);
        assert_eq!(
            select(v, &["b", "a"]),
            json!([{"b": 2, "a": 1}, {"b": null, "a": 4}])
        );
    }

    #[test]
    fn a_wrong_field_lists_the_valid_ones() {
        let e = parse_fields("id,titel", &["id", "title"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--json: unknown field `titel` (did you mean `title`?); the fields are: id, title"
        );
    }

    #[test]
    fn jq_errors_name_the_column() {
        let e = jq(".a | {b", &json!({})).err().unwrap().to_string();
        assert!(e.starts_with("--jq `.a | {b`: expected"), "{e}");
        assert!(e.contains("column"), "{e}");
    }
}
