use pollwatch::async_timed;

#[async_timed(crate = "not a path")]
async fn f() {}

fn main() {}
