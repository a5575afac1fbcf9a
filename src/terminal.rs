//! Text from session files on its way to a person's terminal. A file from a cloned
//! repository may carry ESC/BEL sequences in its title, task or sections (an OSC 52 clipboard
//! write, a screen clear, a hyperlink that shows one address and opens another), or bidi
//! overrides that make text read differently from what it is. Every human renderer passes
//! repository text through [`line`] (one-line fields) or [`text`] (whole sections and files),
//! which show such characters visibly — `\e`, `^G`, `^?`, `<U+009B>`, `<U+202E>` — instead of
//! letting the terminal act on them. Machine output keeps the exact text: [`json`] only makes
//! sure the characters JSON allows raw are escaped too. This module never drops or reorders
//! ordinary text, and it is the only place that decides what is safe.

use std::borrow::Cow;

/// A value shown on one line: line breaks and tabs become spaces, other control characters
/// are made visible.
pub fn line(s: &str) -> Cow<'_, str> {
    render(s, false)
}

/// A multi-line text (a section, a whole file): line breaks and tabs are kept (and `\r` before
/// `\n`, so CRLF files print as they are), every other control character is made visible.
pub fn text(s: &str) -> Cow<'_, str> {
    render(s, true)
}

/// JSON text as it goes to stdout: `serde_json` escapes C0 controls itself; DEL, the C1
/// controls (U+0080–U+009F, which some terminals obey) and bidi overrides are escaped here as
/// `\uXXXX`, which decodes to the same string. Safe because JSON's own syntax is ASCII: these
/// characters can only occur inside strings.
pub fn json(s: String) -> String {
    match json_escapes(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(escaped) => escaped,
    }
}

/// [`json`] of a borrowed text: borrowed back when nothing needs escaping (nearly always).
pub fn json_escapes(s: &str) -> Cow<'_, str> {
    // What serde_json leaves raw: everything but C0 (which it escapes).
    let raw = |c: char| c == '\u{7f}' || (needs_escape(c) && !c.is_ascii_control());
    // Every such character is DEL or outside ASCII: most texts are decided by a byte scan.
    let plain = s.is_ascii() && memchr::memchr(0x7f, s.as_bytes()).is_none();
    if plain || !s.chars().any(raw) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Characters a terminal may act on rather than show.
fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn render(s: &str, multiline: bool) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let clean = s.char_indices().all(|(i, c)| match c {
        '\n' | '\t' => multiline,
        '\r' => multiline && bytes.get(i + 1) == Some(&b'\n'),
        c => !needs_escape(c),
    });
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (i, c) in s.char_indices() {
        match c {
            '\n' | '\t' if multiline => out.push(c),
            '\r' if multiline && bytes.get(i + 1) == Some(&b'\n') => out.push(c),
            '\n' | '\r' | '\t' if !multiline => out.push(' '),
            '\u{1b}' => out.push_str("\\e"),
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            c if needs_escape(c) => out.push_str(&format!("<U+{:04X}>", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_shown_not_obeyed() {
        assert_eq!(line("a\x1b]52;c;aGk=\x07b"), "a\\e]52;c;aGk=^Gb");
        assert_eq!(
            line("x\x1b[2Jy\u{9b}z\u{202e}"),
            "x\\e[2Jy<U+009B>z<U+202E>"
        );
        assert_eq!(line("t\tab\nnl\u{7f}"), "t ab nl^?");
        assert_eq!(text("a\r\nb\rc\n"), "a\r\nb^Mc\n");
        assert!(matches!(text("plain ü 🚀\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_what_serde_leaves_raw_and_decodes_to_the_same() {
        let v = "t\u{1b}[31m\u{9b}\u{7f}\u{202e}ok";
        let s = json(serde_json::to_string(&v).unwrap());
        assert!(s.is_ascii(), "{s}");
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), v);
    }
}
