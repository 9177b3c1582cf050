use pollwatch::async_timed;

#[async_timed(cancelled = "loud")]
async fn a() {}

#[async_timed(max_value_len = 0)]
async fn b() {}

#[async_timed(max_value_len = "64", cancelled = warn, cancelled = debug)]
async fn c() {}

fn main() {}
