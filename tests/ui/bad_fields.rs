use pollwatch::async_timed;

#[async_timed(fields(user))]
async fn f() {}

fn main() {}
