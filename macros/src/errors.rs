//! The one error accumulator every parser shares: all bad arguments are reported at once, each
//! at its own span, and the user's item is still emitted so the IDE keeps working.

use proc_macro2::{Span, TokenStream};
use syn::Token;
use syn::parse::ParseStream;

/// Errors collected while parsing, combined into one `syn::Error`.
#[derive(Default, Debug, Clone)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(err),
            None => self.0 = Some(err),
        }
    }

    /// Takes the errors out, leaving none.
    pub(crate) fn take(&mut self) -> Option<syn::Error> {
        self.0.take()
    }

    /// `Err` with every error, if any.
    pub(crate) fn check(&self) -> syn::Result<()> {
        self.0.clone().map_or(Ok(()), Err)
    }

    /// Stores `value` in `slot`, or reports the argument `name` as given twice.
    pub(crate) fn set_once<T>(&mut self, slot: &mut Option<T>, value: T, span: Span, name: &str) {
        if slot.is_some() {
            self.push(syn::Error::new(span, format!("`{name}` is given twice")));
        } else {
            *slot = Some(value);
        }
    }
}

/// Skips the rest of a bad argument, up to the next comma, so parsing can go on to the others.
pub(crate) fn skip_to_comma(input: ParseStream<'_>) {
    while !input.is_empty() && !input.peek(Token![,]) {
        let _ = input.parse::<proc_macro2::TokenTree>();
    }
}

/// A comma-separated argument list: `parse_one` for each argument; a failing one is recorded
/// and skipped, so every bad argument is reported.
pub(crate) fn parse_list(
    input: ParseStream<'_>,
    errors: &mut Errors,
    mut parse_one: impl FnMut(ParseStream<'_>, &mut Errors) -> syn::Result<()>,
) {
    while !input.is_empty() {
        if let Err(e) = parse_one(input, errors) {
            errors.push(e);
            skip_to_comma(input);
        }
        if input.is_empty() {
            break;
        }
        if let Err(e) = input.parse::<Token![,]>() {
            errors.push(e);
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
}

/// The error, followed by the user's item unchanged.
pub(crate) fn with_item(err: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = err.to_compile_error();
    out.extend(item);
    out
}
