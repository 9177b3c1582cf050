//! `#[pollwatch::main]` and `#[pollwatch::test]`: `#[tokio::main]` / `#[tokio::test]` in debug
//! mode. The body becomes an inner `#[async_timed]` fn (so it is the root of every chain,
//! `main > …`), run on a `pollwatch::Builder` runtime by `run_main` / `run_test`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{LitInt, LitStr, Token};

use crate::args::Args;
use crate::errors::{Errors, parse_list};
use crate::item::ItemFn;

mod kw {
    syn::custom_keyword!(flavor);
    syn::custom_keyword!(worker_threads);
    syn::custom_keyword!(start_paused);
    syn::custom_keyword!(slow);
}

/// Which attribute is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Main,
    Test,
}

/// The arguments of `#[pollwatch::main]` / `#[pollwatch::test]`.
#[derive(Default)]
pub(crate) struct EntryArgs {
    current_thread: Option<(bool, Span)>,
    worker_threads: Option<(LitInt, Span)>,
    start_paused: Option<(syn::LitBool, Span)>,
    timed: Args,
    errors: Errors,
}

impl Parse for EntryArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = EntryArgs::default();
        let mut errors = Errors::default();
        parse_list(input, &mut errors, |input, errors| {
            parse_one(&mut args, errors, input)
        });
        // `#[pollwatch::test]` defaults to the current-thread flavor, as `#[tokio::test]` does.
        if let (Some((true, _)), Some((_, span))) = (&args.current_thread, &args.worker_threads) {
            errors.push(syn::Error::new(
                *span,
                "`worker_threads` applies to the `multi_thread` flavor only",
            ));
        }
        if let Some(e) = args.timed.errors.take() {
            errors.push(e);
        }
        args.errors = errors;
        Ok(args)
    }
}

fn parse_one(args: &mut EntryArgs, errors: &mut Errors, input: ParseStream<'_>) -> syn::Result<()> {
    let lookahead = input.lookahead1();
    if lookahead.peek(kw::flavor) {
        let kw: kw::flavor = input.parse()?;
        input.parse::<Token![=]>()?;
        let lit: LitStr = input.parse()?;
        let current = match lit.value().as_str() {
            "current_thread" => true,
            "multi_thread" => false,
            other => {
                return Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown flavor `{other}`; expected `current_thread` or `multi_thread`"
                    ),
                ));
            }
        };
        errors.set_once(
            &mut args.current_thread,
            (current, kw.span),
            kw.span,
            "flavor",
        );
    } else if lookahead.peek(kw::worker_threads) {
        let kw: kw::worker_threads = input.parse()?;
        input.parse::<Token![=]>()?;
        let n: LitInt = input.parse()?;
        if n.base10_parse::<usize>()? == 0 {
            return Err(syn::Error::new(
                n.span(),
                "`worker_threads` must be at least 1",
            ));
        }
        errors.set_once(
            &mut args.worker_threads,
            (n, kw.span),
            kw.span,
            "worker_threads",
        );
    } else if lookahead.peek(kw::start_paused) {
        let kw: kw::start_paused = input.parse()?;
        input.parse::<Token![=]>()?;
        let b: syn::LitBool = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), "`start_paused` expects `true` or `false`"))?;
        errors.set_once(
            &mut args.start_paused,
            (b, kw.span),
            kw.span,
            "start_paused",
        );
    } else if lookahead.peek(kw::slow) || lookahead.peek(Token![crate]) {
        // Shared with `#[async_timed]`: same parsing, same messages ("given twice" included).
        crate::args::parse_one(&mut args.timed, errors, input)?;
    } else if input.peek(syn::Ident) {
        let ident: syn::Ident = input.parse()?;
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "unknown argument `{ident}`; expected one of `flavor`, `worker_threads`, \
                 `start_paused` (tests), `slow`, `crate`"
            ),
        ));
    } else {
        return Err(lookahead.error());
    }
    Ok(())
}

pub(crate) fn expand(mut args: EntryArgs, item: ItemFn, entry: Entry) -> syn::Result<TokenStream> {
    if let Some(e) = args.errors.take() {
        return Err(e);
    }
    let attr = match entry {
        Entry::Main => "#[pollwatch::main]",
        Entry::Test => "#[pollwatch::test]",
    };
    if let (Entry::Main, Some((_, span))) = (entry, &args.start_paused) {
        return Err(syn::Error::new(
            *span,
            "`start_paused` is for `#[pollwatch::test]`",
        ));
    }
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span,
            format!("`{attr}` goes on an `async fn`"),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("`{attr}` fns take no arguments"),
        ));
    }
    let krate = args.timed.krate();
    args.timed.name = Some(LitStr::new(&sig.ident.to_string(), sig.ident.span()));
    let inner_ident = format_ident!("__pollwatch_main", span = sig.ident.span());
    let mut inner_sig = sig.clone();
    inner_sig.ident = inner_ident.clone();
    let inner = ItemFn {
        outer_attrs: Vec::new(),
        vis: syn::Visibility::Inherited,
        sig: inner_sig,
        brace: item.brace,
        inner_attrs: Vec::new(),
        body: item.body.clone(),
    };
    let inner = crate::expand::expand(&args.timed, &inner)?;

    let current_thread = match (args.current_thread, entry) {
        (Some((current, _)), _) => current,
        (None, Entry::Test) => true,
        (None, Entry::Main) => false,
    };
    let builder = if current_thread {
        quote!(#krate::Builder::new_current_thread())
    } else {
        quote!(#krate::Builder::new_multi_thread())
    };
    let workers = args
        .worker_threads
        .map(|(n, _)| quote!(.worker_threads(#n)));
    let paused = args
        .start_paused
        .filter(|(b, _)| b.value)
        .map(|_| quote!(.tokio(|__pollwatch_b| { __pollwatch_b.start_paused(true); })));
    // For a test, `slow` is the budget of every poll in it; for main, the body's own threshold.
    let budget = args.timed.slow_nanos.unwrap_or(0);
    let mut outer_sig = sig.clone();
    outer_sig.asyncness = None;
    let attrs = &item.outer_attrs;
    let inner_attrs = &item.inner_attrs;
    let vis = &item.vis;
    let (test_attr, run) = match entry {
        Entry::Main => (
            None,
            quote!(#krate::__private::run_main(#builder #workers, #inner_ident())),
        ),
        Entry::Test => (
            Some(quote!(#[::core::prelude::v1::test])),
            quote!(#krate::__private::run_test(#builder #workers #paused, #budget, #inner_ident())),
        ),
    };
    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis #outer_sig {
            #(#inner_attrs)*
            #inner
            #run
        }
    })
}
