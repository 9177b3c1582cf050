//! The lexer of `tests/layers.rs`'s reader: a source file as code only (comments and the insides
//! of literals blanked, at the same offsets, so lines stay countable), split into its module
//! scopes, and the few tokens the reader needs (identifiers, paths, brackets).

use crate::reader::Module;

/// A byte of an identifier (ASCII: this crate's identifiers are).
pub(crate) fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Spaces over `range` of `code`, keeping its newlines (so offsets and lines stay put).
fn blank(code: &mut [u8], range: std::ops::Range<usize>) {
    for b in &mut code[range] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

/// The source with its comments and the insides of its string and char literals blanked, at
/// the same offsets: braces, `use ` and paths left are code.
pub(crate) fn code_of(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i..end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut j, mut depth) = (i + 2, 1);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i..j);
            i = j;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1..j.min(b.len()));
            i = j + 1;
        } else if b[i] == b'r'
            && (i == 0
                || !is_ident(b[i - 1])
                || (b[i - 1] == b'b' && (i < 2 || !is_ident(b[i - 2]))))
            && {
                let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
                rest.get(1 + hashes) == Some(&b'"')
            }
        {
            // A raw string: `r"…"`, `r#"…"#`, `br"…"`.
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let start = i + 2 + hashes;
            let end = b[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| start + p);
            blank(&mut out, start..end);
            i = end + close.len();
        } else if b[i] == b'\'' {
            // A char literal (`'{'`, `'\''`, `'→'`), or a lifetime (`'a`), left alone.
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 2 + p)
            } else {
                let len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 1 + len)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i + 1..end);
                    i = end + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were blanked")
}

/// The offset of the bracket closing the one at `open` (`(`, `[` or `{`), in blanked code.
pub(crate) fn closing(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in code.bytes().enumerate().skip(open) {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The 1-based line of offset `at`.
pub(crate) fn line_at(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// The inline modules directly in `code` (not nested in another): name, and the offsets of
/// their `{` and `}`.
fn inline_mods(code: &str) -> Vec<(String, usize, usize)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(p) = code[i..].find("mod ") {
        let at = i + p;
        i = at + 4;
        if at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b'#') {
            continue;
        }
        let rest = code[at + 4..].trim_start();
        let ident_len = rest.bytes().take_while(|&c| is_ident(c)).count();
        let after = rest[ident_len..].trim_start();
        if ident_len == 0 || !after.starts_with('{') {
            continue; // `mod name;`: its own file
        }
        let open = code.len() - after.len();
        let Some(close) = closing(code, open) else {
            continue;
        };
        found.push((rest[..ident_len].to_owned(), open, close));
        i = close;
    }
    found
}

/// Splits a file's code into its module scopes: the file itself and each inline module,
/// nested ones too, each as a copy of the whole file with everything outside it blanked.
pub(crate) fn scopes(module: Module, code: String, out: &mut Vec<(Module, String)>) {
    let mods = inline_mods(&code);
    let mut own = code.clone().into_bytes();
    for (_, open, close) in &mods {
        blank(&mut own, *open..*close + 1);
    }
    out.push((module.clone(), String::from_utf8(own).unwrap()));
    for (name, open, close) in mods {
        let mut inner = code.clone().into_bytes();
        blank(&mut inner, 0..open + 1);
        blank(&mut inner, close..code.len());
        let mut m = module.clone();
        m.push(name);
        scopes(m, String::from_utf8(inner).unwrap(), out);
    }
}

/// The identifier starting at `i`, and its end.
pub(crate) fn ident_at(code: &str, i: usize) -> Option<(String, usize)> {
    let len = code[i..].bytes().take_while(|&c| is_ident(c)).count();
    (len > 0).then(|| (code[i..i + len].to_owned(), i + len))
}

/// The path starting at `i` (`a::b::c`, `$crate::a`, turbofish skipped), if one starts there
/// (not in the middle of a path, a field or method name, a lifetime or a number), and its end.
pub(crate) fn path_at(code: &str, i: usize) -> Option<(Vec<String>, usize)> {
    let b = code.as_bytes();
    let first = *b.get(i)?;
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'$') {
        return None;
    }
    if i > 0 && (is_ident(b[i - 1]) || matches!(b[i - 1], b':' | b'.' | b'\'' | b'$')) {
        return None;
    }
    let (mut segs, mut j) = (Vec::new(), i);
    loop {
        let start = j;
        if j == i && b[j] == b'$' {
            j += 1;
        }
        while j < b.len() && is_ident(b[j]) {
            j += 1;
        }
        if j == start {
            break;
        }
        segs.push(code[start..j].to_owned());
        if !code[j..].starts_with("::") {
            break;
        }
        j += 2;
        if b.get(j) == Some(&b'<') {
            // A turbofish: `Vec::<u8>::new`.
            let mut depth = 0;
            while j < b.len() {
                match b[j] {
                    b'<' => depth += 1,
                    b'>' => depth -= 1,
                    _ => {}
                }
                j += 1;
                if depth == 0 {
                    break;
                }
            }
            if !code[j..].starts_with("::") {
                break;
            }
            j += 2;
        }
    }
    (!segs.is_empty()).then_some((segs, j))
}

/// The first offset from `i` that is not whitespace.
pub(crate) fn skip_ws(code: &str, mut i: usize) -> usize {
    while code.as_bytes().get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Whether the word before `i` is `fn` (a definition, not a call).
pub(crate) fn defines(code: &str, i: usize) -> bool {
    let before = code[..i].trim_end();
    before.ends_with("fn")
        && !before[..before.len() - 2]
            .bytes()
            .next_back()
            .is_some_and(is_ident)
}
