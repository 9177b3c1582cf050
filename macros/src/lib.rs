//! Procedural macros for [pollwatch](https://docs.rs/pollwatch). Use them through the `pollwatch`
//! crate (`#[pollwatch::async_timed]`), which documents them and provides the runtime they call.

mod args;
mod expand;
mod item;

use proc_macro::TokenStream;

/// Instruments an `async fn`; see `pollwatch::async_timed`.
#[proc_macro_attribute]
pub fn async_timed(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let result = syn::parse::<args::Args>(args).and_then(|args| {
        let parsed = syn::parse2::<item::ItemFn>(item2.clone())?;
        args.errors.clone().map_or(Ok(()), Err)?;
        expand::expand(&args, &parsed)
    });
    // On error, still emit the user's item so the IDE and the rest of the crate keep working.
    result
        .unwrap_or_else(|err| {
            let mut out = err.to_compile_error();
            out.extend(item2);
            out
        })
        .into()
}
