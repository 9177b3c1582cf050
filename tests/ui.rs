//! Every error message of the macros, as trybuild snapshots (`TRYBUILD=overwrite` to bless).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    // `#[pollwatch::main]` exists with the `tokio` feature only.
    if cfg!(feature = "tokio") {
        t.compile_fail("tests/ui-tokio/*.rs");
    }
}
