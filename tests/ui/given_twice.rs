use pollwatch::async_timed;

#[async_timed(level = "debug", level = "info", ret, ret)]
async fn f() -> u8 { 1 }

fn main() {}
