use pollwatch::async_timed;

#[async_timed(level = "verbose")]
async fn f() {}

#[async_timed(level = Level::LOUD)]
async fn g() {}

fn main() {}
