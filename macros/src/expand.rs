//! Code generation for `#[async_timed]`.
//!
//! An `async fn` becomes a `#[track_caller] fn … -> impl Future<Output = R>` whose body captures
//! the arguments and returns `Timed(async move { original body })`: the future exists (and can
//! report "never polled" with its caller's location) from the moment the fn is called, exactly like
//! the compiler's own `async fn` desugaring, which this mirrors (every argument is moved into the
//! future, so drop order is unchanged). The macro crate is edition 2024, so the generated `impl`
//! captures every lifetime whatever the user's edition.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::visit_mut::VisitMut;
use syn::{Expr, FnArg, Ident, Pat, ReturnType, Signature, Stmt, Type, TypeParamBound};

use crate::args::{Args, Fmt};
use crate::errors::Errors;
use crate::instrument::SpanArgs;
use crate::item::ItemFn;

/// How the annotated fn is turned into an instrumented one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `async fn` → `fn -> impl Future` (the default).
    Desugar,
    /// `async fn` kept as is, body wrapped: for fns another attribute below ours must still see
    /// as an `async fn` (`#[tokio::main]`, `#[tokio::test]`, `#[tracing::instrument]`).
    Inline,
    /// A plain fn returning `impl Future`: its returned future is wrapped.
    WrapReturn,
    /// A fn whose body ends in `Box::pin(async move { … })` (as `#[async_trait]` writes): the
    /// async block is wrapped inside the box, so no second allocation.
    BoxPin,
}

#[derive(Debug)]
enum ParamKind {
    Receiver,
    Ident {
        ident: Ident,
        mutability: Option<syn::token::Mut>,
    },
    Pattern(Box<Pat>),
}

#[derive(Debug)]
struct Param {
    name: String,
    kind: ParamKind,
    /// What the prologue formats: the binding in the (possibly rewritten) signature.
    binding: Option<TokenStream>,
}

pub(crate) fn expand(args: &Args, item: &ItemFn) -> syn::Result<TokenStream> {
    let mode = mode_of(item)?;
    let params = params_of(&item.sig, mode);
    check_skips(args, &item.sig, &params)?;
    let krate = args.krate();

    let recorded = recorded_params(args, &params, crate::instrument::find(item).as_ref());
    let callsite = callsite(args, &item.sig, &recorded, &krate);
    let values = capture_values(args, &recorded, &krate);
    let wrap = |fut: TokenStream| wrap_future(args, fut, &krate);

    Ok(match mode {
        Mode::Desugar => desugar(item, &params, &callsite, &values, wrap),
        Mode::Inline => {
            let fut = async_block(item, &[]);
            let timed = wrap(fut);
            let body = quote! { #callsite #values #timed.await };
            emit_fn(item, &item.sig, false, body)
        }
        Mode::WrapReturn => {
            let body = &item.body;
            let timed = wrap(quote!((|| { #body })()));
            // The wrapped type is the body's own (two fns may return the same `Sleep`), so it
            // cannot tell `pollwatch::spawn` which fn made the future.
            let out = Ident::new("__pollwatch_fut", Span::call_site());
            let body = quote! {
                #callsite #values
                let #out = #timed;
                #krate::__private::not_nameable();
                #out
            };
            emit_fn(item, &item.sig, true, body)
        }
        Mode::BoxPin => {
            let mut block: syn::Block = syn::parse2(braced(&item.body))?;
            let async_block =
                box_pin_async_arg(&mut block).ok_or_else(|| not_async_error(&item.sig))?;
            let inner = std::mem::replace(async_block, Expr::Verbatim(TokenStream::new()));
            *async_block = Expr::Verbatim(wrap(inner.into_token_stream()));
            let stmts = &block.stmts;
            emit_fn(
                item,
                &item.sig,
                true,
                quote! { #callsite #values #(#stmts)* },
            )
        }
    })
}

fn braced(body: &TokenStream) -> TokenStream {
    quote!({ #body })
}

fn not_async_error(sig: &Signature) -> syn::Error {
    let hint = if sig.ident == "main" {
        "; with `#[tokio::main]`, put `#[async_timed]` above it"
    } else {
        ""
    };
    syn::Error::new(
        sig.fn_token.span,
        format!(
            "`#[async_timed]` instruments an `async fn`, or a fn returning `impl Future` or \
             `Box::pin(async move {{ … }})`; `{}` is a plain fn{hint}",
            sig.ident
        ),
    )
}

fn mode_of(item: &ItemFn) -> syn::Result<Mode> {
    let sig = &item.sig;
    if sig.asyncness.is_some() {
        // Another attribute below ours that needs an `async fn`: an entry point (tokio::main,
        // tokio::test, …), or `#[instrument]`, which instruments the future only of an
        // `async fn` (or of a fn ending in an `async` block); on our desugared fn it would enter
        // its span while the future is created, not while it runs.
        let needs_async_fn = item.outer_attrs.iter().any(|a| {
            crate::instrument::is_instrument(a)
                || a.path()
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "main" || s.ident == "test")
        });
        return Ok(if needs_async_fn {
            Mode::Inline
        } else {
            Mode::Desugar
        });
    }
    if returns_impl_future(sig) {
        return Ok(Mode::WrapReturn);
    }
    if let Ok(mut block) = syn::parse2::<syn::Block>(braced(&item.body))
        && box_pin_async_arg(&mut block).is_some()
    {
        return Ok(Mode::BoxPin);
    }
    Err(not_async_error(sig))
}

fn returns_impl_future(sig: &Signature) -> bool {
    let ReturnType::Type(_, ty) = &sig.output else {
        return false;
    };
    let Type::ImplTrait(it) = &**ty else {
        return false;
    };
    it.bounds.iter().any(|b| match b {
        TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == "Future"),
        _ => false,
    })
}

/// The `async` block in a trailing `Box::pin(async move { … })`.
fn box_pin_async_arg(block: &mut syn::Block) -> Option<&mut Expr> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.last_mut() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segs: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let is_box_pin =
        segs.len() >= 2 && segs[segs.len() - 2] == "Box" && segs[segs.len() - 1] == "pin";
    if !is_box_pin || call.args.len() != 1 {
        return None;
    }
    match call.args.first_mut() {
        Some(arg @ Expr::Async(_)) => Some(arg),
        _ => None,
    }
}

fn params_of(sig: &Signature, mode: Mode) -> Vec<Param> {
    sig.inputs
        .iter()
        .enumerate()
        .map(|(i, arg)| match arg {
            FnArg::Receiver(_) => Param {
                name: "self".to_owned(),
                kind: ParamKind::Receiver,
                binding: Some(quote!(self)),
            },
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => Param {
                    name: pi.ident.unraw().to_string(),
                    binding: Some(pi.ident.to_token_stream()),
                    kind: ParamKind::Ident {
                        ident: pi.ident.clone(),
                        mutability: pi.mutability,
                    },
                },
                pat => Param {
                    name: pattern_name(pat),
                    // Only the desugaring has the whole value under a name of its own.
                    binding: (mode == Mode::Desugar).then(|| arg_ident(i).to_token_stream()),
                    kind: ParamKind::Pattern(Box::new(pat.clone())),
                },
            },
        })
        .collect()
}

fn arg_ident(i: usize) -> Ident {
    format_ident!("__pollwatch_arg{}", i)
}

fn pattern_name(pat: &Pat) -> String {
    let s = pat.to_token_stream().to_string();
    s.replace(" ,", ",")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace("{ ", "{")
        .replace(" }", "}")
}

fn check_skips(args: &Args, sig: &Signature, params: &[Param]) -> syn::Result<()> {
    let Some(skips) = &args.skip else {
        return Ok(());
    };
    let names: Vec<&str> = params
        .iter()
        .filter(|p| !matches!(p.kind, ParamKind::Pattern(_)))
        .map(|p| p.name.as_str())
        .collect();
    let mut errors = Errors::default();
    for skip in skips {
        let skip_name = skip.unraw().to_string();
        if !names.contains(&skip_name.as_str()) {
            let accepted = if names.is_empty() {
                "it has no named arguments".to_owned()
            } else {
                format!(
                    "`skip` takes argument names: {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let err = syn::Error::new(
                skip.span(),
                format!(
                    "`{skip_name}` is not an argument of `{}`; {accepted}",
                    sig.ident
                ),
            );
            errors.push(err);
        }
    }
    errors.check()
}

/// Arguments whose values the start event records: not skipped, not shadowed by a field of
/// the same name, recorded by the span of a `#[tracing::instrument]` on the same fn if there is
/// one, and with a binding to format.
fn recorded_params<'a>(
    args: &Args,
    params: &'a [Param],
    span: Option<&SpanArgs>,
) -> Vec<&'a Param> {
    if args.skip_all.is_some() {
        return Vec::new();
    }
    let skipped = |p: &Param| {
        args.skip
            .iter()
            .flatten()
            .any(|s| s.unraw() == p.name.as_str())
            || args.fields.iter().flatten().any(|f| f.name == p.name)
    };
    params
        .iter()
        .filter(|p| p.binding.is_some() && !skipped(p))
        .filter(|p| span.is_none_or(|span| span.records(&p.name)))
        .collect()
}

/// The per-fn `static CallSite` and the emitter of its start/finish events.
fn callsite(args: &Args, sig: &Signature, recorded: &[&Param], krate: &TokenStream) -> TokenStream {
    let name = args
        .name
        .as_ref()
        .map_or_else(|| sig.ident.unraw().to_string(), syn::LitStr::value);
    let slow = args.slow_nanos.unwrap_or(0);
    let level = args
        .level
        .clone()
        .unwrap_or_else(|| Ident::new("INFO", Span::call_site()));
    let target = match &args.target {
        Some(t) => t.to_token_stream(),
        None => quote!(#krate::targets::TIMED),
    };
    let names = recorded
        .iter()
        .map(|p| p.name.clone())
        .chain(args.fields.iter().flatten().map(|f| f.name.clone()));
    let entries = names.enumerate().map(|(i, n)| quote!(#i => #n));
    let line = quote_spanned!(sig.ident.span()=> ::core::line!());
    // Without `name = "…"`, the name is where the fn is: `Get::apply` for a method, found once
    // per call site from `type_name` of a type defined in it (the macro cannot see the impl).
    // The marker is an item of the fn's own body (not of the `static`'s initializer, which
    // would add the static's name to its path).
    let (scope_items, scope) = if args.name.is_none() {
        (
            quote! {
                #[allow(dead_code)]
                struct __PollwatchScope;
                fn __pollwatch_scope() -> &'static str {
                    ::core::any::type_name::<__PollwatchScope>()
                }
            },
            Some(quote!(.in_scope(__pollwatch_scope))),
        )
    } else {
        (TokenStream::new(), None)
    };
    let cancelled = args
        .cancelled
        .as_ref()
        .map(|level| quote!(.cancelled_at(#krate::__private::Level::#level)));
    let max_len = args.max_value_len.map(|n| quote!(.max_value_len(#n)));
    quote! {
        #scope_items
        static __POLLWATCH_CALLSITE: #krate::__private::CallSite = #krate::__private::CallSite::new(
            #name,
            ::core::module_path!(),
            ::core::file!(),
            #line,
            #slow,
            __pollwatch_emit,
        ) #scope #cancelled #max_len;
        fn __pollwatch_emit(
            __pollwatch_cs: &'static #krate::__private::CallSite,
            __pollwatch_event: #krate::__private::Emit<'_>,
        ) -> bool {
            #krate::__private::emit_timed!(
                target: #target,
                level: #krate::__private::tracing::Level::#level,
                callsite: __pollwatch_cs,
                event: __pollwatch_event,
                values: [#(#entries),*],
            )
        }
    }
}

/// Formats one value into `out` according to `fmt`.
fn capture(
    fmt: Fmt,
    value: TokenStream,
    span: Span,
    out: &Ident,
    krate: &TokenStream,
) -> TokenStream {
    match fmt {
        Fmt::Auto => quote_spanned!(span=>
            (&&&#krate::__private::Wrap(&#value)).__pollwatch_auto(&mut #out);),
        Fmt::Debug => quote_spanned!(span=>
            (&&#krate::__private::Wrap(&#value)).__pollwatch_debug(&mut #out);),
        Fmt::Display => quote_spanned!(span=> #out.display(&#value);),
    }
}

fn capture_values(args: &Args, recorded: &[&Param], krate: &TokenStream) -> TokenStream {
    let out = Ident::new("__pollwatch_v", Span::call_site());
    let mut captures = Vec::new();
    for p in recorded {
        let binding = p.binding.clone().unwrap_or_default();
        captures.push(capture(Fmt::Debug, binding, Span::call_site(), &out, krate));
    }
    let fields = args.fields.iter().flatten().collect::<Vec<_>>();
    if !fields.is_empty() {
        captures.push(quote!(#out.fields_follow();));
    }
    for f in fields {
        let value = &f.value;
        captures.push(capture(
            f.fmt,
            quote!((#value)),
            f.value.span(),
            &out,
            krate,
        ));
    }
    let n = recorded.len() + args.fields.iter().flatten().count();
    let mutability = (n > 0).then(|| quote!(mut));
    quote! {
        let __pollwatch_values = if #krate::__private::enabled(&__POLLWATCH_CALLSITE) {
            #[allow(unused_imports)]
            use #krate::__private::{AutoDebug as _, AutoDisplay as _, AutoOpaque as _};
            let #mutability #out = #krate::__private::values_for(&__POLLWATCH_CALLSITE, #n);
            #(#captures)*
            ::core::option::Option::Some(#out)
        } else {
            ::core::option::Option::None
        };
    }
}

/// `timed(…, fut)`, or `timed_with(…, fut, recorder)` when `ret` / `err` ask for the output.
fn wrap_future(args: &Args, fut: TokenStream, krate: &TokenStream) -> TokenStream {
    let cs = quote!(&__POLLWATCH_CALLSITE, __pollwatch_values);
    if args.ret.is_none() && args.err.is_none() {
        return quote!(#krate::__private::timed(#cs, #fut));
    }
    let out = Ident::new("__pollwatch_out", Span::call_site());
    let o = Ident::new("__pollwatch_o", Span::call_site());
    let ret_slot = Ident::new("__pollwatch_ret_v", Span::call_site());
    let err_slot = Ident::new("__pollwatch_err_v", Span::call_site());
    let on_ok = |v: TokenStream| match args.ret {
        Some(fmt) => {
            let c = capture(fmt, v, Span::call_site(), &ret_slot, krate);
            quote!({ let mut #ret_slot = #krate::__private::output_values(&__POLLWATCH_CALLSITE); #c #o.ret = #ret_slot; })
        }
        None => quote!({}),
    };
    let record = match args.err {
        None => on_ok(quote!(#out)),
        Some(fmt) => {
            let e = Ident::new("__pollwatch_e", Span::call_site());
            let v = Ident::new("__pollwatch_ok", Span::call_site());
            let c = capture(fmt, quote!(#e), Span::call_site(), &err_slot, krate);
            let ok = on_ok(quote!(#v));
            quote! {
                match #out {
                    ::core::result::Result::Ok(#v) => { let _ = &#v; #ok }
                    ::core::result::Result::Err(#e) => {
                        let mut #err_slot = #krate::__private::output_values(&__POLLWATCH_CALLSITE);
                        #c
                        #o.err = #err_slot;
                    }
                }
            }
        }
    };
    quote! {
        #krate::__private::timed_with(#cs, #fut, |#out| {
            #[allow(unused_imports)]
            use #krate::__private::{AutoDebug as _, AutoDisplay as _, AutoOpaque as _};
            #[allow(unused_mut)]
            let mut #o = #krate::__private::Outcome::default();
            #record
            #o
        })
    }
}

/// `impl Trait` cannot be written in a `let` or a turbofish; `_` can.
struct ImplTraitToInfer;
impl VisitMut for ImplTraitToInfer {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(it) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](it.impl_token.span),
            });
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

fn output_type(sig: &Signature) -> TokenStream {
    match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    }
}

/// `async move { <rebind params>; <body> }` with its output type pinned to the fn's (so `?` and
/// `return` infer as they do in the original `async fn`).
fn async_block(item: &ItemFn, rebinds: &[TokenStream]) -> TokenStream {
    let mut annot = match &item.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    ImplTraitToInfer.visit_type_mut(&mut annot);
    let body = &item.body;
    let span = item.brace.span.join();
    quote_spanned! {span=>
        async move {
            if let ::core::option::Option::Some(__pollwatch_ret) =
                ::core::option::Option::None::<#annot>
            {
                #[allow(unreachable_code)]
                return __pollwatch_ret;
            }
            #(#rebinds)*
            // A body that only panics (a `#[should_panic]` test) must not trip lints in users' code.
            #[allow(clippy::diverging_sub_expression)]
            let __pollwatch_ret: #annot = { #body };
            #[allow(unreachable_code)]
            __pollwatch_ret
        }
    }
}

fn desugar(
    item: &ItemFn,
    params: &[Param],
    callsite: &TokenStream,
    values: &TokenStream,
    wrap: impl Fn(TokenStream) -> TokenStream,
) -> TokenStream {
    let mut sig = item.sig.clone();
    sig.asyncness = None;
    let mut rebinds = Vec::new();
    for (i, (arg, p)) in sig.inputs.iter_mut().zip(params).enumerate() {
        match (&p.kind, arg) {
            // Any use moves `self` into the future, as `async fn` does.
            (ParamKind::Receiver, _) => rebinds.push(quote!(let _ = &self;)),
            (ParamKind::Ident { ident, mutability }, FnArg::Typed(pt)) => {
                if let Pat::Ident(pi) = &mut *pt.pat {
                    pi.mutability = None;
                }
                rebinds.push(quote!(let #mutability #ident = #ident;));
            }
            (ParamKind::Pattern(pat), FnArg::Typed(pt)) => {
                let name = arg_ident(i);
                *pt.pat = syn::parse_quote!(#name);
                // `let _ = x;` would not move `x` in; keep a named binding for `_`.
                rebinds.push(match &**pat {
                    Pat::Wild(_) => quote!(let #name = #name;),
                    pat => quote!(let #pat = #name;),
                });
            }
            _ => {}
        }
    }
    let output = output_type(&item.sig);
    sig.output = syn::parse_quote!(-> impl ::core::future::Future<Output = #output>);
    let timed = wrap(async_block(item, &rebinds));
    let body = quote! { #callsite #values #timed };
    let desugared = emit_fn(item, &sig, true, body);
    // rustdoc shows the `async fn` the user wrote.
    quote! {
        #[cfg(doc)]
        #item
        #[cfg(not(doc))]
        #desugared
    }
}

fn emit_fn(item: &ItemFn, sig: &Signature, track_caller: bool, body: TokenStream) -> TokenStream {
    let attrs = &item.outer_attrs;
    let inner_attrs = &item.inner_attrs;
    let vis = &item.vis;
    let has_track_caller = attrs.iter().any(|a| a.path().is_ident("track_caller"));
    let track_caller = (track_caller && !has_track_caller).then(|| quote!(#[track_caller]));
    quote! {
        #(#attrs)*
        #track_caller
        #vis #sig {
            #(#inner_attrs)*
            #body
        }
    }
}
