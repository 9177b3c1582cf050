//! Parsing `#[async_timed(...)]` arguments. Every problem becomes a `syn::Error` at the user's
//! span; all of them are reported at once.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token};

use crate::errors::{Errors, parse_list};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(target);
    syn::custom_keyword!(level);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(fields);
    syn::custom_keyword!(ret);
    syn::custom_keyword!(err);
    syn::custom_keyword!(slow);
    syn::custom_keyword!(cancelled);
    syn::custom_keyword!(max_value_len);
    syn::custom_keyword!(Debug);
    syn::custom_keyword!(Display);
}

const ACCEPTED: &str = "`name`, `target`, `level`, `skip`, `skip_all`, `fields`, `ret`, `err`, \
                        `slow`, `cancelled`, `max_value_len`, `crate`";
const LEVELS: &str = "`trace`, `debug`, `info`, `warn`, `error`";

/// How a value is formatted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fmt {
    /// `Display` if implemented, else `Debug`, else `_` (plain `k = expr`).
    Auto,
    /// `Debug` if implemented, else `_` (arguments, `?expr`, `ret`, `err(Debug)`).
    Debug,
    /// `Display`, required (`%expr`, `ret(Display)`, `err`).
    Display,
}

#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) fmt: Fmt,
    pub(crate) value: Expr,
}

#[derive(Default, Debug)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) target: Option<LitStr>,
    pub(crate) level: Option<Ident>,
    pub(crate) skip: Option<Vec<Ident>>,
    pub(crate) skip_all: Option<Span>,
    pub(crate) fields: Option<Vec<Field>>,
    pub(crate) ret: Option<Fmt>,
    pub(crate) err: Option<Fmt>,
    pub(crate) slow_nanos: Option<u64>,
    /// The level of the `cancelled` event.
    pub(crate) cancelled: Option<Ident>,
    pub(crate) max_value_len: Option<usize>,
    pub(crate) krate: Option<Path>,
    /// Errors collected while parsing; reported together.
    pub(crate) errors: Errors,
}

impl Args {
    /// The path of the `pollwatch` crate in generated code.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::pollwatch),
        }
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut errors = Errors::default();
        parse_list(input, &mut errors, |input, errors| {
            parse_one(&mut args, errors, input)
        });
        args.errors = errors;
        if let (Some(span), Some(_)) = (args.skip_all, &args.skip) {
            args.errors.push(syn::Error::new(
                span,
                "`skip_all` and `skip(...)` are given together; use one of them",
            ));
        }
        Ok(args)
    }
}

/// Parses one argument into `args`; "given twice" goes to `errors`, other problems are returned.
pub(crate) fn parse_one(
    args: &mut Args,
    errors: &mut Errors,
    input: ParseStream<'_>,
) -> syn::Result<()> {
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::name) {
        let kw: kw::name = input.parse()?;
        let value = parse_non_empty(input, "name", "a name such as `\"fetch_user\"`")?;
        errors.set_once(&mut args.name, value, kw.span, "name");
    } else if lookahead.peek(kw::target) {
        let kw: kw::target = input.parse()?;
        let value = parse_non_empty(input, "target", "a target such as `\"my_app::db\"`")?;
        errors.set_once(&mut args.target, value, kw.span, "target");
    } else if lookahead.peek(kw::level) {
        let kw: kw::level = input.parse()?;
        let level = parse_level(input)?;
        errors.set_once(&mut args.level, level, kw.span, "level");
    } else if lookahead.peek(kw::skip_all) {
        let kw: kw::skip_all = input.parse()?;
        errors.set_once(&mut args.skip_all, kw.span, kw.span, "skip_all");
    } else if lookahead.peek(kw::skip) {
        let kw: kw::skip = input.parse()?;
        let names = parse_group(input, |content| {
            Punctuated::<Ident, Token![,]>::parse_terminated_with(content, Ident::parse_any)
        })
        .map_err(|e| {
            syn::Error::new(
                e.span(),
                "`skip(...)` takes argument names, such as `skip(token, password)`",
            )
        })?;
        errors.set_once(&mut args.skip, names.into_iter().collect(), kw.span, "skip");
    } else if lookahead.peek(kw::fields) {
        let kw: kw::fields = input.parse()?;
        let fields = parse_group(input, Punctuated::<Field, Token![,]>::parse_terminated)?;
        errors.set_once(
            &mut args.fields,
            fields.into_iter().collect(),
            kw.span,
            "fields",
        );
    } else if lookahead.peek(kw::ret) {
        let kw: kw::ret = input.parse()?;
        let fmt = parse_fmt_mode(input, Fmt::Debug, "ret")?;
        errors.set_once(&mut args.ret, fmt, kw.span, "ret");
    } else if lookahead.peek(kw::err) {
        let kw: kw::err = input.parse()?;
        let fmt = parse_fmt_mode(input, Fmt::Display, "err")?;
        errors.set_once(&mut args.err, fmt, kw.span, "err");
    } else if lookahead.peek(kw::slow) {
        let kw: kw::slow = input.parse()?;
        let lit = parse_str_value(input, "slow", "a duration such as `\"20ms\"`")?;
        let nanos = parse_duration(&lit)?;
        errors.set_once(&mut args.slow_nanos, nanos, kw.span, "slow");
    } else if lookahead.peek(kw::cancelled) {
        let kw: kw::cancelled = input.parse()?;
        let level = parse_level(input)?;
        errors.set_once(&mut args.cancelled, level, kw.span, "cancelled");
    } else if lookahead.peek(kw::max_value_len) {
        let kw: kw::max_value_len = input.parse()?;
        let n = parse_positive(
            input,
            "max_value_len",
            "a number of characters such as `64`",
        )?;
        errors.set_once(&mut args.max_value_len, n, kw.span, "max_value_len");
    } else if lookahead.peek(Token![crate]) {
        let kw: Token![crate] = input.parse()?;
        let lit = parse_str_value(input, "crate", "a path such as `\"my_pollwatch\"`")?;
        let path: Path = lit.parse().map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!(
                    "`crate` expects a path such as `\"my_pollwatch\"`, found `{}`",
                    lit.value()
                ),
            )
        })?;
        errors.set_once(&mut args.krate, path, kw.span, "crate");
    } else if input.peek(Ident::peek_any) {
        let ident = input.call(Ident::parse_any)?;
        return Err(syn::Error::new(
            ident.span(),
            format!("unknown argument `{ident}`; expected one of {ACCEPTED}"),
        ));
    } else {
        let mut err = lookahead.error();
        err.combine(syn::Error::new(
            input.span(),
            format!("expected one of {ACCEPTED}"),
        ));
        return Err(err);
    }
    Ok(())
}

fn parse_str_value(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<LitStr> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            input.span(),
            format!("expected `=` after `{key}`; write `{key} = ` and {example}"),
        ));
    }
    input.parse::<Token![=]>()?;
    if input.peek(LitStr) {
        return input.parse();
    }
    let found: proc_macro2::TokenTree = input.parse()?;
    Err(syn::Error::new(
        found.span(),
        format!("`{key}` expects a string literal: {example}"),
    ))
}

fn parse_positive(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<usize> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            input.span(),
            format!("expected `=` after `{key}`; write `{key} = ` and {example}"),
        ));
    }
    input.parse::<Token![=]>()?;
    let found: proc_macro2::TokenTree = input.parse()?;
    let lit = syn::parse2::<syn::LitInt>(found.to_token_stream()).ok();
    match lit.as_ref().map(syn::LitInt::base10_parse::<usize>) {
        Some(Ok(n)) if n > 0 => Ok(n),
        _ => Err(syn::Error::new(
            found.span(),
            format!("`{key}` expects a positive integer: {example}"),
        )),
    }
}

fn parse_non_empty(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<LitStr> {
    let value = parse_str_value(input, key, example)?;
    if value.value().trim().is_empty() {
        return Err(syn::Error::new(
            value.span(),
            format!("`{key}` must not be empty"),
        ));
    }
    Ok(value)
}

fn parse_level(input: ParseStream<'_>) -> syn::Result<Ident> {
    input.parse::<Token![=]>()?;
    // `"debug"`, `debug`, `Level::DEBUG`, `tracing::Level::DEBUG`.
    let (text, span) = if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        (lit.value(), lit.span())
    } else if input.peek(Ident) {
        let path: Path = input.parse()?;
        let last = path.segments.last().map(|s| s.ident.clone());
        let span = path
            .segments
            .first()
            .map_or_else(Span::call_site, |s| s.ident.span());
        (last.map_or_else(String::new, |i| i.to_string()), span)
    } else {
        let found: proc_macro2::TokenTree = input.parse()?;
        (found.to_string(), found.span())
    };
    let level = match text.to_ascii_lowercase().as_str() {
        "trace" => "TRACE",
        "debug" => "DEBUG",
        "info" => "INFO",
        "warn" => "WARN",
        "error" => "ERROR",
        _ => {
            return Err(syn::Error::new(
                span,
                format!("unknown level `{text}`; expected one of {LEVELS}"),
            ));
        }
    };
    Ok(Ident::new(level, span))
}

/// Parses a parenthesized group with `parser`, which must consume all of it. The group's tokens
/// are taken whole first, so a parse error inside never leaves tokens behind (syn would then
/// replace our message with a generic "unexpected token").
fn parse_group<T>(
    input: ParseStream<'_>,
    parser: impl FnOnce(ParseStream<'_>) -> syn::Result<T>,
) -> syn::Result<T> {
    let content;
    syn::parenthesized!(content in input);
    let tokens: TokenStream = content.parse()?;
    syn::parse::Parser::parse2(parser, tokens)
}

fn parse_fmt_mode(input: ParseStream<'_>, default: Fmt, key: &str) -> syn::Result<Fmt> {
    if !input.peek(syn::token::Paren) {
        return Ok(default);
    }
    let span = input.span();
    parse_group(input, |content| {
        let mode = if content.peek(kw::Debug) {
            content.parse::<kw::Debug>()?;
            Some(Fmt::Debug)
        } else if content.peek(kw::Display) {
            content.parse::<kw::Display>()?;
            Some(Fmt::Display)
        } else {
            None
        };
        match mode {
            Some(mode) if content.is_empty() => Ok(mode),
            _ => {
                let span = if content.is_empty() {
                    span
                } else {
                    content.span()
                };
                let _: TokenStream = content.parse()?;
                Err(syn::Error::new(
                    span,
                    format!("`{key}(...)` takes `Debug` or `Display`"),
                ))
            }
        }
    })
}

fn parse_duration(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    match humantime::parse_duration(&text) {
        Ok(d) if d.is_zero() => Err(syn::Error::new(
            lit.span(),
            "`slow` must be greater than zero",
        )),
        Ok(d) => Ok(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Err(e) => Err(syn::Error::new(
            lit.span(),
            format!(
                "invalid duration `{text}` for `slow`: {e}; expected a duration such as `20ms`, `1s`, `1s 500ms`"
            ),
        )),
    }
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `a.b.c` or `"any name"`.
        let (name, span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            (lit.value(), lit.span())
        } else {
            let parts = Punctuated::<Ident, Token![.]>::parse_separated_nonempty_with(
                input,
                Ident::parse_any,
            )?;
            let span = parts.first().map_or_else(Span::call_site, Ident::span);
            let name = parts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(".");
            (name, span)
        };
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                span,
                format!(
                    "field `{name}` needs a value: `{name} = expr`, `{name} = %expr` or `{name} = ?expr`"
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        let fmt = if input.peek(Token![%]) {
            input.parse::<Token![%]>()?;
            Fmt::Display
        } else if input.peek(Token![?]) {
            input.parse::<Token![?]>()?;
            Fmt::Debug
        } else {
            Fmt::Auto
        };
        let value: Expr = input.parse()?;
        Ok(Field { name, fmt, value })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use proptest::prelude::*;
    use syn::LitStr;

    proptest! {
        #[test]
        fn any_slow_value_is_a_duration_or_a_spanned_error_never_a_panic(
            text in prop_oneof![any::<String>(), "[0-9]{0,25}(ns|us|ms|s|m|h|x|) ?[0-9]{0,3}"],
        ) {
            let lit = LitStr::new(&text, proc_macro2::Span::call_site());
            if let Err(e) = parse_duration(&lit) {
                let message = e.to_string();
                prop_assert!(message.contains("`slow`"), "{}", message);
            }
        }
    }
}
