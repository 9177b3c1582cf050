//! A `#[tracing::instrument]` on the same fn: pollwatch records exactly the arguments its span
//! records, so a `skip(db)` written for tracing keeps the database handle out of pollwatch's
//! events too.
//!
//! Either order works. With `#[async_timed]` above, the `#[instrument(...)]` attribute is still
//! on the item and its `skip`, `skip_all` and `fields` are read. With `#[instrument]` above, it
//! has already expanded: its body creates the span with one `name = value` per recorded
//! argument, and those names are read from the `span!` call it wrote.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::Attribute;
use syn::parse::ParseStream;

use crate::errors::skip_to_comma;
use crate::item::ItemFn;

/// Which arguments the span of a `#[tracing::instrument]` on the same fn records.
#[derive(Debug, Default)]
pub(crate) struct SpanArgs {
    skip_all: bool,
    skip: Vec<String>,
    /// `fields(name = …)`: an argument of that name is recorded as the field instead.
    shadowed: Vec<String>,
    /// Read from an expanded `#[instrument]`: exactly these.
    only: Option<Vec<String>>,
}

impl SpanArgs {
    /// Whether the span records the argument `name`.
    pub(crate) fn records(&self, name: &str) -> bool {
        match &self.only {
            Some(only) => only.iter().any(|n| n == name),
            None => {
                !self.skip_all
                    && !self.skip.iter().any(|n| n == name)
                    && !self.shadowed.iter().any(|n| n == name)
            }
        }
    }
}

/// The span arguments of a `#[tracing::instrument]` on `item`, in either order.
pub(crate) fn find(item: &ItemFn) -> Option<SpanArgs> {
    item.outer_attrs
        .iter()
        .find(|a| is_instrument(a))
        .map(from_attribute)
        .or_else(|| from_expansion(&item.body))
}

/// `#[instrument]` or `#[tracing::instrument]`.
pub(crate) fn is_instrument(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    matches!(
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["instrument"] | ["tracing", "instrument"]
    )
}

fn from_attribute(attr: &Attribute) -> SpanArgs {
    let mut args = SpanArgs::default();
    // `#[instrument]` without arguments records every argument. Anything this reader does not
    // understand is tracing's to report.
    let _ = attr.parse_args_with(|input: ParseStream<'_>| {
        while !input.is_empty() {
            let key: Option<syn::Ident> = input.call(syn::ext::IdentExt::parse_any).ok();
            match key.map(|k| k.to_string()).as_deref() {
                Some("skip_all") => args.skip_all = true,
                Some("skip") if input.peek(syn::token::Paren) => {
                    args.skip = names_in_group(input, false);
                }
                Some("fields") if input.peek(syn::token::Paren) => {
                    args.shadowed = names_in_group(input, true);
                }
                _ => {}
            }
            skip_to_comma(input);
            let _ = input.parse::<Option<syn::Token![,]>>();
        }
        Ok(())
    });
    args
}

/// The comma-separated names in a parenthesized group: each element's leading identifier
/// (with `fields_only`, only those followed by `=` or ending the element: `a.b = 1` is not an
/// argument's name).
fn names_in_group(input: ParseStream<'_>, fields_only: bool) -> Vec<String> {
    let Ok(TokenTree::Group(group)) = input.parse::<TokenTree>() else {
        return Vec::new();
    };
    split_commas(group.stream())
        .into_iter()
        .filter_map(|element| match element.as_slice() {
            [TokenTree::Ident(name)] => Some(name.to_string()),
            [TokenTree::Ident(name), TokenTree::Punct(p), ..] if p.as_char() == '=' => {
                Some(name.to_string())
            }
            [TokenTree::Ident(name), ..] if !fields_only => Some(name.to_string()),
            _ => None,
        })
        .map(|n| n.trim_start_matches("r#").to_owned())
        .collect()
}

fn split_commas(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut out = vec![Vec::new()];
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(Vec::new()),
            _ => out.last_mut().map_or((), |v| v.push(tt)),
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

/// An expanded `#[instrument]` binds `__tracing_attr_span` to `::tracing::span!(target: …,
/// level, name, arg = …, …)`: the arguments it records are the `ident = …` elements.
fn from_expansion(body: &TokenStream) -> Option<SpanArgs> {
    if !mentions(body, "__tracing_attr_span") {
        return None;
    }
    let call = find_span_call(body)?;
    let only = split_commas(call)
        .into_iter()
        .filter_map(|element| match element.as_slice() {
            [TokenTree::Ident(name), TokenTree::Punct(p), value @ ..]
                if p.as_char() == '=' && records_argument(name, value) =>
            {
                Some(name.to_string().trim_start_matches("r#").to_owned())
            }
            _ => None,
        })
        .collect();
    Some(SpanArgs {
        only: Some(only),
        ..SpanArgs::default()
    })
}

/// Whether `name = value` in the span is an argument (`n = n`, `x = ::tracing::field::debug(&x)`)
/// rather than a custom field (`key = "redacted"`).
fn records_argument(name: &proc_macro2::Ident, value: &[TokenTree]) -> bool {
    match value {
        [TokenTree::Ident(v)] => v == name,
        [.., TokenTree::Ident(debug), TokenTree::Group(g)] if debug == "debug" => {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            matches!(inner.as_slice(),
                [TokenTree::Punct(amp), TokenTree::Ident(v)] if amp.as_char() == '&' && v == name)
        }
        _ => false,
    }
}

fn mentions(tokens: &TokenStream, ident: &str) -> bool {
    tokens.clone().into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == ident,
        TokenTree::Group(g) => mentions(&g.stream(), ident),
        _ => false,
    })
}

/// The arguments of the first `tracing::span!(…)` in `tokens`.
fn find_span_call(tokens: &TokenStream) -> Option<TokenStream> {
    let tts: Vec<TokenTree> = tokens.clone().into_iter().collect();
    for (i, tt) in tts.iter().enumerate() {
        if let TokenTree::Group(g) = tt
            && let Some(found) = find_span_call(&g.stream())
        {
            return Some(found);
        }
        // `tracing :: span !`: the `::` is two `:` tokens.
        let is_span_call = matches!(tt, TokenTree::Ident(id) if id == "span")
            && matches!(tts.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!')
            && i >= 3
            && matches!(&tts[i - 3], TokenTree::Ident(id) if id == "tracing");
        if is_span_call
            && let Some(TokenTree::Group(g)) = tts.get(i + 2)
            && g.delimiter() == Delimiter::Parenthesis
        {
            return Some(g.stream());
        }
    }
    None
}
