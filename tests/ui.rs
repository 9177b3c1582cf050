//! Every error message of `#[async_timed]`, as trybuild snapshots (`TRYBUILD=overwrite` to bless).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
