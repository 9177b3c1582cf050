use pollwatch::async_timed;

#[async_timed(skip_all, skip(a))]
async fn f(a: u8) {}

fn main() {}
