use pollwatch::async_timed;

#[async_timed(lvl = "debug")]
async fn f() {}

fn main() {}
