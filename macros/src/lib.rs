//! Procedural macros for [pollwatch](https://docs.rs/pollwatch). Use them through the `pollwatch`
//! crate (`#[pollwatch::async_timed]`), which documents them and provides the runtime they call.

mod args;
mod entry;
mod errors;
mod expand;
mod instrument;
mod item;

use proc_macro::TokenStream;

/// Instruments an `async fn`; see `pollwatch::async_timed`.
#[proc_macro_attribute]
pub fn async_timed(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let result = syn::parse::<args::Args>(args).and_then(|args| {
        let parsed = syn::parse2::<item::ItemFn>(item2.clone())?;
        args.errors.check()?;
        expand::expand(&args, &parsed)
    });
    result
        .unwrap_or_else(|err| errors::with_item(err, item2))
        .into()
}

/// `#[tokio::main]` in debug mode; see `pollwatch::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry_point(args, item, entry::Entry::Main)
}

/// `#[tokio::test]` that fails when a poll blocks; see `pollwatch::test`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry_point(args, item, entry::Entry::Test)
}

fn entry_point(args: TokenStream, item: TokenStream, which: entry::Entry) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let result = syn::parse::<entry::EntryArgs>(args)
        .and_then(|args| entry::expand(args, syn::parse2(item2.clone())?, which));
    result
        .unwrap_or_else(|err| errors::with_item(err, item2))
        .into()
}
