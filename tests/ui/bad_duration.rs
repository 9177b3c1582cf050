use pollwatch::async_timed;

#[async_timed(slow = "20xs")]
async fn f() {}

#[async_timed(slow = "0ms")]
async fn g() {}

#[async_timed(slow = 20)]
async fn h() {}

fn main() {}
